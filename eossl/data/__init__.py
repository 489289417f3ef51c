"""Zarr data layer: schema, datasets, datamodules, synthetic data and writers."""

from eossl.data.datamodule import SeasonalZarrDataModule
from eossl.data.dataset import SeasonalZarrDataset

__all__ = ["SeasonalZarrDataModule", "SeasonalZarrDataset"]
