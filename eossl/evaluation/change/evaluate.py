"""``eossl evaluate --task change``: frozen probe against CVA, and fine-tuning, cities held out.

Protocol: leave cities out, k folds over cities (a city is never in training and test).
Scores: precision, recall and F1 of the change class, per city and over all tested pixels,
with bootstrap 95% intervals over cities and the paired interval of each gain.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from eossl.errors import UserError
from eossl.evaluation.change.pairs import city_folds, convert_release, load_pairs, say_few_cities
from eossl.evaluation.change.probe import CardPairs, frozen_probe
from eossl.evaluation.change.scores import change_result, protocol
from eossl.evaluation.results import EvalResult
from eossl.weights.card import load_card

__all__ = ["evaluate_change"]


def evaluate_change(
    weights: str | os.PathLike,
    data: str | os.PathLike | None = None,
    dataset: str | None = None,
    out: str | os.PathLike = "eval",
    epochs: int = 5,
    seed: int = 0,
    num_folds: int | None = None,
    batch_size: int = 16,
    lr: float = 1e-3,
    chip: int = 64,
    finetune: bool = True,
    level_shift: bool = True,
    freeze_backbone: bool = False,
) -> list[EvalResult]:
    """Change detection for a weights card: frozen probe vs CVA, and fine-tuning.

    ``data`` is a change store, or with ``dataset="oscd"`` OSCD's release folder
    (converted into ``chip`` px tiles in a temporary folder). ``epochs`` of fine-tuning;
    ``finetune=False`` runs the frozen probe only; ``freeze_backbone`` fine-tunes the
    decoder only, on the frozen encoder. ``level_shift`` as in
    :class:`~eossl.evaluation.evaluate.CardInputs`.
    """
    if freeze_backbone and not finetune:
        raise UserError(
            "freeze_backbone trains a decoder: it needs fine-tuning (not --probe-only)"
        )
    from eossl.evaluation.change.finetune import check_backbone, finetune_change
    from eossl.evaluation.plots import plot_change_maps
    from eossl.evaluation.results import plot_result

    if dataset not in (None, "oscd"):
        raise UserError(f"--task change reads --dataset oscd or a change store, not {dataset}")
    if data is None:
        raise UserError("pass --data STORE, or --dataset oscd --root FOLDER")
    card_ref = weights
    card = load_card(card_ref)[0]
    with tempfile.TemporaryDirectory(prefix="eossl-oscd-") as work:
        store = convert_release(data, chip, Path(work)) if dataset else data
        pairs = load_pairs(store, source=data if dataset else None)
    if finetune:
        check_backbone(card)
    folds = city_folds(pairs.cities, num_folds or 5, seed)
    say_few_cities(pairs.cities, num_folds or 5, default=num_folds is None)
    images = CardPairs(card, pairs, level_shift)(pairs.bands)
    probe, maps = frozen_probe(card, card_ref, pairs, images, folds, seed)
    results = [probe]
    if finetune:
        tuned = finetune_change(
            card, card_ref, pairs, images, folds, seed, epochs, lr, batch_size, freeze_backbone
        )
        model = "TorchGeo ChangeDetectionTask, FC-Siam-diff"
        if freeze_backbone:
            model += ", encoder frozen (decoder trained)"
        details = protocol(pairs, folds, seed, model)
        details.update(epochs=epochs, lr=lr, freeze_backbone=freeze_backbone)
        name = "frozen encoder + decoder" if freeze_backbone else "fine-tuned"
        results.append(change_result(f"change, {name}", tuned[0], details))
        maps.update({f"{name}, {k}": v for k, v in tuned[1].items()})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "weights": card["name"],
        "data": str(data),
        "results": [r.as_dict() for r in results],
    }
    (out / "evaluate_change.json").write_text(json.dumps(record, indent=2, default=str))
    for r, stem in zip(results, ("probe", "finetune"), strict=False):
        plot_result(r, card["name"], out / f"evaluate_change_{stem}.png")
    plot_change_maps(pairs, maps, out / "evaluate_change_maps.png")
    return results
