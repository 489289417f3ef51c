"""Exported weights in TorchGeo: by path and as a WeightsEnum member; registry; evaluation."""

import json
from pathlib import Path

import pytest
import torch
from helpers import tiny

from eossl.cli import main
from eossl.errors import UserError
from eossl.evaluation.tasks import torchgeo_task
from eossl.weights import EosslWeightsEnum, get, list_cards, load_verified, torchgeo_weights

TINY = tiny()
# torchgeo.tasks.* on TorchGeo 0.10+, torchgeo.trainers.*Task before
SemanticSegmentationTask = torchgeo_task("SemanticSegmentation")
ClassificationTask = torchgeo_task("Classification")


def _segmentation_classes() -> list[type]:
    """Every name TorchGeo offers: ``tasks.SemanticSegmentation`` (0.10+) and the old one."""
    import torchgeo.trainers

    found = [torchgeo.trainers.SemanticSegmentationTask]
    try:
        from torchgeo.tasks import SemanticSegmentation

        found.append(SemanticSegmentation)
    except ImportError:
        pass
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pretrain") / "run"
    assert (
        main(
            [
                "pretrain",
                "--out",
                str(out),
                "--trainer.max_epochs",
                "1",
                "--trainer.limit_train_batches",
                "2",
                "--trainer.limit_val_batches",
                "0",
                *TINY,
            ]
        )
        == 0
    )
    return out


@pytest.fixture
def exported(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EOSSL_WEIGHTS", str(tmp_path / "registry"))
    assert (
        main(
            [
                "export",
                str(run / "checkpoints" / "last.ckpt"),
                str(tmp_path / "w"),
                "--name",
                "tiny",
                "--register",
            ]
        )
        == 0
    )
    return tmp_path / "w" / "tiny.json"


def test_export_files_and_card(exported: Path) -> None:
    card = json.loads(exported.read_text())
    folder = exported.parent
    for key in (
        "model",
        "in_chans",
        "bands",
        "sensor",
        "method",
        "mean",
        "std",
        "offset",
        "crop_size",
        "epochs",
        "dataset",
        "eossl_version",
        "sha256",
    ):
        assert key in card, key
    assert card["in_chans"] == 13 == len(card["mean"]) and card["crop_size"] == 32
    pth = torch.load(folder / "tiny.pth", weights_only=True)
    from safetensors.torch import load_file

    st = load_file(str(folder / "tiny.safetensors"))
    assert pth.keys() == st.keys() and all(torch.equal(pth[k], st[k]) for k in pth)
    assert "conv1.weight" in pth  # timm key names


def test_segmentation_task_loads_by_path_and_member(exported: Path) -> None:
    state = torch.load(exported.with_suffix(".pth"), weights_only=True)
    member = torchgeo_weights(exported)
    for cls in _segmentation_classes():
        for weights in (str(exported.with_suffix(".ckpt")), member):
            task = cls(
                model="unet", backbone="resnet18", weights=weights, in_channels=13, num_classes=7
            )
            encoder = task.model.encoder.state_dict()
            for key, value in state.items():
                assert torch.equal(encoder[key], value), (cls, key)


def test_current_task_names_are_used() -> None:
    """On TorchGeo 0.10+ eossl builds ``torchgeo.tasks`` classes, not the deprecated aliases."""
    import torchgeo

    major, minor = (int(v) for v in torchgeo.__version__.split(".")[:2])
    module = "torchgeo.tasks" if (major, minor) >= (0, 10) else "torchgeo.trainers"
    for name in ("SemanticSegmentation", "ChangeDetection", "Classification"):
        assert torchgeo_task(name).__module__.startswith(module), name


def test_classification_task_loads(exported: Path) -> None:
    state = torch.load(exported.with_suffix(".pth"), weights_only=True)
    for weights in (str(exported.with_suffix(".ckpt")), torchgeo_weights(exported)):
        task = ClassificationTask(model="resnet18", weights=weights, in_channels=13, num_classes=5)
        assert torch.equal(task.model.conv1.weight, state["conv1.weight"])


def test_member_carries_torchgeo_meta_and_transforms(exported: Path) -> None:
    from torchvision.models._api import WeightsEnum  # what TorchGeo 0.8 and 0.10 check

    member = torchgeo_weights(exported)
    assert isinstance(member, WeightsEnum) and isinstance(member, EosslWeightsEnum)
    for key in ("dataset", "in_chans", "model", "publication", "repo", "ssl_method", "bands"):
        assert key in member.meta
    card = json.loads(exported.read_text())
    x = torch.rand(2, 13, 50, 50) * 3000
    out = member.transforms({"image": x})["image"]
    assert out.shape == (2, 13, 32, 32)
    mean = torch.tensor(card["mean"])[None, :, None, None]
    std = torch.tensor(card["std"])[None, :, None, None]
    flat = torch.full((1, 13, 50, 50), 1.0) * mean
    assert member.transforms({"image": flat})["image"].abs().max() < 1e-4
    assert torch.allclose(
        member.transforms({"image": flat + std})["image"], torch.ones(1, 13, 32, 32), atol=1e-4
    )


def test_tampered_file_is_refused(exported: Path) -> None:
    pth = exported.with_suffix(".pth")
    state = torch.load(pth, weights_only=True)
    state["conv1.weight"] += 1
    torch.save(state, pth)
    with pytest.raises(UserError, match="does not match the card"):
        load_verified(exported)
    with pytest.raises(UserError, match="does not match the card"):
        SemanticSegmentationTask(
            model="unet",
            backbone="resnet18",
            weights=torchgeo_weights(exported),
            in_channels=13,
            num_classes=2,
        )


def test_bad_weights_matching_their_card_are_one_line_errors(exported: Path) -> None:
    """A file whose sha256 the card vouches for may still be no state_dict, NaN, or unfit."""
    from eossl.models import encoder_from_card
    from eossl.weights import load_card
    from eossl.weights.verified import sha256

    pth = exported.with_suffix(".pth")
    state = torch.load(pth, weights_only=True)
    info = json.loads(exported.read_text())
    bad = {
        "not a state_dict of tensors": torch.zeros(3),
        "hold NaN or inf": {k: v * float("nan") for k, v in state.items()},
        "do not fit": {k: v for k, v in state.items() if k != "conv1.weight"},
        "conv1.weight": {**state, "conv1.weight": state["conv1.weight"][:, :3]},
    }
    for message, content in bad.items():
        torch.save(content, pth)
        exported.write_text(json.dumps({**info, "sha256": sha256(pth)}))
        with pytest.raises(UserError, match=message) as err:
            encoder_from_card(load_card(exported)[0], exported)
        assert "\n" not in str(err.value)
    pth.write_bytes(b"not a torch file")
    exported.write_text(json.dumps({**info, "sha256": sha256(pth)}))
    with pytest.raises(UserError, match="not a plain tensor state_dict"):
        load_verified(exported)


def test_registry(exported: Path, capsys: pytest.CaptureFixture) -> None:
    assert [c["name"] for c in list_cards()] == ["tiny"]
    assert get("tiny").meta["ssl_method"] == "moco"
    capsys.readouterr()
    assert main(["weights", "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    with pytest.raises(UserError, match="no such weights card"):
        get("nope")
    from eossl.weights.card import registry_dir

    registry = registry_dir()
    (registry / "dangling.json").symlink_to(registry / "gone.json")  # was: RecursionError
    (registry / "folder.json").mkdir()
    assert main(["weights", "list"]) == 0
    assert "tiny" in capsys.readouterr().out
    assert main(["evaluate", "nope", "--data", "unused.zarr"]) == 2
    assert "nope: no such weights card" in _error(capsys)


@pytest.mark.parametrize("task", ["knn", "linear", "segmentation"])
def test_evaluate(
    task: str,
    exported: Path,
    s2_store: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
    recwarn: pytest.WarningsRecorder,
) -> None:
    import logging

    caplog.set_level(logging.INFO)
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                str(exported),
                "--data",
                str(s2_store),
                "--task",
                task,
                "--out",
                str(out),
                *(["--epochs", "1"] if task == "segmentation" else []),
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "pretrained" in text and "random init" in text
    result = json.loads((out / f"evaluate_{task}.json").read_text())
    assert 0 <= result["pretrained"] <= 1 and 0 <= result["random"] <= 1
    assert (out / f"evaluate_{task}.png").stat().st_size > 1000
    noise = ("GPU available", "TPU available", "litlogger", "Seed set to")
    assert not [r for r in caplog.records if any(n in r.getMessage() for n in noise)]
    assert not [w for w in recwarn if "treespec" in str(w.message)]  # no _pytree notice


def test_segmentation_decoder_on_the_frozen_encoder(
    exported: Path, s2_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    args = ["evaluate", str(exported), "--data", str(s2_store), "--task", "segmentation"]
    assert main([*args, "--freeze-backbone", "--epochs", "1", "--batch-size", "4",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "frozen encoder" in capsys.readouterr().out  # the table's title
    result = json.loads((out / "evaluate_segmentation.json").read_text())
    assert result["task"] == "segmentation, frozen encoder + decoder"
    assert result["details"]["freeze_backbone"] is True


def test_evaluate_rejects_unlabelled_store(
    exported: Path, v11_s2: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["evaluate", str(exported), "--data", str(v11_s2)]) == 2
    assert "no 'label' variable" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["knn", "linear"])
def test_evaluate_multi_label(task: str, exported: Path, s2_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                str(exported),
                "--data",
                str(s2_store),
                "--task",
                task,
                "--labels",
                "multi",
                "--out",
                str(out),
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    result = json.loads((out / f"evaluate_{task}.json").read_text())
    assert result["metric"].startswith("F1") and 0 <= result["pretrained"] <= 1


def test_multi_label_targets() -> None:
    from eossl.evaluation.evaluate import image_targets

    masks = torch.zeros(2, 10, 10, dtype=torch.long)
    masks[0, :5] = 2  # half class 2, half class 0
    masks[1, 0, 0] = 1  # 1% class 1: below the 5% threshold
    multi = image_targets(masks, 3, "multi")
    assert multi.tolist() == [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    assert image_targets(masks, 3, "majority").tolist() == [0, 0]


def test_card_files_stay_in_the_card_folder(exported: Path, tmp_path: Path) -> None:
    """A card naming a file elsewhere is refused before that file is opened or hashed."""
    card = json.loads(exported.read_text())
    for kind in ("pth", "safetensors"):  # safetensors: a kind this load does not read
        for bad in ("../../../../etc/passwd", "/etc/passwd", ".."):
            evil_card = {**card, "files": {**card["files"], kind: bad}}
            evil = exported.with_name("evil.json")
            evil.write_text(json.dumps(evil_card))
            with pytest.raises(UserError, match=f"files\\['{kind}'\\] must be a file name in"):
                load_verified(evil)


def test_card_file_linked_from_outside_is_refused(exported: Path, tmp_path: Path) -> None:
    pth = exported.with_suffix(".pth")
    outside = tmp_path / "elsewhere.pth"
    pth.rename(outside)
    pth.symlink_to(outside)  # same bytes, same sha256: only the place is wrong
    with pytest.raises(UserError, match="outside the card's folder"):
        load_verified(exported)


def test_renamed_card_is_the_one_loaded(exported: Path) -> None:
    """torchgeo_weights uses the card it was given, not one found by the card's name."""
    renamed = exported.with_name("renamed.json")
    renamed.write_text(exported.read_text())
    exported.write_text("{}")  # the card of the same name is no longer a card
    weights = torchgeo_weights(renamed)
    assert weights.meta["card"] == str(renamed)
    assert set(weights.get_state_dict()) == set(load_verified(renamed))


def test_edited_torchgeo_checkpoint_is_refused(exported: Path) -> None:
    from eossl.weights import verified_checkpoint

    path = verified_checkpoint(exported)
    SemanticSegmentationTask(
        model="unet", backbone="resnet18", weights=path, in_channels=13, num_classes=3
    )
    ckpt = torch.load(path, weights_only=True)
    key = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][key] = ckpt["state_dict"][key] + 1
    torch.save(ckpt, path)
    with pytest.raises(UserError, match="sha256"):
        verified_checkpoint(exported)


def test_export_name_is_not_a_path(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "a" / "b"
    args = ["export", str(run / "checkpoints" / "last.ckpt"), str(out), "--name", "../../x"]
    assert main(args) == 2
    assert "a weights name is letters" in capsys.readouterr().err
    assert not list(tmp_path.rglob("x.*"))


def test_exported_files_share_one_mode(exported: Path) -> None:
    card = json.loads(exported.read_text())
    modes = {(exported.parent / f).stat().st_mode & 0o777 for f in card["files"].values()}
    assert modes == {exported.stat().st_mode & 0o777}


def _error(capsys: pytest.CaptureFixture) -> str:
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    return line


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"model": "local-dir:/etc"}, "'model' must be a timm model name, not a source"),
        ({"model": "hf-hub:someone/model"}, "not a source ('hf-hub:someone/model')"),
        ({"files": ["tiny.pth"]}, "'files' must map kinds to file names"),
        ({"bands": ["B04"] * 13}, "'bands' must name 13 different bands"),
        ({"mean": [1e308] * 13}, "'mean' must hold finite numbers"),
        ({"std": [1e-300] * 13}, "'std' must hold finite numbers above 0"),
        ({"crop_size": 100_000}, "'crop_size' 1-2048"),
        ({"levels": [1]}, "'levels' must list objects with a 'sensor'"),
        ({"sensor": "/tmp/elsewhere/outside.yaml"}, "'sensor' must be a sensor card name"),
        ({"in_chans": -13}, "'in_chans' must be at least 1"),  # was: 'mean' must list -13
        ({"in_chans": 12}, "'bands' must name 12 different bands"),  # was: 'mean' must list
        (
            {"levels": [{"sensor": "s2-l2a", "mean": [float("nan")] * 13, "std": [1.0] * 13}]},
            "levels[s2-l2a].'mean' must hold finite numbers",
        ),
    ],
)
def test_card_fields_are_checked(
    exported: Path, tmp_path: Path, edit: dict, message: str, capsys: pytest.CaptureFixture
) -> None:
    """Each field a card is read by: one line naming it, before any file or network is used."""
    folder = tmp_path / "edited"
    folder.mkdir()
    for f in exported.parent.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    card = folder / exported.name
    card.write_text(json.dumps({**json.loads(card.read_text()), **edit}))
    assert main(["evaluate", str(card), "--data", "unused.zarr"]) == 2
    assert message in _error(capsys)


def test_backbone_is_a_model_name_not_a_source() -> None:
    from eossl.models import create_backbone

    with pytest.raises(UserError, match="a timm model name"):
        create_backbone("local-dir:/tmp", in_chans=3)


def _edited_checkpoint(run: Path, tmp_path: Path, edit) -> Path:
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    edit(state)
    path = tmp_path / "edited.ckpt"
    torch.save(state, path)
    return path


def test_incomplete_or_broken_checkpoints_are_not_exported(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Weights left at random init, NaN statistics or a flipped byte: nothing written."""

    def drop_backbone(state: dict) -> None:
        state["state_dict"] = {
            k: v for k, v in state["state_dict"].items() if not k.startswith("backbone.")
        }

    def nan_mean(state: dict) -> None:
        state["eossl"]["mean"] = [float("nan")] * 13

    def wrong_shape(state: dict) -> None:
        state["state_dict"]["backbone.conv1.weight"] = torch.zeros(64, 3, 7, 7)

    cases = [
        (drop_backbone, "not a complete eossl checkpoint"),
        (nan_mean, "'mean' must hold finite numbers"),
        (wrong_shape, "its weights do not fit MoCo"),
        (lambda s: s["hyper_parameters"].update(bogus=1), "hyper-parameters do not build MoCo"),
        (lambda s: s.update(state_dict=[]), "no 'state_dict' of tensors"),
    ]
    for edit, message in cases:
        path = _edited_checkpoint(run, tmp_path, edit)
        assert main(["export", str(path), str(tmp_path / "out")]) == 2
        assert message in _error(capsys), message
        assert not list((tmp_path / "out").glob("*")) if (tmp_path / "out").exists() else True
    flipped = bytearray((run / "checkpoints" / "last.ckpt").read_bytes())
    flipped[len(flipped) // 2] ^= 0x40  # inside the tensors' bytes
    (tmp_path / "flipped.ckpt").write_bytes(flipped)
    assert main(["export", str(tmp_path / "flipped.ckpt"), str(tmp_path / "out")]) == 2
    assert "fails its checksum (damaged on disk)" in _error(capsys)


def test_resuming_another_runs_checkpoint_is_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A MoCo checkpoint given to a SimCLR run: named, not Lightning's missing-keys dump."""
    ckpt = run / "checkpoints" / "last.ckpt"
    args = ["pretrain", "--method", "simclr", "--out", str(tmp_path / "r"), *tiny(moco=False)]
    assert main([*args, "--ckpt-path", str(ckpt), "--trainer.max_epochs", "2"]) == 2
    error = _error(capsys)
    assert "a checkpoint of another model (MoCo with resnet18" in error
    assert "not of this run's SimCLR with resnet18" in error


def test_export_checks_its_options_before_writing(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    ckpt = str(run / "checkpoints" / "last.ckpt")
    assert main(["export", ckpt, str(tmp_path / "w"), "--harness", "foo"]) == 2
    assert "unknown harness 'foo'" in _error(capsys) and not (tmp_path / "w").exists()
    (tmp_path / "file").write_text("")
    assert main(["export", ckpt, str(tmp_path / "file")]) == 2
    assert "a file, not a folder" in _error(capsys)


def test_bad_backbone_weights_files_are_named(tmp_path: Path) -> None:
    from eossl.models import create_backbone

    (tmp_path / "bad.safetensors").write_bytes(b"\x10" * 100)
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "shape.pth")
    torch.save({"state_dict": 5}, tmp_path / "five.pth")
    for name, message in (
        ("bad.safetensors", "not a readable safetensors file"),
        ("shape.pth", "size mismatch for conv1.weight"),
        ("five.pth", "holds no state_dict of tensors"),
    ):
        with pytest.raises(UserError, match=message):
            create_backbone("resnet18", in_chans=13, weights=str(tmp_path / name))
