"""Write stores in the eossl schema: atomic, resumable, shard-aligned blocks.

Output goes to ``OUT.partial`` and is renamed to ``OUT`` only when every block is
written, so a half-written store is never presented as complete, and a store that
``--overwrite`` replaces stays whole until then. Each finished block leaves a marker, so a
rerun after a kill writes only the missing blocks.
Blocks are whole shards, so they can be written concurrently (threads, or dask
workers) without read-modify-write races.

Codecs: see :mod:`eossl.data.io.codecs`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import Crc32cCodec

from eossl.data.io.codecs import DEFAULT_CODEC, check_codec, compressors
from eossl.data.io.schema import BANDS_DIMS, SCHEMA_VERSION
from eossl.errors import UserError

__all__ = ["StoreSpec", "StoreWriter", "auto_shard"]

_TIME_ATTRS = {"units": "nanoseconds since 1970-01-01", "calendar": "proleptic_gregorian"}
_DONE = ".eossl_done"
EVERY_CHUNK = {"write_empty_chunks": True}  # a chunk of fill values is written too


@dataclass
class StoreSpec:
    """Shape, types and attributes of a store to write."""

    samples: int
    times: int
    band_names: list[str]
    height: int
    width: int
    dtype: str
    cloud_mask: bool = True
    label: bool = False
    zarr_format: int = 3
    shard: int = 64  # samples per shard (and per write block)
    codec: str = DEFAULT_CODEC  # a key of CODECS
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str | None = None  # fingerprint of the inputs (e.g. a hash of the file list)
    classes: list[str] | None = None  # scene-label class names: adds scene_label, class_name
    scene_label_kind: str | None = None  # "single" (one class per sample) or "multi"
    time: bool = True  # False: no time_ variable (no acquisition date known)

    def __post_init__(self) -> None:
        check_codec(self.codec)

    def blocks(self) -> list[tuple[int, int]]:
        """Sample ranges written as one unit: whole shards."""
        return [(s, min(s + self.shard, self.samples)) for s in range(0, self.samples, self.shard)]

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a partial store to be resumed."""
        keys = (
            "samples",
            "times",
            "band_names",
            "height",
            "width",
            "dtype",
            "cloud_mask",
            "label",
            "zarr_format",
            "shard",
        )
        out = {k: getattr(self, k) for k in keys}
        if self.source is not None:  # only when set, so older partial stores still resume
            out["source"] = self.source
        if self.classes is not None:
            out["classes"] = list(self.classes)
            out["scene_label_kind"] = self.scene_label_kind
        if not self.time:
            out["time"] = False
        if self.codec != "zstd-3":  # partial stores of older eossl (zstd-3) resume with it
            out["codec"] = self.codec
        return out


class StoreWriter:
    """Create or resume ``OUT.partial``; write blocks; finalise into ``OUT``.

    ``OUT`` ending in ``.zarr.zip`` is zipped (an uncompressed zip of compressed
    chunks, as SSL4EO-S12 v1.1 ships) at the end.
    """

    def __init__(self, out: str | os.PathLike, spec: StoreSpec, overwrite: bool = False) -> None:
        self.out = Path(out)
        self.spec = spec
        self.partial = self.out.with_name(self.out.name.removesuffix(".zip") + ".partial")
        for parent in self.out.parents:  # a file where a folder must be: one line naming it
            if parent.exists():
                if not parent.is_dir():
                    raise UserError(f"{self.out}: {parent} is a file, not a folder")
                break
        if self.out.exists() or self.out.is_symlink():
            check_replaceable(self.out, overwrite)  # replaced once the new store is whole
        elif replaced_path(self.out).exists():
            from eossl.console import console

            console(stderr=True).print(
                f"eossl: {replaced_path(self.out)} holds the store that an interrupted "
                "--overwrite was replacing; it is deleted once the new store is in place"
            )
        self.restarted = False  # a partial store of other sources or settings was replaced
        if self.partial.exists() and self._resumable():
            _remove_temp_files(self.partial)  # a kill mid-write leaves zarr's temp files
            self.group = zarr.open_group(self.partial, mode="r+")
        else:
            if self.partial.exists():
                _remove(self.partial)
                self.restarted = True
            self.group = self._create()

    @property
    def resumed_blocks(self) -> int:
        """How many blocks a previous run already wrote."""
        return len(self.spec.blocks()) - len(self.pending())

    def _resumable(self) -> bool:
        try:
            group = zarr.open_group(self.partial, mode="r")
            return group.attrs.get("eossl_spec") == json.loads(json.dumps(self.spec.fingerprint()))
        except Exception:
            return False

    def _create(self) -> zarr.Group:
        s = self.spec
        self.partial.mkdir(parents=True)
        group = zarr.open_group(self.partial, mode="w", zarr_format=s.zarr_format)
        (self.partial / _DONE).mkdir()
        n, t, c, h, w = s.samples, s.times, len(s.band_names), s.height, s.width
        shard = min(s.shard, n)
        self._array(
            group,
            "bands",
            (n, t, c, h, w),
            (1, 1, c, h, w),
            (shard, t, c, h, w),
            s.dtype,
            BANDS_DIMS,
        )
        if s.cloud_mask:
            self._array(
                group,
                "cloud_mask",
                (n, t, h, w),
                (1, 1, h, w),
                (shard, t, h, w),
                "uint8",
                ("sample", "time", "y", "x"),
                fill=6,
            )
        if s.label:
            self._array(
                group,
                "label",
                (n, h, w),
                (1, h, w),
                (shard, h, w),
                "uint8",
                ("sample", "y", "x"),
                fill=255,
            )
        small = {
            **({"time_": ((n, t), "int64", ("sample", "time"), _TIME_ATTRS)} if s.time else {}),
            "center_lat": ((n,), "float64", ("sample",), None),
            "center_lon": ((n,), "float64", ("sample",), None),
            "crs": ((n,), "int64", ("sample",), None),
            "x_": ((n, w), "float64", ("sample", "x"), None),
            "y_": ((n, h), "float64", ("sample", "y"), None),
        }
        for name, (shape, dtype, dims, attrs) in small.items():
            self._array(
                group,
                name,
                shape,
                (shard, *shape[1:]),
                None,
                dtype,
                dims,
                attrs=attrs,
                fill=np.iinfo(np.int64).min if name == "time_" else 0,
            )
        for name in ("sample_id", "file_id"):
            self._array(group, name, (n, t), (shard, t), None, str, ("sample", "time"), fill="")
        # the place's id, shared by co-located stores of other sensors ("" where unknown)
        self._array(group, "location_id", (n,), (shard,), None, str, ("sample",), fill="")
        band = self._array(group, "band", (c,), (c,), None, str, ("band",), fill="")
        band[:] = np.array(s.band_names)
        labels = {}
        if s.classes is not None:
            labels = self._scene_labels(group)
        group.attrs.update(
            {
                **s.attrs,
                **labels,
                "eossl_schema_version": SCHEMA_VERSION,
                "eossl_complete": False,
                "eossl_every_chunk": True,  # `eossl verify` reports a missing chunk file
                "eossl_spec": s.fingerprint(),
            }
        )
        return group

    def _scene_labels(self, group: zarr.Group) -> dict[str, Any]:
        """``scene_label`` (sample, class) 0/1 and ``class_name`` (class,); the kind attribute."""
        s = self.spec
        assert s.classes is not None
        if s.scene_label_kind not in ("single", "multi"):
            raise ValueError(
                f"scene_label_kind must be 'single' or 'multi', not {s.scene_label_kind!r}"
            )
        k, shard = len(s.classes), min(s.shard, s.samples)
        dims = ("sample", "class")
        self._array(group, "scene_label", (s.samples, k), (shard, k), None, "uint8", dims)
        names = self._array(group, "class_name", (k,), (k,), None, str, ("class",), fill="")
        names[:] = np.array(s.classes)
        return {"scene_label_kind": s.scene_label_kind}

    def _array(
        self,
        group: zarr.Group,
        name: str,
        shape: tuple[int, ...],
        chunks: tuple[int, ...],
        shards: tuple[int, ...] | None,
        dtype: Any,
        dims: tuple[str, ...],
        attrs: dict[str, Any] | None = None,
        fill: Any = 0,
    ) -> zarr.Array:
        attrs = dict(attrs or {})
        if self.spec.zarr_format == 2:
            attrs["_ARRAY_DIMENSIONS"] = list(dims)
            comp = None if dtype is str else compressors(self.spec.codec, 2)
            return group.create_array(
                name,
                shape=shape,
                chunks=chunks,
                dtype=dtype,
                compressors=comp,
                attributes=attrs,
                fill_value=fill,
                config=EVERY_CHUNK,
            )
        comp = compressors(self.spec.codec, 3)
        if dtype is str:  # strings: not compressed, but checked like the rest
            comp = tuple(c for c in comp if isinstance(c, Crc32cCodec)) or None
        return group.create_array(
            name,
            shape=shape,
            chunks=chunks,
            shards=shards,
            dtype=dtype,
            compressors=comp,
            dimension_names=list(dims),
            attributes=attrs,
            fill_value=fill,
            config=EVERY_CHUNK,
        )

    def pending(self) -> list[tuple[int, int]]:
        """Blocks not written yet."""
        done_dir = self.partial / _DONE
        if not done_dir.is_dir():  # killed while finalising: complete, or start the markers
            if self.group.attrs.get("eossl_complete"):
                return []
            done_dir.mkdir()
        done = {p.name for p in done_dir.iterdir()}
        return [b for b in self.spec.blocks() if f"{b[0]}-{b[1]}" not in done]

    def say_start(self) -> None:
        """One line when the run resumes ``OUT.partial``, or had to begin it anew.

        And one when the pixels, before compression, outgrow the disk's free space.
        """
        from rich.filesize import decimal

        from eossl.console import console

        spec, say = self.spec, console(stderr=True).print
        pixels = spec.samples * spec.times * len(spec.band_names) * spec.height * spec.width
        raw = pixels * np.dtype(spec.dtype).itemsize
        free = shutil.disk_usage(self.partial.parent).free
        if raw > free:
            say(
                f"eossl: {self.out}: {spec.samples:,} samples x {spec.times} "
                f"date{'s' * (spec.times != 1)} x {len(spec.band_names)} bands x "
                f"{spec.height}x{spec.width} px are {decimal(raw)} before compression, and "
                f"the disk has {decimal(free)} free"
            )
        if self.restarted:
            say(f"eossl: {self.partial} was begun from other sources or settings; starting again")
        if self.resumed_blocks:
            say(
                f"resuming {self.partial}: {self.resumed_blocks} of {len(spec.blocks())} "
                "blocks already written"
            )

    @contextmanager
    def kept_on_failure(self) -> Iterator[None]:
        """An error or Ctrl-C while writing says that ``OUT.partial`` keeps the blocks written.

        The error stays what it was (its type and cause); only its message grows, by
        what it keeps as ``err.kept`` (a caller whose store is temporary takes it off).
        """
        try:
            yield
        except (UserError, KeyboardInterrupt) as err:
            total = len(self.spec.blocks())
            try:
                done = total - len(self.pending()) if self.partial.is_dir() else 0
            except OSError:
                done = 0
            if done:
                kept = (
                    f"{self.partial} keeps the {done} of {total} blocks written: the same "
                    "command goes on from there"
                )
                if isinstance(err, UserError):
                    err.args, err.kept = (f"{err}; {kept}",), kept
                else:
                    from eossl.console import console

                    console(stderr=True).print(f"eossl: {kept}")
            raise

    def write(
        self,
        start: int,
        stop: int,
        data: dict[str, Any],
        report: dict[str, Any] | None = None,
        mark: bool = True,
    ) -> None:
        """Write samples ``start:stop`` (one block) and mark the block done (if ``mark``).

        ``data`` maps variable names to arrays whose first axis is the sample;
        ``time_`` may be ``datetime64`` (NaT pads locations with fewer timestamps).
        ``report`` (JSON-serialisable) is kept with the block's marker, so what a
        block found survives a kill; read it back with :meth:`block_reports`.
        """
        if (start, stop) not in self.spec.blocks():
            raise ValueError(f"({start}, {stop}) is not a block of this store")
        for name, value in data.items():
            if name not in self.group:
                continue
            value = np.asarray(value)
            if name == "time_" and np.issubdtype(value.dtype, np.datetime64):
                value = value.astype("datetime64[ns]").view("int64")
            try:
                self.group[name].with_config(EVERY_CHUNK)[start:stop] = value
            except OSError as err:
                raise UserError(
                    f"{self.partial}: could not write samples {start}-{stop} "
                    f"({err.strerror or err}); free some disk space, then rerun the same "
                    "command to resume"
                ) from err
        if mark:
            self._mark(start, stop, report)

    def write_checked(
        self,
        start: int,
        stop: int,
        data: dict[str, Any],
        same: Callable[[str, np.ndarray, np.ndarray], bool],
    ) -> None:
        """:meth:`write`, then read the block back; done only if every variable is ``same``.

        ``same(name, data[name], read_back)`` compares one variable.
        """
        self.write(start, stop, data, mark=False)
        for name, value in data.items():
            if name in self.group and not same(name, value, self.group[name][start:stop]):
                raise UserError(
                    f"{self.partial}: {name} of samples {start}-{stop} reads back different "
                    "from its source; check the disk, then rerun to resume"
                )
        self._mark(start, stop, None)

    def _mark(self, start: int, stop: int, report: dict[str, Any] | None) -> None:
        marker = self.partial / _DONE / f"{start}-{stop}"
        if report is None:
            marker.touch()
        else:
            tmp = marker.with_name(marker.name + ".tmp")
            tmp.write_text(json.dumps(report))
            os.replace(tmp, marker)  # the marker appears whole, or not at all

    def block_reports(self) -> dict[tuple[int, int], Any]:
        """Reports left by :meth:`write` for the blocks written so far (this run or earlier)."""
        done_dir = self.partial / _DONE
        out: dict[tuple[int, int], Any] = {}
        for start, stop in self.spec.blocks():
            marker = done_dir / f"{start}-{stop}"
            if marker.is_file():
                text = marker.read_text()
                out[(start, stop)] = json.loads(text) if text else None
        return out

    def finalize(self, attrs: dict[str, Any] | None = None) -> Path:
        """Mark complete and move into place atomically. Returns the output path."""
        missing = self.pending()
        if missing:
            raise RuntimeError(f"{len(missing)} blocks not written: {missing[:3]}...")
        self.group.attrs.update({**(attrs or {}), "eossl_complete": True})
        shutil.rmtree(self.partial / _DONE, ignore_errors=True)
        if self.spec.zarr_format == 2:
            zarr.consolidate_metadata(self.partial)
        move_into_place(self.partial, self.out)
        return self.out


_ZARR_TEMP = re.compile(r"\.[0-9a-f]{32}\.partial$")  # zarr LocalStore: NAME.<uuid hex>.partial


def auto_shard(sample_bytes: int, budget: int = 512 * 2**20) -> int:
    """Samples per shard: as many as fit ``budget`` decoded bytes (one write block), 1 to 64."""
    return int(min(64, max(1, budget // max(sample_bytes, 1))))


def _remove_temp_files(store: Path) -> None:
    """Delete the temporary files of writes that a kill interrupted (never renamed into place)."""
    for path in store.rglob("*.partial"):
        if path.is_file() and _ZARR_TEMP.search(path.name):
            path.unlink(missing_ok=True)


def move_into_place(done: Path, out: Path) -> None:
    """Move a finished store directory to ``out``, zipped where ``out`` ends in ``.zip``.

    The zip is uncompressed (the v1.1 form) and appears whole or not at all.
    """
    if out.name.endswith(".zip"):
        tmp = out.with_name(out.name + ".partial-zip")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for path in sorted(done.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(done).as_posix())
        _replace(tmp, out)
        shutil.rmtree(done)
    else:
        _replace(done, out)


def _replace(new: Path, out: Path) -> None:
    """Move ``new`` to ``out``; a store already there (``--overwrite``) goes only after.

    A file replaces a file atomically. A folder cannot replace a folder so: the old store is
    renamed to ``OUT.replaced`` first and deleted once the new one is in place, so a failure
    at any point leaves one whole store.
    """
    old = replaced_path(out)
    if out.exists() and (out.is_dir() or new.is_dir()):
        if old.exists():
            _remove(old)
        os.replace(out, old)
        try:
            os.replace(new, out)
        except BaseException:
            os.replace(old, out)  # the old store back where it was
            raise
        _remove(old)
    else:
        os.replace(new, out)
        if old.exists():  # left by a run killed between its two renames: replaced now
            _remove(old)


def replaced_path(out: Path) -> Path:
    """Where ``--overwrite`` keeps the old store while the new one moves into place."""
    return out.with_name(out.name + ".replaced")


def check_replaceable(out: Path, overwrite: bool) -> None:
    """One-line error unless ``out`` (which exists) may be replaced: ``--overwrite`` and a store.

    ``--overwrite`` deletes zarr stores only (a folder or zip with ``zarr.json`` or ``.zgroup``
    at its root) and empty folders, never another folder or file that sits at ``out``, and
    never a symbolic link (nor what it points to).
    """
    if out.is_symlink():
        raise UserError(
            f"{out}: a symbolic link (to {os.readlink(out)}); write to its target, or remove "
            "the link, to replace it"
        )
    if not overwrite:
        raise UserError(f"{out}: already exists; pass --overwrite to replace it")
    markers = {"zarr.json", ".zgroup"}
    if out.is_dir():
        store = any((out / m).is_file() for m in markers) or not any(out.iterdir())
    else:
        store = zipfile.is_zipfile(out) and bool(markers & set(zipfile.ZipFile(out).namelist()))
    if not store:
        raise UserError(
            f"{out}: not a zarr store; --overwrite replaces stores only, so move or remove it "
            "yourself"
        )


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
