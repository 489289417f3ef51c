"""SSL methods, one LightningModule each."""

from eossl.methods.anyband import AnyBandMAE
from eossl.methods.barlow import BarlowTwins
from eossl.methods.base import SSLMethod
from eossl.methods.byol import BYOL
from eossl.methods.crossmodal import CrossModal
from eossl.methods.data2vec import Data2Vec
from eossl.methods.dino import DINO
from eossl.methods.mae import MAE
from eossl.methods.moco import MoCo
from eossl.methods.seco import SeCo
from eossl.methods.simclr import SimCLR

METHODS: dict[str, type[SSLMethod]] = {
    "moco": MoCo,
    "seco": SeCo,
    "mae": MAE,
    "simclr": SimCLR,
    "byol": BYOL,
    "dino": DINO,
    "barlow": BarlowTwins,
    "data2vec": Data2Vec,
    "crossmodal": CrossModal,
    "anyband": AnyBandMAE,
}

__all__ = [
    "BYOL",
    "AnyBandMAE",
    "DINO",
    "MAE",
    "METHODS",
    "BarlowTwins",
    "CrossModal",
    "Data2Vec",
    "MoCo",
    "SSLMethod",
    "SeCo",
    "SimCLR",
]
