"""eossl: self-supervised pretraining on multispectral Earth-observation imagery."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eossl")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
