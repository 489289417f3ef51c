"""Per-band normalisation: where the statistics come from, and how they are applied.

Statistics are taken, in this order, from the store's ``stats`` attribute (written
by ``eossl stats`` or ``eossl synth``), else from the sensor card's release,
shifted by the difference between the release's DN offset and the store's. So
the SSL4EO-S12 v1.1 statistics (which carry +1000 DN) are applied correctly to
data without that offset, and normalisation always matches pretraining.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from eossl.data.io.schema import StoreInfo
from eossl.errors import UserError, finite_number
from eossl.sensors import Sensor

__all__ = [
    "BandNormalize",
    "BandStats",
    "StackNormalize",
    "data_offset",
    "pooled_stats",
    "resolve_stats",
    "stack_stats",
]


@dataclass(frozen=True)
class BandStats:
    """Per-band mean and std in stored units, and where they came from."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    offset: float  # DN offset of the data these apply to
    source: str


def data_offset(info: StoreInfo, sensor: Sensor | None, release: str | None = None) -> float:
    """The DN offset of a store's values: its ``offset`` attribute, else 0.

    A store that records neither an offset nor a release, and is given none (e.g. the
    released v1.1 archive), is taken to be in the sensor's default release, offset
    included.
    """
    attrs = info.attrs
    named = release or attrs.get("release")
    if "offset" in attrs or named or sensor is None or not sensor.default_release:
        return float(attrs.get("offset", 0.0) or 0.0)
    return float(sensor.release().offset)


def resolve_stats(info: StoreInfo, sensor: Sensor | None, release: str | None = None) -> BandStats:
    """Normalisation statistics for a store (see the module docstring for the order)."""
    attrs = info.attrs
    offset = _number(attrs.get("offset", 0.0) or 0.0, info, "offset")
    stats = attrs.get("stats")
    if release is None and isinstance(stats, dict) and "mean" in stats and "std" in stats:
        count = stats.get("count")
        if isinstance(count, list) and count and not any(count):
            raise UserError(
                f"{info.path}: its stats counted no valid pixel (all nodata or NaN); "
                "nothing to train on: check the data"
            )
        mean, std = _numbers(stats["mean"], info, "mean"), _numbers(stats["std"], info, "std")
        if len(mean) != info.bands or len(std) != info.bands:
            raise UserError(
                f"{info.path}: stats hold {len(mean)} values for {info.bands} bands; "
                "recompute them with `eossl stats`"
            )
        return BandStats(tuple(mean), tuple(std), offset, f"store stats ({info.path.name})")
    if sensor is None:
        raise UserError(
            f"{info.path}: no stats in the store and no sensor to take them from; "
            "pass --sensor or run `eossl stats` on the store"
        )
    rel_name = release or attrs.get("release")
    if release is None and rel_name is not None and rel_name not in sensor.releases:
        raise UserError(
            f"{info.path}: no stats in the store, and its release {rel_name!r} is not one "
            f"{sensor.name} publishes statistics for; run `eossl stats {info.path}` first"
        )
    offset = data_offset(info, sensor, release)
    rel = sensor.release(rel_name)
    mean_std = rel.mean_std(data_offset=offset)
    if mean_std is None:
        raise UserError(
            f"{info.path}: release {rel.name!r} of {sensor.name} publishes no "
            "mean/std; run `eossl stats` on the store"
        )
    mean, std = mean_std
    return BandStats(
        tuple(mean.tolist()),
        tuple(std.tolist()),
        offset,
        f"{sensor.name} card, release {rel.name}",
    )


def _number(value: object, info: StoreInfo, what: str) -> float:
    """A finite number from a store's attributes, or one line naming it."""
    if finite_number(value):
        return float(value)
    raise UserError(
        f"{info.path}: its {what} attribute is {value!r:.60}, not a finite number; recompute "
        "the stats with `eossl stats` (or convert the store again)"
    )


def _numbers(values: object, info: StoreInfo, what: str) -> list[float]:
    """A list of finite numbers from a store's ``stats`` (std: above 0), or one line."""
    if not isinstance(values, list):
        raise UserError(
            f"{info.path}: its stats {what} is {values!r:.60}, not a list; recompute them "
            "with `eossl stats`"
        )
    if None in values:
        raise UserError(
            f"{info.path}: its stats hold no {what} for band {values.index(None) + 1} (no "
            "valid pixel there); leave the band out, or check the data"
        )
    numbers = [_number(v, info, f"stats {what}") for v in values]
    if what == "std" and not all(v > 0 for v in numbers):
        kind = "a constant band (or damaged stats)" if min(numbers) == 0 else "damaged stats"
        raise UserError(
            f"{info.path}: its stats std holds {min(numbers):g}, {kind}; recompute them with "
            "`eossl stats`, or check the data"
        )
    return numbers


def stats_state(info: StoreInfo) -> str:
    """``yes``, ``no`` or ``damaged (why)``: whether a store's own statistics can normalise."""
    stats = info.attrs.get("stats")
    if stats is None:
        return "no"
    if not isinstance(stats, dict):
        return f"damaged (not an object: {stats!r:.40})"
    try:
        for what in ("mean", "std"):
            values = _numbers(stats.get(what), info, what)
            if len(values) != info.bands:
                return f"damaged ({what} holds {len(values)} values for {info.bands} bands)"
    except UserError as err:
        return f"damaged ({str(err).removeprefix(f'{info.path}: ').split(';')[0]})"
    return "yes"


def pooled_stats(
    infos: list[StoreInfo], sensor: Sensor | None, release: str | None = None
) -> BandStats:
    """One normalisation for stores read together: their statistics pooled.

    Stores whose statistics agree (one ``eossl stats`` over their folder, or one card
    release) give those; stores with their own give each band's mean and std over all
    their pixels, each store weighted by its valid-pixel count (its sample count where
    its stats record none). Stores of different DN offsets are refused: one
    normalisation cannot serve both.
    """
    each = [resolve_stats(i, sensor, release) for i in infos]
    first = each[0]
    if all((s.mean, s.std, s.offset) == (first.mean, first.std, first.offset) for s in each):
        return first
    for info, st in zip(infos, each, strict=True):
        if st.offset != first.offset:
            raise UserError(
                f"{info.path}: values offset by {st.offset:g} DN, {infos[0].path} by "
                f"{first.offset:g}; one run normalises them alike: convert both the same way"
            )
    weights = np.stack([_pixel_weights(i) for i in infos])  # (stores, bands)
    means, stds = np.asarray([s.mean for s in each]), np.asarray([s.std for s in each])
    w = weights / np.maximum(weights.sum(0), 1.0)
    mean = (w * means).sum(0)
    std = np.sqrt((w * (stds**2 + (means - mean) ** 2)).sum(0))
    return BandStats(
        tuple(mean.tolist()),
        tuple(std.tolist()),
        first.offset,
        f"pooled stats of {len(infos)} stores",
    )


def _pixel_weights(info: StoreInfo) -> np.ndarray:
    """Per band, the valid pixels a store's stats counted, else its sample count."""
    stats = info.attrs.get("stats")
    count = stats.get("count") if isinstance(stats, dict) else None
    if isinstance(count, list) and len(count) == info.bands:
        return np.asarray(count, dtype=np.float64)
    return np.full(info.bands, float(info.samples * info.times * info.height * info.width))


def stack_stats(stats: list[BandStats]) -> BandStats:
    """The statistics of several sensors' bands stacked as channels.

    Each sensor's DN offset is folded into its means, so the stack's offset is 0:
    ``(x + offset - mean) / std`` equals ``(x - (mean - offset)) / std``.
    """
    mean = tuple(m - s.offset for s in stats for m in s.mean)
    return BandStats(
        mean, tuple(v for s in stats for v in s.std), 0.0, "; ".join(s.source for s in stats)
    )


class BandNormalize(nn.Module):
    """Standardise bands on the device, filling NaN, inf and nodata with the mean (0).

    Works on (..., C, H, W) tensors: batches of single images or of season stacks.
    A pixel is nodata when every band equals ``nodata``.
    """

    def __init__(
        self,
        mean: list[float] | tuple[float, ...],
        std: list[float] | tuple[float, ...],
        nodata: float | None = None,
    ) -> None:
        super().__init__()
        std_t = torch.as_tensor(np.asarray(std, dtype=np.float32))
        if (std_t <= 0).any():
            raise UserError(f"normalisation std must be positive, got {std_t.tolist()}")
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("std", std_t)
        self.nodata = nodata

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` of shape (..., C, H, W)."""
        shape = (-1, 1, 1)
        invalid = ~torch.isfinite(x)
        if self.nodata is not None:
            invalid |= (x == self.nodata).all(dim=-3, keepdim=True)
        out = (x.float() - self.mean.view(shape)) / self.std.view(shape)
        return out.masked_fill(invalid, 0.0)


class StackNormalize(nn.Module):
    """Normalise each sensor's images with its own statistics, then stack them as channels.

    Takes a dict ``{sensor: (..., C_s, H, W)}`` and returns (..., sum C_s, H, W) in
    the order the normalisers were given.
    """

    def __init__(self, parts: dict[str, BandNormalize]) -> None:
        super().__init__()
        self.order = list(parts)
        self.parts = nn.ModuleList(parts.values())

    def forward(self, images: dict[str, Tensor]) -> Tensor:
        """Normalised and stacked along the band dimension."""
        return torch.cat(
            [norm(images[name]) for name, norm in zip(self.order, self.parts, strict=True)],
            dim=-3,
        )
