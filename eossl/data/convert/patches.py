"""Patch archives (EuroSAT MS, BigEarthNet v1, a folder of patches) with scene labels.

Each patch is one sample with one timestamp: a multi-band GeoTIFF (EuroSAT, a
folder of patches) or a folder with one file per band (BigEarthNet).
:func:`scan_patches` lists the patches (:mod:`eossl.data.convert.patch_sources`), checks
every file's header and label, and returns a :class:`PatchPlan`, whose
:meth:`PatchPlan.read_block` reads patches onto the finest band's grid, in the
sensor card's band order, with their ``scene_label`` rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.patch_bands import band_files, reference_layout
from eossl.data.convert.patch_sources import (
    SOURCES,
    Patch,
    bigearthnet_labels,
    detect_source,
    list_patches,
    patch_time,
)
from eossl.data.convert.rasters import (
    BadFile,
    BadFileError,
    bad_file_error,
    centre_lonlat,
    epsg_of,
    error_text,
    file_key,
    fingerprint,
    invalid_pixels,
    tag_date,
)
from eossl.data.io.schema import empty_block
from eossl.errors import UserError
from eossl.sensors import Sensor

__all__ = ["PatchPlan", "scan_patches"]

_RELEASES = {"eurosat": "eurosat", "bigearthnet": "bigearthnet-v1"}


@dataclass
class PatchPlan:
    """What to write from a patch archive, and how to read one block of patches."""

    source: str  # eurosat | bigearthnet | folder
    root: str
    sensor: Sensor | None
    band_names: list[str]
    band_map: list[tuple[int, int]]  # stored band -> (file number, 1-based band in the file)
    suffixes: tuple[str, ...]  # per file number: file name after "<patch id>"; ("",): one file
    counts: tuple[int, ...]  # bands per file number
    shapes: tuple[tuple[int, int], ...]  # (height, width) per file number
    dtype: str
    height: int
    width: int
    grid_file: int  # file number of the finest band: its footprint gives the coordinates
    nodata: float | None
    resampling: str
    classes: list[str] | None
    label_kind: str | None  # "single", "multi", or None (unlabelled)
    patches: list[Patch] = field(default_factory=list)
    dated: bool = False  # every patch has a date: the store gets time_
    skipped: list[BadFile] = field(default_factory=list)
    inputs: list[Any] = field(default_factory=list)

    times = 1  # one timestamp per patch

    @property
    def samples(self) -> int:
        """Number of patches written."""
        return len(self.patches)

    def part(self, start: int, stop: int) -> PatchPlan:
        """The plan of samples ``start:stop`` only: what one block's worker needs."""
        return replace(self, patches=self.patches[start:stop], skipped=[], inputs=[])

    def files(self, patch: Patch) -> list[str]:
        """Paths of a patch's files, by file number."""
        base = os.path.join(self.root, patch.path)
        if self.suffixes == ("",):
            return [base]
        names = patch.files or tuple(patch.id + s for s in self.suffixes)
        return [os.path.join(base, n) for n in names]

    def attrs(self) -> dict[str, Any]:
        """Store attributes that describe the source."""
        card = self.sensor
        integer = np.dtype(self.dtype).kind in "ui"
        scale = 1.0 / card.quantification if card and card.quantification and integer else 1.0
        out: dict[str, Any] = {
            "source_layout": "patches",
            "patch_source": self.source,
            "source": self.root,
            "scale": scale,
            "offset": 0.0,
            "resampling": self.resampling,
        }
        if self.source in _RELEASES:
            out["release"] = _RELEASES[self.source]
        if card is not None:
            out["sensor"], out["product"] = card.name, card.product
        return out

    def describe(self) -> dict[str, Any]:
        """Everything that determines the output, for the resume fingerprint."""
        return {
            "layout": "patches",
            "source": self.source,
            "bands": self.band_names,
            "band_map": self.band_map,
            "suffixes": self.suffixes,
            "dtype": self.dtype,
            "size": [self.height, self.width],
            "nodata": str(self.nodata),
            "resampling": self.resampling,
            "classes": self.classes,
            "kind": self.label_kind,
            "dated": self.dated,
            "inputs": self.inputs,
        }

    # -- checking (scan) -----------------------------------------------------------------

    def check(self, patch: Patch) -> tuple[Patch, list[Any]]:
        """The patch with its labels and time, and its file keys; raises BadFileError."""
        import rasterio

        folder = Path(self.root, patch.path)
        when, labels = None, patch.labels
        if self.source == "bigearthnet":
            if not folder.is_dir():
                raise BadFileError(folder, "is not a patch folder")
            patch = replace(patch, files=band_files(folder, patch.id, self.suffixes))
            assert self.classes is not None
            labels, when = bigearthnet_labels(
                folder / f"{patch.id}_labels_metadata.json", self.classes
            )
        keys = []
        for k, path in enumerate(self.files(patch)):
            if not os.path.isfile(path):
                raise BadFileError(path, "no such file")
            try:
                with rasterio.open(path) as src:
                    count, shape, dtype = src.count, src.shape, np.dtype(src.dtypes[0])
                    if self.source == "folder" and when is None:
                        when = tag_date({**src.tags(), **src.tags(ns="IMAGE_STRUCTURE")})
                keys.append(file_key(path))
            except Exception as err:
                raise BadFileError(path, f"cannot open ({error_text(err)})") from err
            if count != self.counts[k]:
                raise BadFileError(path, f"has {count} bands, expected {self.counts[k]}")
            if shape != self.shapes[k]:
                raise BadFileError(
                    path,
                    f"is {shape[0]}x{shape[1]} px, expected {self.shapes[k][0]}x"
                    f"{self.shapes[k][1]} (every patch must have the same size)",
                )
            if dtype != self.dtype and not np.can_cast(dtype, self.dtype, "safe"):
                raise BadFileError(path, f"dtype {dtype} does not fit the store's {self.dtype}")
        name = patch.id if self.source == "bigearthnet" else Path(patch.path).stem
        out = replace(patch, labels=labels, time=patch_time(name, when))
        if out.files == tuple(patch.id + s for s in self.suffixes):
            out = replace(out, files=None)  # the default names: not kept per patch
        return out, keys

    # -- reading -------------------------------------------------------------------------

    def read_block(self, start: int, stop: int, skip_bad: bool) -> tuple[dict, list[BadFile]]:
        """Arrays for patches ``start:stop`` and the files that failed while reading pixels.

        A patch that fails with ``skip_bad`` keeps its slot: nodata bands, cloud_mask 6,
        empty ids, no class, and NaT where the store has dates.
        """
        import rasterio

        patches = self.patches[start:stop]
        n, c, h, w = len(patches), len(self.band_names), self.height, self.width
        out: dict[str, Any] = {
            **empty_block(n, 1, c, h, w, self.dtype, self.nodata),
            "location_id": np.full(n, "", dtype=object),
            "crs": np.zeros(n, np.int64),
            "x_": np.full((n, w), np.nan),
            "y_": np.full((n, h), np.nan),
            "center_lon": np.full(n, np.nan),
            "center_lat": np.full(n, np.nan),
        }
        if self.classes is not None:
            out["scene_label"] = np.zeros((n, len(self.classes)), np.uint8)
        bad: list[BadFile] = []
        for i, patch in enumerate(patches):
            try:
                with rasterio.Env():
                    image, (crs, bounds) = self._read_patch(patch)
            except BadFileError as err:
                if not skip_bad:
                    raise bad_file_error(err.bad) from None
                bad.append(err.bad)
                continue
            out["bands"][i, 0] = image
            out["cloud_mask"][i, 0] = np.where(invalid_pixels(image, self.nodata), 6, 0)
            out["sample_id"][i, 0], out["file_id"][i, 0] = patch.id, patch.path
            out["location_id"][i] = patch.location or ""
            if patch.time is not None:
                out["time_"][i, 0] = np.datetime64(patch.time, "ns")
            if self.classes is not None:
                out["scene_label"][i, list(patch.labels)] = 1
            if crs is None:  # no georeferencing (e.g. a dummy transform): coordinates NaN
                continue
            left, bottom, right, top = bounds
            out["crs"][i] = epsg_of(crs)
            out["x_"][i] = left + (np.arange(w) + 0.5) * (right - left) / w
            out["y_"][i] = top - (np.arange(h) + 0.5) * (top - bottom) / h
            lon, lat = centre_lonlat(crs, [(left + right) / 2], [(top + bottom) / 2])
            out["center_lon"][i], out["center_lat"][i] = lon[0], lat[0]
        out["sample_id"] = out["sample_id"].astype(str)
        out["file_id"] = out["file_id"].astype(str)
        out["location_id"] = out["location_id"].astype(str)
        return out, bad

    def _read_patch(self, patch: Patch) -> tuple[np.ndarray, tuple[Any, tuple]]:
        """One patch on the (height, width) grid in card order, and (crs, bounds) of its grid."""
        import rasterio
        from rasterio.enums import Resampling

        image = np.empty((len(self.band_names), self.height, self.width), self.dtype)
        geo: tuple[Any, tuple] = (None, ())
        for f, path in enumerate(self.files(patch)):
            wanted = [(k, b) for k, (file, b) in enumerate(self.band_map) if file == f]
            if not wanted:
                continue
            try:
                with rasterio.open(path) as src:
                    data = src.read(
                        [b for _, b in wanted],
                        out_shape=(len(wanted), self.height, self.width),
                        resampling=Resampling[self.resampling],
                    )
                    nodata = src.nodata
                    if f == self.grid_file:
                        geo = (src.crs, tuple(src.bounds))
            except Exception as err:  # rasterio raises many types for broken files
                raise BadFileError(path, f"cannot read ({error_text(err)})") from err
            remap = nodata is not None and self.nodata is not None and not np.isnan(nodata)
            if remap and nodata != self.nodata:
                data[data == nodata] = self.nodata
            for (k, _), band in zip(wanted, data, strict=True):
                image[k] = band.astype(self.dtype, copy=False)
        return image, geo


MIN_PATCH = 16  # px a side, as convert's --chip-size: a 1 px patch gave a NaN loss at step 0


def scan_patches(
    src: str | os.PathLike,
    source: str | None = None,
    sensor: str | None = None,
    labels: str | os.PathLike | None = None,
    classes: list[str] | None = None,
    size: int | None = None,
    resampling: str = "nearest",
    skip_bad: bool = False,
    run: Callable[..., list[Any]] | None = None,
) -> PatchPlan:
    """List and check a patch archive (headers and labels, not pixels) and plan the store.

    ``run(fn, blocks, description, weights, unit)`` runs the checks in parallel
    (e.g. :func:`eossl.parallel.run_blocks`); serial when ``None``.
    """
    root = Path(src).expanduser().resolve()
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass the folder that holds the patches")
    if source not in (None, "auto", *SOURCES):
        raise UserError(f"unknown source {source!r}; choose one of auto, {', '.join(SOURCES)}")
    source = None if source == "auto" else source
    if labels is not None and source not in (None, "folder"):
        raise UserError(f"--labels (a CSV) is for the folder source, not {source}")
    if labels is not None and not Path(labels).expanduser().is_file():
        raise UserError(f"{labels}: no such labels CSV")
    root, source = detect_source(root, "folder" if labels is not None else source)
    listing = list_patches(root, source, labels, classes)
    if not listing.patches:
        raise UserError(f"{root}: no patches found")
    layout, first_error = None, None
    for patch in listing.patches[: 100 if skip_bad else 1]:  # the first readable patch
        try:
            layout = reference_layout(listing, patch, sensor)
            break
        except (BadFileError, UserError) as err:
            error = bad_file_error(err.bad) if isinstance(err, BadFileError) else err
            first_error = first_error or error
            if not skip_bad:
                raise error from None
    if layout is None:
        assert first_error is not None
        raise first_error
    height, width = layout["shapes"][layout["grid_file"]]
    if min(size or height, size or width) < MIN_PATCH:
        raise UserError(
            f"{root}: patches of {size or height}x{size or width} px are too small to train or "
            f"evaluate on (at least {MIN_PATCH} px a side); pass --size {MIN_PATCH} or more to "
            "resample them"
        )
    plan = PatchPlan(
        source=source,
        root=str(root),
        **layout,
        height=size or height,
        width=size or width,
        resampling=resampling,
        classes=listing.classes,
        label_kind=listing.kind,
    )

    def check(chunk: Sequence[Patch]) -> tuple[list[Patch], list[BadFile], str]:
        good, bad, keys = [], [], []
        for patch in chunk:
            try:
                checked, k = plan.check(patch)
            except BadFileError as err:
                if not skip_bad:
                    raise bad_file_error(err.bad) from None
                bad.append(err.bad)
                continue
            good.append(checked)
            keys.append([checked.id, checked.path, checked.time, checked.labels, k])
        return good, bad, fingerprint(keys)

    step = 64
    chunks = [listing.patches[i : i + step] for i in range(0, len(listing.patches), step)]
    if run is None:
        results = [check(c) for c in chunks]
    else:
        results = run(check, chunks, f"scan {source}", [len(c) for c in chunks], "patches")
    plan.patches = [p for r in results for p in r[0]]
    plan.skipped = [b for r in results for b in r[1]]
    plan.inputs = [*listing.inputs, *(r[2] for r in results)]
    if not plan.patches:
        raise UserError(f"{root}: no readable patch; see the skipped files above")
    plan.dated = all(p.time is not None for p in plan.patches)
    return plan
