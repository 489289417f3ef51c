"""Measure proposed speed-ups against the current code, alternately, in one process.

    python benchmarks/proposals.py [loader|augment|train|all] [--quick]

Each proposal is a local subclass or function here (nothing in eossl is patched);
the same changes, as diffs, are in benchmarks/patches/ (see benchmarks/README.md).
Proposals 1-3 (gathered basic selections, stored dtype, no cloud mask) are in
eossl since f073659; the loader compares the direct chunk reads (patch 2) with it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import zarr

from eossl import bench
from eossl.data.dataset import SeasonalZarrDataset
from eossl.methods.moco import MoCo


def read_times(array: zarr.Array, j: int, times: Sequence[int], *rest: Any) -> np.ndarray:
    """``array[j, times, *rest]``: one basic selection per time step, gathered concurrently.

    zarr 3's orthogonal selection (``oindex``) with an index array is resolved point
    by point inside a shard, about 10x slower than basic selections of whole chunks.
    """
    from zarr.core.sync import sync

    aa = array.async_array

    async def gather() -> list[Any]:
        return await asyncio.gather(*(aa.getitem((j, int(t), *rest)) for t in times))

    return np.stack(sync(gather()))


class GatherDataset(SeasonalZarrDataset):
    """Proposal 1 (+2 with ``keep_dtype``): basic selections gathered; stored dtype out."""

    keep_dtype = False
    masks = True

    def _read(self, index: int) -> dict[str, Any]:
        store, j = self.locate(index)
        handle = self._handle(store)
        rng = self._rng(index)
        t = self._choose_times(handle, j, rng)
        _, _, _, h, w = handle.bands.shape
        ys, xs = slice(0, h), slice(0, w)
        if self.crop_size is not None:
            y0 = int(rng.integers(0, h - self.crop_size + 1))
            x0 = int(rng.integers(0, w - self.crop_size + 1))
            ys, xs = slice(y0, y0 + self.crop_size), slice(x0, x0 + self.crop_size)
        image = self._read_bands(store, handle, j, t, ys, xs)
        if not self.keep_dtype:
            image = image.astype(np.float32)
        sample: dict[str, Any] = {
            "image": torch.from_numpy(image),
            "time": torch.from_numpy(handle.times[j, t].astype("int64")),
            "lat": torch.tensor(float(handle.lat[j])),
            "lon": torch.tensor(float(handle.lon[j])),
            "index": torch.tensor(index),
        }
        if handle.cloud_mask is not None and self.masks:
            sample["cloud_mask"] = torch.from_numpy(read_times(handle.cloud_mask, j, t, ys, xs))
        if handle.label is not None:
            sample["label"] = torch.from_numpy(handle.label[j, ys, xs].astype(np.int64))
        return sample

    def _read_bands(self, store: int, handle: Any, j: int, t: Any, ys: slice, xs: slice):
        return read_times(handle.bands, j, t, slice(None), ys, xs)


class GatherUint16Dataset(GatherDataset):
    """Proposal 2: also return the stored dtype; the datamodule converts on the device."""

    keep_dtype = True


class NoMaskDataset(GatherUint16Dataset):
    """Proposal 3: read the cloud mask only when asked (pretraining does not use it)."""

    masks = False


class DirectDataset(NoMaskDataset):
    """Proposal 4: eossl-written stores (zarr 3, one chunk per (sample, time), sharded,
    zstd, a directory) are read without zarr: the shard index once per shard and
    process, then pread + zstd decode of the wanted chunks straight into the output.
    Anything else falls back to the zarr path."""

    def _read_bands(self, store: int, handle: Any, j: int, t: Any, ys: slice, xs: slice):
        readers = self.__dict__.setdefault("_raw", {})
        if readers.get("pid") != os.getpid():
            readers.clear()
            readers["pid"] = os.getpid()
        if store not in readers:
            try:
                readers[store] = bench.RawChunks(self.stores[store].path)
            except (ValueError, OSError, KeyError):
                readers[store] = None
        raw = readers[store]
        if raw is None:
            return super()._read_bands(store, handle, j, t, ys, xs)
        image = raw.read(j, t)
        full = ys == slice(0, image.shape[-2]) and xs == slice(0, image.shape[-1])
        return image if full else np.ascontiguousarray(image[..., ys, xs])


class FusedAugment(torch.nn.Module):
    """Proposal 5: the same recipe and distributions as ``MultiBandAugment``, in fewer passes.

    Flips and rot90 are folded into the resized crop (its box corners are permuted,
    so one bilinear warp yields the flipped/rotated crop); brightness and contrast
    become one per-sample affine ``(x + b) * c``; grayscale and blur run only on the
    samples drawn for them. Noise and band dropout (off in the MoCo recipe) use kornia.
    ``blur_truncate`` cuts the Gaussian kernel at that many sigma (None: the recipe's size).
    """

    def __init__(self, recipe: Any, num_bands: int, blur_truncate: float | None = None) -> None:
        import kornia.augmentation as K

        from eossl.augment import MultiBandAugment

        super().__init__()
        self.r = r = recipe
        self.crop = K.RandomResizedCrop((r.crop_size, r.crop_size), scale=r.crop_scale)
        weights = torch.tensor(r.grayscale_weights or [1.0 / num_bands] * num_bands)
        self.register_buffer("gray", weights.view(1, -1, 1, 1), persistent=False)
        ks = max(3, r.crop_size // 10 // 2 * 2 + 1)
        if blur_truncate is not None:
            ks = min(ks, 2 * int(np.ceil(blur_truncate * r.blur_sigma[1])) + 1)
        self.ks = ks
        self.rest = None
        if r.noise or r.band_dropout:  # kornia for the tail the MoCo recipe leaves off
            tail = ("RandomGaussianNoise", "RandomChannelDropout")
            ops = MultiBandAugment(r, num_bands).pipeline.children()
            ops = [op for op in ops if type(op).__name__ in tail]
            self.rest = K.AugmentationSequential(*ops, data_keys=["input"])

    def _draw(self, p: float, n: int, device: Any) -> torch.Tensor:
        return torch.rand(n, device=device) < p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from kornia.filters import gaussian_blur2d
        from kornia.geometry.transform import crop_and_resize

        r, n, dev = self.r, x.shape[0], x.device
        box = self.crop.forward_parameters(x.shape)["src"].to(dev, x.dtype)  # tl tr br bl
        if r.hflip:
            box = torch.where(
                self._draw(r.hflip, n, dev)[:, None, None], box[:, [1, 0, 3, 2]], box
            )
        if r.vflip:
            box = torch.where(
                self._draw(r.vflip, n, dev)[:, None, None], box[:, [3, 2, 1, 0]], box
            )
        if r.rot90:
            k = torch.randint(1, 4, (n,), device=dev) * self._draw(r.rot90, n, dev)
            order = (torch.arange(4, device=dev)[None] + k[:, None]) % 4
            box = torch.gather(box, 1, order[..., None].expand(-1, -1, 2))
        size = (r.crop_size, r.crop_size)
        out = crop_and_resize(x, box, size, mode="bilinear", align_corners=True)
        if r.intensity_p and (r.brightness or r.contrast):
            shape = (n, 1, 1, 1)
            add = torch.zeros(shape, device=dev, dtype=x.dtype)
            mul = torch.ones(shape, device=dev, dtype=x.dtype)
            if r.brightness:
                f = torch.empty(shape, device=dev).uniform_(-r.brightness, r.brightness)
                add = torch.where(self._draw(r.intensity_p, n, dev).view(shape), f, add)
            if r.contrast:
                f = torch.empty(shape, device=dev).uniform_(1 - r.contrast, 1 + r.contrast)
                mul = torch.where(self._draw(r.intensity_p, n, dev).view(shape), f, mul)
            out.mul_(mul).add_(add * mul)
        if r.grayscale:
            idx = self._draw(r.grayscale, n, dev).nonzero().squeeze(1)
            if len(idx):
                gray = (out[idx] * self.gray).sum(1, keepdim=True)
                out[idx] = gray.expand(-1, out.shape[1], -1, -1)
        if r.blur:
            idx = self._draw(r.blur, n, dev).nonzero().squeeze(1)
            if len(idx):
                sigma = torch.empty(len(idx), 1, device=dev).uniform_(*r.blur_sigma)
                out[idx] = gaussian_blur2d(out[idx], (self.ks, self.ks), sigma.expand(-1, 2))
        return self.rest(out) if self.rest is not None else out


class OneCallMoCo(MoCo):
    """Proposal 3: augment every season of the batch in one kornia call."""

    def augment_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        image = batch["image"]
        b, s = image.shape[:2]
        views = self.augment(image.flatten(0, 1)).unflatten(0, (b, s))
        batch["views"] = [self._to_format(views[:, k].contiguous()) for k in range(s)]
        return batch


def fused_moco(bands: int, crop: int) -> MoCo:
    module = bench.eossl_moco(bands, crop)
    module.augment = FusedAugment(module.recipe, bands)
    return module


def one_call_moco(bands: int, crop: int) -> MoCo:
    module = bench.eossl_moco(bands, crop)
    module.__class__ = OneCallMoCo
    return module


def fused_augment(recipe: Any, bands: int, truncate: float | None = None):
    aug = FusedAugment(recipe, bands, truncate)

    def fn(x: torch.Tensor) -> list[torch.Tensor]:
        b, s = x.shape[:2]
        views = aug(x.flatten(0, 1)).unflatten(0, (b, s))
        return [views[:, k] for k in range(s)]

    return fn


def one_call_augment(module: MoCo):
    def fn(x: torch.Tensor) -> list[torch.Tensor]:
        return OneCallMoCo.augment_batch(module, {"image": x})["views"]

    return fn


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=["loader", "augment", "train", "all"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--workers", default=None)
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args(argv)
    sizes = bench.QUICK if args.quick else bench.FULL
    names = ("loader", "augment", "train") if args.benchmark == "all" else (args.benchmark,)
    for name in names:
        kw = dict(sizes[name])
        if args.rounds:
            kw["rounds"] = args.rounds
        if name == "loader":
            if args.samples:
                kw["samples"] = args.samples
            if args.workers:
                kw["workers"] = tuple(int(w) for w in args.workers.split(","))
            bench.loader(
                **kw,
                extra={"eossl direct (patch 2)": lambda s: DirectDataset(s, seasons=2, seed=0)},
            )
        elif name == "augment":
            module = bench.eossl_moco(13, kw["crop"])
            from eossl.augment import moco_recipe

            recipe = moco_recipe(kw["crop"])
            bench.augment(
                **kw,
                extra={
                    "eossl one call": one_call_augment(module),
                    "eossl fused (patch 3)": fused_augment(recipe, 13),
                },
            )
        else:
            bench.train(
                **kw,
                extra={
                    "eossl one-call aug": one_call_moco,
                    "eossl fused aug (patch 3)": fused_moco,
                    "eossl channels_last": lambda b, c: bench.eossl_moco(b, c, channels_last=True),
                },
            )


if __name__ == "__main__":
    main()
