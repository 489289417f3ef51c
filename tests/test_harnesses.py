"""Weights in EO harnesses (#18): band names across tools, TerraTorch, PANGAEA and
torchgeo-bench adapters, export --harness configs, and the any-band (DOFA) encoder."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import timm
import torch
import yaml
from helpers import tiny
from torch import nn

from eossl.bands import band_info, find_channels
from eossl.cli import main
from eossl.errors import UserError
from eossl.sensors import get_sensor
from eossl.weights import load_verified
from eossl.weights.export import export_backbone
from eossl.weights.harness import HarnessEncoder, PangaeaEncoder
from eossl.weights.harness_configs import write_harness_configs


def _card(folder: Path, model: str = "resnet18", sensor: str = "s2", crop: int = 32) -> Path:
    """A real export of a random timm backbone for ``sensor``'s bands."""
    card = get_sensor(sensor)
    holder = nn.Module()
    holder.backbone = timm.create_model(
        model,
        in_chans=card.num_bands,
        num_classes=0,
        **({"dynamic_img_size": True} if "vit" in model else {}),
    )
    info = {
        "model": model,
        "in_chans": card.num_bands,
        "bands": card.band_names,
        "band_info": band_info(card),
        "sensor": card.name,
        "method": "moco",
        "mean": [100.0] * card.num_bands,
        "std": [10.0] * card.num_bands,
        "offset": 0.0,
        "crop_size": crop,
    }
    return export_backbone(holder, folder, f"{model}_{sensor}", info)


@pytest.fixture(scope="module")
def resnet_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _card(tmp_path_factory.mktemp("cards"))


def test_card_names_each_band_in_every_tools_convention() -> None:
    s2 = {r["name"]: r for r in band_info(get_sensor("s2"))}
    assert {"B8A", "B8a", "B08A", "NIR_NARROW", "nir08"} <= set(s2["B8A"]["aliases"])
    assert {"B2", "B02", "BLUE", "blue"} <= set(s2["B02"]["aliases"])
    assert s2["B08"]["terratorch"] == "NIR_BROAD" and s2["B10"]["terratorch"] == "CIRRUS"
    assert s2["B11"]["wavelength"] == pytest.approx(1.6137)
    oli = {r["name"]: r for r in band_info(get_sensor("landsat-oli-tirs-toa"))}
    assert oli["B5"]["terratorch"] == "NIR_NARROW" and oli["B10"]["terratorch"] == (
        "THERMAL_INFRARED_1"
    )
    s1 = band_info(get_sensor("s1"))
    assert [r["terratorch"] for r in s1] == ["VV", "VH"] and s1[0]["wavelength"] is None
    # every band of every shipped card has a common name
    from eossl.sensors import list_sensors

    assert all(b.common for s in list_sensors() for b in s.bands)


def test_find_channels_by_any_name_or_wavelength() -> None:
    records = band_info(get_sensor("s2"))
    spec = SimpleNamespace(name="red_edge_x", wavelength_um=0.705, sensor="s2")
    found = find_channels(records, ["B8a", "NIR_NARROW", "b02", "Blue", 0.665, spec, "vv", 5.0])
    assert found == [8, 8, 1, 1, 3, 4, None, None]


def test_find_channels_in_a_stacked_card_prefers_own_names() -> None:
    records = band_info("landsat-oli-sr+s2-l1c")
    names = [r["name"] for r in records]
    oli, s2 = names.index("B5"), names.index("B05")
    assert oli < s2  # the OLI channels come first, yet B05 (an OLI alias) is S2's own name
    assert find_channels(records, ["B5", "B05", "b05", "rededge071"]) == [oli, s2, s2, s2]
    # an alias that channels at different wavelengths share: the wavelength decides
    twins = [
        {"name": "x1", "aliases": ["x1", "edge"], "wavelength": 0.70},
        {"name": "x2", "aliases": ["x2", "edge"], "wavelength": 0.87},
    ]
    assert find_channels(twins, [SimpleNamespace(name="edge", wavelength_um=0.86)]) == [1]
    with pytest.raises(UserError, match="'edge' names several channels"):
        find_channels(twins, ["edge"])


def test_harness_encoder_puts_each_band_on_its_channel(resnet_card: Path) -> None:
    enc = HarnessEncoder(resnet_card, bands=["RED", "GREEN", "BLUE", "NIR_BROAD", "elevation"])
    assert enc.left_out == ["elevation"]
    assert "B01" in enc.missing and "B04" not in enc.missing
    assert enc.out_indices == [1, 2, 3, 4] and enc.out_channels == [64, 128, 256, 512]
    x = torch.randn(2, 5, 32, 32)
    full = torch.zeros(2, 13, 32, 32)
    full[:, [3, 2, 1, 7]] = x[:, :4]
    assert torch.equal(enc.arrange(x), full)
    enc.eval()
    reference = timm.create_model("resnet18", in_chans=13, num_classes=0)
    reference.load_state_dict(load_verified(resnet_card))
    reference.eval()
    maps = enc(x)
    expected = reference.forward_intermediates(full, indices=[1, 2, 3, 4], intermediates_only=True)
    assert [m.shape for m in maps] == [e.shape for e in expected]
    assert all(torch.equal(m, e) for m, e in zip(maps, expected, strict=True))
    assert torch.equal(enc.pooled(x), reference(full))


def test_harness_encoder_refuses_bands_it_cannot_use(resnet_card: Path) -> None:
    with pytest.raises(UserError, match="none of the bands"):
        HarnessEncoder(resnet_card, bands=["vv", "vh"])


def test_vit_levels_are_blocks(tmp_path: Path) -> None:
    card = _card(tmp_path, "vit_tiny_patch16_224")
    enc = HarnessEncoder(card, pretrained=True).eval()
    assert enc.out_indices == [2, 5, 8, 11] and enc.out_channels == [192] * 4
    assert [m.shape for m in enc(torch.randn(1, 13, 32, 32))] == [(1, 192, 2, 2)] * 4


def test_export_harness_configs_load_their_encoders(resnet_card: Path) -> None:
    paths = write_harness_configs(resnet_card, ["terratorch", "pangaea", "torchgeo-bench"])
    folder = resnet_card.parent
    assert {p.relative_to(folder).as_posix() for p in paths} == {
        "terratorch/resnet18_s2.yaml",
        "terratorch/custom_modules/__init__.py",
        "pangaea/encoder/resnet18_s2.yaml",
        "torchgeo-bench/resnet18_s2.yaml",
    }
    tt = yaml.safe_load((folder / "terratorch/resnet18_s2.yaml").read_text())
    args = tt["model"]["init_args"]["model_args"]
    assert args["backbone"] == "eossl" and args["backbone_weights"] == str(resnet_card.resolve())
    assert args["backbone_model_bands"][8] == "NIR_NARROW" and args["decoder"] == "UperNetDecoder"
    assert tt["data"]["init_args"]["means"] == [100.0] * 13
    pangaea = yaml.safe_load((folder / "pangaea/encoder/resnet18_s2.yaml").read_text())
    assert pangaea["_target_"] == "eossl.weights.harness.PangaeaEncoder"
    assert pangaea["output_dim"] == [64, 128, 256, 512]
    kwargs = {k: v for k, v in pangaea.items() if k != "_target_"}
    encoder = PangaeaEncoder(**kwargs).eval()
    encoder.load_encoder_weights(None)
    encoder.freeze()
    assert not any(p.requires_grad for p in encoder.parameters())
    image = {"optical": torch.randn(2, 13, 1, 32, 32)}
    maps = encoder(image)
    assert [m.shape[1] for m in maps] == encoder.output_dim
    plain = HarnessEncoder(resnet_card).eval()
    assert torch.equal(maps[-1], plain(image["optical"][:, :, 0])[-1])
    bench = yaml.safe_load((folder / "torchgeo-bench/resnet18_s2.yaml").read_text())
    assert bench["_target_"] == "eossl.weights.torchgeo_bench_model.EosslBenchModel"
    adapter = Path(__file__).parents[1] / "eossl/weights/torchgeo_bench_model.py"
    compile(adapter.read_text(), "m", "exec")
    with pytest.raises(UserError, match="unknown harness"):
        write_harness_configs(resnet_card, ["geobench"])


def test_torchgeo_bench_band_specs_give_pooled_features(resnet_card: Path) -> None:
    specs = [
        SimpleNamespace(name="red", wavelength_um=0.665, sensor="s2"),
        SimpleNamespace(name="nir", wavelength_um=0.842, sensor="s2"),
        SimpleNamespace(name="dem", wavelength_um=None, sensor="dem"),
    ]
    enc = HarnessEncoder(resnet_card, bands=specs).eval()
    assert enc.slots.tolist() == [3, 7] and enc.left_out == [str(specs[2])]
    assert enc.pooled(torch.randn(3, 3, 32, 32)).shape == (3, 512)


def test_terratorch_builds_a_segmentation_model_with_the_same_tensors(resnet_card: Path) -> None:
    pytest.importorskip("terratorch", reason="slow job: bash .ci/terratorch")
    from terratorch.models import EncoderDecoderFactory

    import eossl.weights.terratorch_backbone  # noqa: F401  registers backbone "eossl"

    model = EncoderDecoderFactory().build_model(
        task="segmentation",
        backbone="eossl",
        backbone_weights=str(resnet_card),
        backbone_model_bands=["BLUE", "GREEN", "RED", "NIR_NARROW"],
        decoder="UperNetDecoder",
        num_classes=3,
    )
    state = model.encoder.model.state_dict()
    saved = load_verified(resnet_card)
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], v) for k, v in saved.items())
    assert model.encoder.slots.tolist() == [1, 2, 3, 8]
    model.eval()
    assert model(torch.randn(2, 4, 32, 32)).output.shape == (2, 3, 32, 32)
    # the config `eossl export --harness terratorch` writes parses in TerraTorch's own CLI
    import subprocess
    import sys

    (config, _) = write_harness_configs(resnet_card, ["terratorch"])
    cli = "from terratorch.__main__ import main; main()"
    shown = subprocess.run(
        [sys.executable, "-c", cli, "fit", "-c", str(config), "--print_config"],
        capture_output=True,
        text=True,
        cwd=config.parent,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "backbone: eossl" in shown.stdout and "NIR_NARROW" in shown.stdout


# ---- any-band encoder -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def anyband_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The any-band MAE, one fast_dev_run on co-located S1, S2 and Landsat stores."""
    root = tmp_path_factory.mktemp("anyband")
    sensors = "s1,s2,landsat-oli-sr"
    args = ["--sensor", sensors, "--samples", "8", "--size", "40", "--seasons", "2"]
    assert main(["synth", str(root / "s12"), *args]) == 0
    out = root / "run"
    pretrain = [
        "pretrain",
        "--method",
        "anyband",
        "--sensor",
        sensors,
        "--data",
        str(root / "s12"),
    ]
    pretrain += ["--preset", "demo", "--trainer.fast_dev_run", "2", "--out", str(out)]
    assert main([*pretrain, "--data.num_workers", "0", "--data.batch_size", "4"]) == 0
    (card,) = (out / "weights").glob("*.json")
    return card


def test_anyband_weights_load_into_torchgeo_dofa(anyband_card: Path) -> None:
    from torchgeo.models import DOFA

    card = json.loads(anyband_card.read_text())
    assert (
        card["any_band"] and card["model"] == "dofa_tiny_patch8" and card["in_chans"] == 2 + 13 + 7
    )
    assert card["sensor"] == "s1-grd+s2-l1c+landsat-oli-sr"
    dofa = DOFA(img_size=32, patch_size=8, embed_dim=192, depth=4, num_heads=3, num_classes=0)
    dofa.load_state_dict(load_verified(anyband_card), strict=True)
    ours = HarnessEncoder(anyband_card, bands=["B04", "B03", "B02"]).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(
            ours.pooled(x), dofa.eval().forward_features(x, [0.6646, 0.5598, 0.4927]), atol=1e-5
        )


def test_anyband_serves_any_band_subset(anyband_card: Path) -> None:
    s1 = HarnessEncoder(anyband_card, bands=["VV"]).eval()
    assert s1.wavelengths == [3.75]
    assert s1.pooled(torch.randn(2, 1, 32, 32)).shape == (2, 192)
    other = HarnessEncoder(anyband_card, bands=[0.49, 0.56, 0.865, 11.0]).eval()  # by wavelength
    assert other.wavelengths == [0.4927, 0.56, 0.865, 11.0]  # nearest: S2 B02, OLI B3, OLI B5
    maps = other(torch.randn(1, 4, 48, 48))  # any size: the position grid is resampled
    assert [m.shape for m in maps] == [(1, 192, 6, 6)] * len(other.out_indices)
    with pytest.raises(UserError, match="has no wavelength"):
        HarnessEncoder(anyband_card, bands=["elevation"])


def test_evaluate_anyband_on_a_band_subset(
    anyband_card: Path, s2_store: Path, tmp_path: Path
) -> None:
    from eossl.evaluation.evaluate import evaluate

    result = evaluate(
        anyband_card, s2_store, "knn", out=tmp_path / "ev", channels=["B02", "B03", "B04", "B08"]
    )
    assert 0.0 <= result.pretrained <= 1.0
    saved = json.loads((tmp_path / "ev" / "evaluate_knn.json").read_text())
    assert saved["weights"] == anyband_card.stem
    with pytest.raises(UserError, match="--channels elevation"):
        evaluate(anyband_card, s2_store, "knn", out=tmp_path / "e2", channels=["elevation"])


def test_export_cli_writes_harness_configs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    fit = ["pretrain", "--out", str(out), "--trainer.max_epochs", "1", *tiny()]
    fit += ["--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "0"]
    assert main(fit) == 0
    ckpt = out / "checkpoints" / "last.ckpt"
    harness = ["--harness", "pangaea,terratorch"]
    assert main(["export", str(ckpt), str(tmp_path / "w"), "--name", "m", *harness]) == 0
    assert (tmp_path / "w" / "pangaea" / "encoder" / "m.yaml").is_file()
    assert (tmp_path / "w" / "terratorch" / "m.yaml").is_file()
    assert main(["export", str(ckpt), str(tmp_path / "w"), "--harness", "geobench"]) == 2
