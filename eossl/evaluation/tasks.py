"""TorchGeo's Lightning tasks under the names of the installed release.

TorchGeo 0.10 moved its tasks to ``torchgeo.tasks`` (``SemanticSegmentation``,
``ChangeDetection``, ``Classification``) and kept ``torchgeo.trainers.*Task`` as
deprecated aliases; 0.8 and 0.9 have only the latter. Both take the same arguments and
load eossl weights the same way (a ``WeightsEnum`` member or a ``.ckpt`` path).
"""

from __future__ import annotations

import importlib
from typing import Literal

__all__ = ["TaskName", "torchgeo_task"]

TaskName = Literal["SemanticSegmentation", "ChangeDetection", "Classification"]


def torchgeo_task(name: TaskName) -> type:
    """``torchgeo.tasks.<name>`` (0.10+), else ``torchgeo.trainers.<name>Task``."""
    try:
        return getattr(importlib.import_module("torchgeo.tasks"), name)
    except (ImportError, AttributeError):
        return getattr(importlib.import_module("torchgeo.trainers"), f"{name}Task")
