"""A store opened for sample reads in one process: its array readers and per-sample metadata.

:class:`~eossl.data.dataset.SeasonalZarrDataset` opens each store lazily, once per
worker process, and keeps a few open (``max_open_stores``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eossl.data.io.reader import ArrayReader, Reader, open_reader
from eossl.data.io.schema import StoreInfo, decode_times, open_group

__all__ = ["Handle", "open_handle"]


@dataclass
class Handle:
    """Open arrays of one store, and its small per-sample metadata, in one process."""

    bands: ArrayReader
    cloud_mask: ArrayReader | None
    label: ArrayReader | None
    scene_label: np.ndarray | None  # (sample, class) 0/1, small: read whole
    times: np.ndarray  # (sample, time) datetime64[ns]; NaT pads missing timestamps
    has_times: bool  # False: the store has no time coordinate (all NaT above)
    phase: np.ndarray | None  # (sample, time) int8 phenological phases, -1 none
    lat: np.ndarray
    lon: np.ndarray


def open_handle(info: StoreInfo, reader: Reader, phase: np.ndarray | None) -> Handle:
    """Open the arrays of one store for sample reads, and read its per-sample metadata.

    ``phase`` holds the store's phenological phases (decoded by the dataset), or None.
    """
    group = open_group(info.path)
    times = (
        decode_times(group["time_"])
        if "time_" in group
        else np.full((info.samples, info.times), np.datetime64("NaT", "ns"), "datetime64[ns]")
    )

    def array(name: str) -> ArrayReader | None:
        if name not in group:
            return None
        return open_reader(group[name], info.path, name, reader)

    bands = array("bands")
    assert bands is not None  # validate() checked it
    return Handle(
        bands=bands,
        cloud_mask=array("cloud_mask"),
        label=array("label"),
        scene_label=group["scene_label"][...] if "scene_label" in group else None,
        times=times,
        has_times="time_" in group,
        phase=phase,
        lat=group["center_lat"][...] if "center_lat" in group else np.full(info.samples, np.nan),
        lon=group["center_lon"][...] if "center_lon" in group else np.full(info.samples, np.nan),
    )
