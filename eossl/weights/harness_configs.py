"""The small configs each EO harness expects for a new encoder (``eossl export --harness``).

Written next to the card, in ``<card folder>/<harness>/``:

- ``terratorch/NAME.yaml``: a ``terratorch fit`` config whose model is
  ``backbone: eossl`` (see :mod:`eossl.weights.terratorch_backbone`), with a UPerNet decoder
  and the card's normalisation for TerraTorch's datamodules; ``custom_modules/``
  makes TerraTorch import eossl's backbone.
- ``pangaea/encoder/NAME.yaml``: a PANGAEA encoder config for
  :class:`~eossl.weights.harness.PangaeaEncoder` (input bands per modality, input size,
  output layers and widths).
- ``torchgeo-bench/NAME.yaml``: a torchgeo-bench model config for
  :class:`~eossl.weights.torchgeo_bench_model.EosslBenchModel`.

Each holds the card's absolute path; the encoder checks the weights' sha256 when
it loads them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from eossl.bands import channel_records
from eossl.errors import UserError
from eossl.weights.export import atomic_write
from eossl.weights.harness import HarnessEncoder

__all__ = ["HARNESSES", "write_harness_configs"]

HARNESSES = ("terratorch", "pangaea", "torchgeo-bench")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: p.write_text(text))
    return path


def _yaml(path: Path, header: str, body: dict[str, Any]) -> Path:
    return _write(path, header + yaml.safe_dump(body, sort_keys=False))


def _terratorch(card: dict, card_path: Path, encoder: HarnessEncoder, out: Path) -> list[Path]:
    bands = [r["terratorch"] or r["name"] for r in channel_records(card)]
    vit = encoder.any_band or len(set(encoder.out_channels)) == 1
    model_args: dict[str, Any] = {
        "backbone": "eossl",
        "backbone_weights": str(card_path),
        "backbone_model_bands": bands,
        "backbone_out_indices": encoder.out_indices,
    }
    if vit:  # one resolution from every block: make a pyramid for UPerNet
        model_args["necks"] = [{"name": "LearnedInterpolateToPyramidal"}]
    model_args |= {"decoder": "UperNetDecoder", "num_classes": 2}
    config = {
        "custom_modules_path": str(out / "custom_modules"),
        "model": {
            "class_path": "terratorch.tasks.SemanticSegmentationTask",
            "init_args": {"model_factory": "EncoderDecoderFactory", "model_args": model_args},
        },
        "data": {
            "class_path": "terratorch.datamodules.GenericNonGeoSegmentationDataModule",
            "init_args": {
                "batch_size": 8,
                "num_workers": 4,
                "num_classes": 2,
                **{f"{split}_data_root": None for split in ("train", "val", "test")},
                "dataset_bands": bands,
                "output_bands": bands,
                "means": card["mean"],
                "stds": card["std"],
            },
        },
    }
    init = _write(
        out / "custom_modules" / "__init__.py",
        '"""Registers eossl\'s TerraTorch backbone."""\n\n'
        "import eossl.weights.terratorch_backbone\n",
    )
    header = (
        f"# eossl weights {card['name']} ({card.get('method')} on {card.get('sensor')}) "
        "in TerraTorch.\n# Set num_classes (model and data) and the data roots, then:\n"
        f"#     terratorch fit -c {card['name']}.yaml\n"
        "# means/stds: the pretraining normalisation, in stored units; "
        "band names are TerraTorch's.\n"
    )
    return [_yaml(out / f"{card['name']}.yaml", header, config), init]


def _pangaea(card: dict, card_path: Path, encoder: HarnessEncoder, out: Path) -> list[Path]:
    records = channel_records(card)
    optical = [r["name"] for r in records if r["kind"] != "sar"]
    sar = [r["name"].upper() for r in records if r["kind"] == "sar"]
    config = {
        "_target_": "eossl.weights.harness.PangaeaEncoder",
        "encoder_weights": str(card_path),
        "download_url": None,
        "input_size": int(card["crop_size"]),
        "input_bands": {k: v for k, v in (("optical", optical), ("sar", sar)) if v},
        "output_layers": encoder.out_indices,
        "output_dim": encoder.out_channels,
    }
    header = (
        f"# eossl weights {card['name']} as a PANGAEA encoder: copy to configs/encoder/ and "
        f"run with encoder={card['name']}.\n# Normalise with the card's mean/std: "
        f"{card_path.name}.\n"
    )
    return [_yaml(out / "encoder" / f"{card['name']}.yaml", header, config)]


def _torchgeo_bench(card: dict, card_path: Path, encoder: HarnessEncoder, out: Path) -> list[Path]:
    config = {
        "_target_": "eossl.weights.torchgeo_bench_model.EosslBenchModel",
        "weights": str(card_path),
        "pretrained": True,
        "name": card["name"],
    }
    header = (
        f"# eossl weights {card['name']} in torchgeo-bench: copy to "
        "src/torchgeo_bench/conf/model/ and run\n"
        f"# torchgeo-bench run model={card['name']} dataset.names=[m-eurosat]\n"
    )
    return [_yaml(out / f"{card['name']}.yaml", header, config)]


_WRITERS = {"terratorch": _terratorch, "pangaea": _pangaea, "torchgeo-bench": _torchgeo_bench}


def write_harness_configs(card_path: str | os.PathLike, harnesses: list[str]) -> list[Path]:
    """Write each harness's config for the card into ``<card folder>/<harness>/``."""
    unknown = [h for h in harnesses if h not in _WRITERS]
    if unknown:
        raise UserError(f"unknown harness {unknown[0]!r}; choose from {', '.join(HARNESSES)}")
    card_path = Path(card_path).resolve()
    encoder = HarnessEncoder(card_path, pretrained=False)
    written = []
    for harness in harnesses:
        out = card_path.parent / harness
        written += _WRITERS[harness](encoder.card, card_path, encoder, out)
    return written
