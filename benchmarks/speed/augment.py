"""The augment benchmark: views/s of the eossl MoCo recipe and TorchGeo's (v2)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .inputs import normalised_pairs
from .report import alternate, median, print_ratios, print_table, quiet_warnings

__all__ = ["augment"]


def augment(
    batch_size: int = 32,
    size: int = 264,
    crop: int = 224,
    rounds: int = 7,
    vs_torchgeo: bool = True,
    extra: dict[str, Callable[[Any], Sequence[Any]]] | None = None,
) -> dict[str, float]:
    """Views/s of the eossl MoCo recipe and TorchGeo's ``moco_augmentations`` (v2).

    Both augment the same standardised batch of seasonal pairs (B, 2, 13, H, W):
    eossl through ``MoCo.augment_batch`` (what training runs), TorchGeo through
    its two pipelines, one per season, as ``MoCoTask.training_step`` does.

    Args:
        batch_size: locations per batch (2 views each).
        size: input image size.
        crop: output crop size of both recipes.
        rounds: timed rounds per side (after one warm-up).
        vs_torchgeo: also time TorchGeo.
        extra: more augmentations to time, by name: ``fn(pairs) -> views``.
    """
    import torch

    from eossl.augment import moco_recipe
    from eossl.methods.moco import MoCo

    quiet_warnings()
    pairs = normalised_pairs(batch_size, size)
    bands = pairs.shape[2]
    module = MoCo(backbone="resnet18", in_chans=bands, augment=moco_recipe(crop))
    fns: dict[str, Callable[[Any], Sequence[Any]]] = {
        "eossl": lambda x: module.augment_batch({"image": x})["views"]
    }
    fns.update(extra or {})
    if vs_torchgeo:
        from torchgeo.trainers.moco import moco_augmentations

        aug1, aug2 = moco_augmentations(2, crop, torch.full((bands,), 1.0 / bands))
        fns["torchgeo"] = lambda x: [aug1(x[:, 0]), aug2(x[:, 1])]

    def case(fn: Callable[[Any], Sequence[Any]]) -> Callable[[], int]:
        def go() -> int:
            with torch.no_grad():
                views = fn(pairs)
            if any(v.shape[-2:] != (crop, crop) for v in views):
                raise RuntimeError(f"augmentation returned {[tuple(v.shape) for v in views]}")
            return sum(len(v) for v in views)

        return go

    torch.manual_seed(0)
    rates = alternate({name: case(fn) for name, fn in fns.items()}, rounds)
    print_table(
        f"augment: MoCo v2 recipe, {batch_size} pairs of 13x{size}x{size} -> {crop} px, "
        f"{torch.get_num_threads()} threads",
        "views/s",
        {"cpu": rates},
        refs=("torchgeo",),
    )
    ratios = {}
    if vs_torchgeo:
        ratios["augment_vs_torchgeo"] = median(rates["eossl"]) / median(rates["torchgeo"])
    print_ratios(ratios)
    return ratios
