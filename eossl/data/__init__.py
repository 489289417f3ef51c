"""Zarr data layer: the datasets and datamodules that training reads.

Beside them: :mod:`eossl.data.io` (the store format, reading and writing stores),
:mod:`eossl.data.convert` (other archives -> stores), :mod:`eossl.data.stats` (band
statistics) and :mod:`eossl.data.synthetic` (synthetic scenes and stores).

The names below are imported on first use, so that a DataLoader worker that
unpickles the dataset does not import Lightning (seconds per worker).
"""

from importlib import import_module
from typing import Any

__all__ = ["SeasonalZarrDataModule", "SeasonalZarrDataset"]

_WHERE = {
    "SeasonalZarrDataModule": "eossl.data.datamodule",
    "SeasonalZarrDataset": "eossl.data.dataset",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'eossl.data' has no attribute {name!r}")
