"""``eossl info``: summarise stores as a table."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import zarr
from rich.markup import escape
from rich.table import Table

from eossl.data.io.schema import (
    StoreInfo,
    checksum_name,
    chunk_shape,
    codec_name,
    decode_times,
    find_stores,
    open_group,
    size_on_disk,
    validate,
)

__all__ = ["describe", "describe_table"]


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return str(n)


def _tally(values: Iterable[str]) -> str:
    """``"s2"`` when every file agrees, else ``"s2 (3 files), s1 (1 file)"``."""
    counts = Counter(values)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{v} ({n} file{'s' * (n > 1)})" for v, n in counts.most_common())


def _scene_labels(group: zarr.Group, shown: int = 10) -> str:
    """``"single, 3 classes; samples per class: A 2, B 2, C 2"`` (or the most common)."""
    if "scene_label" not in group or "class_name" not in group:
        return "no"
    names = [str(c) for c in group["class_name"][...]]
    counts = np.asarray(group["scene_label"][...], np.int64).sum(axis=0)
    kind = group.attrs.get("scene_label_kind", "multi")
    order = np.arange(len(names))
    if len(names) > shown:  # the most common ones
        order = np.argsort(-counts, kind="stable")[:shown]
    listed = ", ".join(f"{names[i]} {int(counts[i])}" for i in order)
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    head = "samples per class" if len(names) <= shown else "most common"
    return f"{kind}, {len(names)} classes; {head}: {listed}{more}"


def _phenology(infos: list) -> str:
    """``"dormancy 30%, ...; 17 of 24 locations with a cycle"``, or how to compute it."""
    from eossl.data.phenology import decode_phases, phase_shares, phase_summary

    phases = [decode_phases(i.attrs, i.samples, i.times, i.path) for i in infos]
    if any(p is None for p in phases):
        return "no (`eossl phenology` computes it)"
    summary = phase_summary(phases)
    shares = ", ".join(f"{k} {100 * v:.0f}%" for k, v in phase_shares(summary).items())
    n = summary["locations with a cycle"] + summary["locations without"]
    return f"{shares}; {summary['locations with a cycle']} of {n} locations with a cycle"


def describe(root: str | os.PathLike, sensor: str | None = None) -> dict[str, object]:
    """Facts about the stores under ``root``, as a dict (what ``eossl info`` prints)."""
    from eossl.sensors import get_sensor

    wanted = get_sensor(sensor) if sensor else None
    paths = find_stores(root)
    infos = [validate(p, sensor=wanted) for p in paths]
    first = infos[0]
    group = open_group(first.path)
    bands = group["bands"]
    times = decode_times(group["time_"]) if "time_" in group else None
    valid = times[~np.isnat(times)] if times is not None else np.array([], "datetime64[ns]")
    timestamps = sorted({i.times for i in infos})
    one_set = len({tuple(i.band_names or [i.bands]) for i in infos}) == 1
    bands_key = "bands" if one_set else "bands (first file)"  # mixed sensors
    return {
        "path": str(Path(root)),
        "files": len(infos),
        "samples": sum(i.samples for i in infos),
        "timestamps per sample": ", ".join(map(str, timestamps)),
        "time range (first file)": (
            f"{valid.min().astype('datetime64[D]')} .. {valid.max().astype('datetime64[D]')}"
        )
        if valid.size
        else "-",
        "image size": _tally(f"{i.height} x {i.width}" for i in infos),
        "sensor": _tally(i.sensor.name if i.sensor else "unknown" for i in infos),
        bands_key: ", ".join(first.band_names or []) or str(first.bands),
        "dtype": first.dtype,
        "chunk shape": str(chunk_shape(bands)),
        "shard shape": str(bands.shards) if getattr(bands, "shards", None) else "-",
        "codec": codec_name(bands),
        "checksum": checksum_name(bands, zipped=Path(first.path).name.endswith(".zip")),
        "zarr format": group.metadata.zarr_format,
        "cloud mask": "yes" if first.has_cloud_mask else "no",
        "labels": "yes" if first.has_label else "no",
        "scene labels (first file)": _scene_labels(group),
        "stats": _stats_state(first),
        "phenology": _phenology(infos),
        "size on disk": _human(sum(size_on_disk(i.path) for i in infos)),
    }


def describe_table(root: str | os.PathLike, sensor: str | None = None) -> Table:
    """A rich table of :func:`describe`."""
    facts = describe(root, sensor)
    table = Table(title=f"eossl info: {facts['path']}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in facts.items():
        if key != "path":
            table.add_row(key, escape(str(value)))
    return table


def print_info(root: str | os.PathLike, sensor: str | None = None) -> None:
    """Print the table to the terminal."""
    from eossl.console import console

    console().print(describe_table(root, sensor))


def _stats_state(info: StoreInfo) -> str:
    from eossl.data.normalize import stats_state

    return stats_state(info)
