"""The train benchmark: eossl MoCo v2 against TorchGeo's ``MoCoTask`` v2, step and SGD."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .inputs import normalised_pairs
from .report import alternate, median, print_ratios, print_table, quiet_warnings

__all__ = ["eossl_moco", "train"]


def _sgd(module: Any, lr: float) -> Any:
    import torch

    params = [p for p in module.parameters() if p.requires_grad]
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)


def eossl_moco(bands: int, crop: int, backbone: str = "resnet18", **kwargs: Any) -> Any:
    """The eossl MoCo v2 of the comparison, stepping outside a Trainer (constant momentum)."""
    from eossl.augment import moco_recipe
    from eossl.methods.moco import MoCo

    module = MoCo(
        version=2,
        backbone=backbone,
        in_chans=bands,
        augment=moco_recipe(crop),
        proj_dim=128,
        hidden_dim=2048,
        temperature=0.2,
        queue_size=16384,
        momentum=0.99,
        **kwargs,
    )
    module.momentum = lambda start: start  # the cosine schedule needs a Trainer
    return module


def train(
    batch_size: int = 16,
    size: int = 264,
    crop: int = 224,
    steps: int = 2,
    rounds: int = 5,
    backbone: str = "resnet18",
    vs_torchgeo: bool = True,
    extra: dict[str, Callable[[int, int], Any]] | None = None,
) -> dict[str, float]:
    """Samples/s of eossl MoCo v2 and TorchGeo ``MoCoTask`` v2: step, backward, SGD.

    Same backbone, heads (2048 -> 128), queue (16,384), temperature, batch, crop
    and pre-loaded standardised seasonal pairs; both augment inside
    ``training_step``; both step the same SGD.

    Args:
        batch_size: locations per batch.
        size: input image size.
        crop: augmentation crop size.
        steps: training steps per timed round.
        rounds: timed rounds per side (after one warm-up step each).
        backbone: timm backbone of both sides.
        vs_torchgeo: also time TorchGeo.
        extra: more eossl modules to time, by name: ``factory(bands, crop) -> module``.
    """
    import torch

    quiet_warnings()
    pairs = normalised_pairs(batch_size, size)
    bands = pairs.shape[2]
    lr = 0.03 * batch_size / 256
    torch.manual_seed(0)
    modules: dict[str, tuple[Any, dict[str, Any]]] = {
        "eossl": (eossl_moco(bands, crop, backbone), {"image": pairs})
    }
    for name, factory in (extra or {}).items():
        modules[name] = (factory(bands, crop), {"image": pairs})
    if vs_torchgeo:
        from torchgeo.trainers import MoCoTask

        task = MoCoTask(
            model=backbone,
            in_channels=bands,
            version=2,
            layers=2,
            hidden_dim=2048,
            output_dim=128,
            lr=lr,
            weight_decay=1e-4,
            temperature=0.2,
            memory_bank_size=16384,
            moco_momentum=0.99,
            size=crop,
        )
        modules["torchgeo"] = (task, {"image": pairs.flatten(1, 2)})  # (B, 2*C, H, W)

    def case(module: Any, batch: dict[str, Any]) -> Callable[[], int]:
        module.train()
        opt = _sgd(module, lr)

        def go() -> int:
            for i in range(steps):
                loss = module.training_step(dict(batch), i)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            return steps * batch_size

        return go

    rates = alternate({name: case(m, b) for name, (m, b) in modules.items()}, rounds)
    print_table(
        f"train: MoCo v2 {backbone}, batch {batch_size}, 13x{size}x{size} -> {crop} px, "
        f"{torch.get_num_threads()} threads",
        "samples/s",
        {"cpu": rates},
        refs=("torchgeo",),
    )
    ratios = {}
    if vs_torchgeo:
        ratios["train_vs_torchgeo"] = median(rates["eossl"]) / median(rates["torchgeo"])
    print_ratios(ratios)
    return ratios
