"""SSL methods, one LightningModule each."""

from eossl.methods.base import SSLMethod
from eossl.methods.moco import MoCo
from eossl.methods.seco import SeCo

METHODS: dict[str, type[SSLMethod]] = {"moco": MoCo, "seco": SeCo}

__all__ = ["METHODS", "MoCo", "SSLMethod", "SeCo"]
