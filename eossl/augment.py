"""Multi-band augmentation recipes, built from kornia, run batched on the device.

Only operations valid for any number of bands and for standardised data are
offered: resized crop, flips and rot90, brightness (additive) and contrast
(multiplicative) without clipping, a small per-band gain and offset (the size of
an atmospheric correction: the spectral signature keeps its shape), band-weighted
grayscale, Gaussian blur and noise, band dropout. No RGB colour jitter; no solarize.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import kornia.augmentation as K
import torch
from torch import Tensor, nn

from eossl.errors import UserError

__all__ = [
    "AugmentRecipe",
    "LevelJitter",
    "MultiBandAugment",
    "RandomBandGain",
    "moco_recipe",
    "seco_recipe",
]


@dataclass
class AugmentRecipe:
    """Every operation and probability of a view augmentation (all overridable in YAML).

    Probabilities are per sample; 0 switches an operation off. ``crop_size`` is the
    size of the views the model sees: a random resized crop (``crop_scale`` of the
    area) of whatever the loader delivers. The loader's own ``data.crop_size`` acts
    first: the window read from the store. Neither overrides the other; keep
    ``data.crop_size`` (when set) at least ``crop_size``, or views are upsampled.
    """

    crop_size: int = 224
    crop_scale: tuple[float, float] = (0.2, 1.0)
    hflip: float = 0.5
    vflip: float = 0.5
    rot90: float = 0.0
    brightness: float = 0.4  # additive shift, in std units, drawn from [-b, b]
    contrast: float = 0.4  # gain drawn from [1 - c, 1 + c]
    intensity_p: float = 0.8
    band_gain: float = 0.0  # per-band gain drawn from [1 - g, 1 + g]
    band_offset: float = 0.0  # per-band shift, in std units, drawn from [-o, o]
    band_p: float = 0.8
    grayscale: float = 0.2
    grayscale_weights: list[float] | None = None  # per band; equal weights if None
    blur: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    noise: float = 0.0
    noise_std: float = 0.05
    band_dropout: float = 0.0
    band_dropout_bands: int = 1

    def __post_init__(self) -> None:
        flag = "--model.init_args.augment"
        check_crop(self.crop_size, self.crop_scale, f"{flag}.crop_size", f"{flag}.crop_scale")
        for name in PROBABILITIES:
            p = getattr(self, name)
            if isinstance(p, (int, float)) and not 0 <= p <= 1:
                raise UserError(f"{flag}.{name} {p}: a probability, from 0 to 1")
        for name in ("brightness", "contrast", "band_gain", "band_offset", "noise_std"):
            value = getattr(self, name)
            if isinstance(value, (int, float)) and value < 0:
                raise UserError(f"{flag}.{name} {value}: the half-width of a range, 0 or more")


PROBABILITIES = (  # the fields of AugmentRecipe that are the chance of an operation
    *("hflip", "vflip", "rot90", "intensity_p", "band_p"),
    *("grayscale", "blur", "noise", "band_dropout"),
)


def check_crop(size: int, scale: tuple[float, float], size_flag: str, scale_flag: str) -> None:
    """One line, naming the flag, for a crop size under 1 px or an area range outside (0, 1]."""
    if isinstance(size, int) and size < 1:
        raise UserError(f"{size_flag} must be at least 1 px, got {size}")
    low, high = scale
    if not 0 < low <= high <= 1:
        raise UserError(
            f"{scale_flag} must be [low, high] with 0 < low <= high <= 1, got {list(scale)}"
        )


def moco_recipe(crop_size: int = 224) -> AugmentRecipe:
    """The SSL4EO-S12 MoCo-v2 recipe (TorchGeo's ``moco_augmentations`` v2, multi-band)."""
    return AugmentRecipe(crop_size=crop_size)


def seco_recipe(crop_size: int = 224) -> AugmentRecipe:
    """SeCo's recipe (Mañas et al. 2021): crop, jitter, grayscale, blur, horizontal flip."""
    return AugmentRecipe(crop_size=crop_size, vflip=0.0, blur=0.5, grayscale=0.2, intensity_p=0.8)


class RandomBandGain(K.IntensityAugmentationBase2D):
    """Per-sample, per-band ``x * gain + offset``: a spectral jitter that keeps the signature.

    Gains are drawn from ``[1 - gain, 1 + gain]`` and offsets from ``[-offset, offset]``
    (std units of standardised data), independently for every band; no clipping.
    """

    def __init__(self, gain: float, offset: float, num_bands: int, p: float = 0.8) -> None:
        super().__init__(p=p)
        self.gain, self.offset, self.num_bands = gain, offset, num_bands

    def generate_parameters(self, batch_shape: tuple[int, ...]) -> dict[str, Tensor]:
        """One gain and one offset per sample and band."""
        shape = (batch_shape[0], self.num_bands)
        gain = 1 + (torch.rand(shape) * 2 - 1) * self.gain
        return {"gain": gain, "offset": (torch.rand(shape) * 2 - 1) * self.offset}

    def apply_transform(self, input, params, flags, transform=None) -> Tensor:  # noqa: D102
        gain = params["gain"].to(input)[..., None, None]
        return input * gain + params["offset"].to(input)[..., None, None]


class LevelJitter(nn.Module):
    """Each image moved toward another processing level by a random share of their difference.

    ``shift`` is, per band, how far the other level's mean lies (in the units of the
    images: std units of standardised data), e.g. the atmosphere's path radiance that
    separates Sentinel-2 L1C from L2A. Every image of a (..., C, H, W) batch gets
    ``x + a * shift`` with its own ``a`` drawn from ``[0, max_share]``: views of one place
    at both levels, and hazier or clearer than the mean, so features learn to ignore it.
    Filled pixels (nodata and NaN, 0 in every band after normalisation) stay filled.
    """

    def __init__(self, shift: Tensor, max_share: float = 1.5) -> None:
        super().__init__()
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32))
        self.max_share = max_share

    def forward(self, x: Tensor) -> Tensor:
        """Shifted ``x`` (..., C, H, W)."""
        share = torch.rand(*x.shape[:-3], 1, 1, 1, device=x.device, dtype=x.dtype)
        moved = x + share * self.max_share * self.shift.to(x).view(-1, 1, 1)
        return torch.where((x == 0).all(dim=-3, keepdim=True), x, moved)

    def extra_repr(self) -> str:
        return f"max_share={self.max_share}"


class MultiBandAugment(nn.Module):
    """An :class:`AugmentRecipe` applied to a batch, with kornia.

    Input (B, C, H, W) standardised images; output (B, C, crop, crop).

    ``forward`` draws the recipe's operations per sample, as the kornia
    ``AugmentationSequential`` in ``self.pipeline`` does, in fewer passes over the
    batch: flips and rot90 are folded into the resized crop (its box corners are
    permuted, so one bilinear warp gives the flipped or rotated crop), brightness and
    contrast are one per-sample affine ``(x + b) * c``, and grayscale and blur touch
    only the samples drawn for them. ``self.pipeline`` stays for methods that replay
    parameters (SeCo, temporal MAE).
    """

    def __init__(self, recipe: AugmentRecipe, num_bands: int) -> None:
        super().__init__()
        self.recipe = recipe
        r = recipe
        size = (r.crop_size, r.crop_size)
        ops: list[nn.Module] = [K.RandomResizedCrop(size, scale=r.crop_scale)]
        if r.hflip:
            ops.append(K.RandomHorizontalFlip(p=r.hflip))
        if r.vflip:
            ops.append(K.RandomVerticalFlip(p=r.vflip))
        if r.rot90:
            ops.append(K.RandomRotation90(times=(1, 3), p=r.rot90))
        if r.brightness and r.intensity_p:
            # kornia's brightness adds (factor - 1); on standardised data that is an offset in std
            ops.append(
                K.RandomBrightness(
                    (1 - r.brightness, 1 + r.brightness), clip_output=False, p=r.intensity_p
                )
            )
        if r.contrast and r.intensity_p:
            ops.append(
                K.RandomContrast(
                    (1 - r.contrast, 1 + r.contrast), clip_output=False, p=r.intensity_p
                )
            )
        if (r.band_gain or r.band_offset) and r.band_p:
            ops.append(RandomBandGain(r.band_gain, r.band_offset, num_bands, p=r.band_p))
        if r.grayscale:
            weights = r.grayscale_weights or [1.0 / num_bands] * num_bands
            if len(weights) != num_bands:
                raise ValueError(
                    f"grayscale_weights has {len(weights)} values for {num_bands} bands"
                )
            ops.append(K.RandomGrayscale(rgb_weights=torch.tensor(weights), p=r.grayscale))
        if r.blur:
            ks = max(3, r.crop_size // 10 // 2 * 2 + 1)
            ops.append(K.RandomGaussianBlur((ks, ks), r.blur_sigma, p=r.blur))
        if r.noise:
            ops.append(K.RandomGaussianNoise(std=r.noise_std, p=r.noise))
        if r.band_dropout:
            if not 1 <= r.band_dropout_bands < num_bands:
                raise ValueError(
                    f"band_dropout_bands {r.band_dropout_bands}: drop 1 to {num_bands - 1} of "
                    f"the {num_bands} bands"
                )
            ops.append(
                K.RandomChannelDropout(
                    num_drop_channels=r.band_dropout_bands, fill_value=0.0, p=r.band_dropout
                )
            )
        self.pipeline = K.AugmentationSequential(*ops, data_keys=["input"])
        self.crop = ops[0]
        self.band_jitter = next((op for op in ops if isinstance(op, RandomBandGain)), None)
        self.blur_size = ks if r.blur else 0
        gray = torch.tensor(r.grayscale_weights or [1.0 / num_bands] * num_bands)
        self.register_buffer("gray_weights", gray.view(1, -1, 1, 1), persistent=False)
        tail = [op for op in ops if isinstance(op, K.RandomGaussianNoise | K.RandomChannelDropout)]
        self.tail = K.AugmentationSequential(*tail, data_keys=["input"]) if tail else None

    def forward(self, x: Tensor) -> Tensor:
        """Augment a batch of (B, C, H, W) images."""
        return self.transform(x)[0]

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Augmented views and their (B, 4, 2) crop boxes.

        A box holds the source (x, y) of its view's top-left, top-right, bottom-right and
        bottom-left pixels (flips and rotations permute them): where every pixel comes from.
        """
        from kornia.filters import gaussian_blur2d
        from kornia.geometry.transform import crop_and_resize

        r, n, dev = self.recipe, x.shape[0], x.device

        def drawn(p: float) -> Tensor:
            return torch.rand(n, device=dev) < p

        box = self.crop.forward_parameters(x.shape)["src"].to(dev, x.dtype)  # tl tr br bl
        if r.hflip:
            box = torch.where(drawn(r.hflip)[:, None, None], box[:, [1, 0, 3, 2]], box)
        if r.vflip:
            box = torch.where(drawn(r.vflip)[:, None, None], box[:, [3, 2, 1, 0]], box)
        if r.rot90:
            k = torch.randint(1, 4, (n,), device=dev) * drawn(r.rot90)
            order = (torch.arange(4, device=dev)[None] + k[:, None]) % 4
            box = torch.gather(box, 1, order[..., None].expand(-1, -1, 2))
        size = (r.crop_size, r.crop_size)
        out = crop_and_resize(x, box, size, mode="bilinear", align_corners=True)
        if r.intensity_p and (r.brightness or r.contrast):
            shape = (n, 1, 1, 1)
            add = torch.zeros(shape, device=dev, dtype=x.dtype)
            mul = torch.ones(shape, device=dev, dtype=x.dtype)
            if r.brightness:
                shift = torch.empty_like(add).uniform_(-r.brightness, r.brightness)
                add = torch.where(drawn(r.intensity_p).view(shape), shift, add)
            if r.contrast:
                gain = torch.empty_like(mul).uniform_(1 - r.contrast, 1 + r.contrast)
                mul = torch.where(drawn(r.intensity_p).view(shape), gain, mul)
            out.mul_(mul).add_(add * mul)
        if self.band_jitter is not None:
            out = self.band_jitter(out)
        if r.grayscale and (idx := drawn(r.grayscale).nonzero().squeeze(1)).numel():
            gray = (out[idx] * self.gray_weights.to(out.dtype)).sum(1, keepdim=True)
            out[idx] = gray.expand(-1, out.shape[1], -1, -1)
        if r.blur and (idx := drawn(r.blur).nonzero().squeeze(1)).numel():
            sigma = torch.empty(len(idx), 1, device=dev).uniform_(*r.blur_sigma)
            ks = (self.blur_size, self.blur_size)
            out[idx] = gaussian_blur2d(out[idx], ks, sigma.expand(-1, 2).to(out.dtype))
        return (self.tail(out) if self.tail is not None else out), box

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in asdict(self.recipe).items())
