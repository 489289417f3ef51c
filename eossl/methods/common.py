"""Pieces shared by the methods: seasonal validation, frozen teacher copies, stacked sensors."""

from __future__ import annotations

import copy
from itertools import accumulate
from typing import Any

from lightly.models.utils import deactivate_requires_grad
from torch import Tensor, nn
from torch.nn import functional as F

from eossl.errors import UserError
from eossl.methods.base import SSLMethod
from eossl.models import is_vit
from eossl.sensors import Sensor, get_sensors

__all__ = ["SeasonalMethod", "frozen_copy", "require_vit", "stacked_sensors"]


def frozen_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` without gradients: the momentum (teacher) encoder."""
    teacher = copy.deepcopy(module)
    deactivate_requires_grad(teacher)
    return teacher


def require_vit(name: str, method: str) -> None:
    """One-line error when a ViT-only method gets a CNN backbone."""
    if not is_vit(name):
        raise UserError(
            f"{method} needs a ViT backbone, got {name!r}; "
            "pass --model.init_args.backbone vit_small_patch16_224"
        )


def stacked_sensors(sensors: str, in_chans: int) -> tuple[list[Sensor], list[slice]]:
    """The cards of sensors stacked as channels (``s1-grd,s2-l1c``) and each one's channels.

    One-line error when their bands do not add up to ``in_chans``.
    """
    cards = get_sensors(sensors)
    counts = [c.num_bands for c in cards]
    if sum(counts) != in_chans:
        raise UserError(
            f"sensors {sensors} have {sum(counts)} bands, but in_chans is {in_chans}; "
            "pass the data's --sensor"
        )
    starts = [0, *accumulate(counts)]
    return cards, [slice(a, b) for a, b in zip(starts, starts[1:], strict=False)]


class SeasonalMethod(SSLMethod):
    """A joint-embedding method whose positive pair is two seasons of one location.

    The datamodule's ``augment_batch`` gives one augmented view per season, so
    ``self.views(batch)[:2]`` are season A and season B of each location.
    """

    def log_loss(self, loss: Tensor, features: Tensor) -> None:
        """Log the loss and keep backbone features for the collapse monitors."""
        self.track(features, len(features))
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Alignment of the two seasons' embeddings on held-out locations (no augmentation)."""
        image = batch["image"]
        a, b = self.embed(image[:, 0]), self.embed(image[:, -1])
        self.log("val_season_cosine", F.cosine_similarity(a, b).mean(), sync_dist=True)


class ProjectedPairMethod(SeasonalMethod):
    """Seasonal methods whose loss compares the two seasons' projections directly.

    Subclasses set ``self.projection_head`` and ``self.criterion``; the step is
    ``criterion(head(f(season A)), head(f(season B)))`` (SimCLR, Barlow Twins), plus the
    dense term with ``dense_weight``.
    """

    pairs = True

    projection_head: nn.Module
    criterion: nn.Module
    dense_pairs = True

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        """The criterion between the projections of the two seasons."""
        season_a, season_b = self.views(batch)[:2]
        (h_a, map_a), (h_b, map_b) = self.embed_with_map(season_a), self.embed_with_map(season_b)
        loss = self.pair_loss(self.projection_head(h_a), self.projection_head(h_b))
        self.log_loss(loss, h_a)
        spectral = (self.spectral_term(h_a, season_a) + self.spectral_term(h_b, season_b)) / 2
        if map_a is not None:  # both maps or neither: dense_weight
            spectral = spectral + self.dense_term(map_a, map_b, batch)
        return loss + spectral

    def pair_loss(self, z_a: Tensor, z_b: Tensor) -> Tensor:
        """The criterion between the two seasons' projections."""
        return self.criterion(z_a, z_b)
