"""`eossl pretrain` end to end: real LightningCLI, real Lightning training on tiny stores."""

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import timm
import torch
from helpers import tiny

from eossl.cli import main

SENSORS = [
    "s2",
    "s2-l2a",
    "s1",
    "landsat-tm-toa",
    "landsat-etm-toa",
    "landsat-etm-sr",
    "landsat-oli-tirs-toa",
    "landsat-oli-sr",
]
TINY = tiny()


def _run(*args: str) -> int:
    return main(["pretrain", *args])


@pytest.mark.parametrize("method", ["moco", "seco"])
@pytest.mark.parametrize("sensor", SENSORS)
def test_fast_dev_run(sensor: str, method: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        _run(
            "--sensor",
            sensor,
            "--method",
            method,
            "--out",
            str(out),
            "--trainer.fast_dev_run",
            "1",
            *TINY,
        )
        == 0
    )
    card = json.loads(next((out / "weights").glob("*.json")).read_text())
    assert card["sensor"] and card["method"] == method and card["crop_size"] == 32
    assert (card["epochs"], card["steps"], card["fast_dev_run"]) == (0, 1, True)
    state = torch.load(out / "weights" / card["files"]["pth"], weights_only=True)
    model = timm.create_model(card["model"], in_chans=card["in_chans"], num_classes=0)
    model.load_state_dict(state)  # timm key names, strict
    assert len(card["mean"]) == card["in_chans"] == len(card["bands"])


def test_checkpoint_keeps_moco_queue(tmp_path: Path) -> None:
    """MoCo v2's queue of negatives, outside lightly's state_dict, survives a checkpoint."""
    from eossl.methods import MoCo

    out = tmp_path / "run"
    args = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    args += ["--model.init_args.version", "2"]  # the demo itself uses v3
    assert _run("--out", str(out), *args, "--trainer.limit_val_batches", "0", *TINY) == 0
    path = out / "checkpoints" / "last.ckpt"
    saved = torch.load(path, weights_only=True)["memory_banks"]["criterion.memory_bank"]
    assert saved["bank"].shape == (16, 128) and saved["ptr"].item() == 8  # 2 batches of 4
    model = MoCo.load_from_checkpoint(path, weights_only=True)
    bank = model.criterion.memory_bank
    assert torch.equal(bank.bank, saved["bank"]) and torch.equal(bank.bank_ptr, saved["ptr"])
    assert not torch.equal(MoCo(in_chans=13, queue_size=16).criterion.memory_bank.bank, bank.bank)


def test_views_are_two_seasons(tmp_path: Path, s2_store: Path) -> None:
    from eossl.data import SeasonalZarrDataModule

    dm = SeasonalZarrDataModule(str(s2_store), sensor="s2", batch_size=6, num_workers=0)
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert (batch["time"][:, 0] != batch["time"][:, 1]).all()
    normed = dm.normalize(batch["image"])
    assert normed.abs().mean() < 3  # standardised with the store's stats


def test_demo_notice_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "run"
    assert (
        _run(
            "--out",
            str(out),
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            *TINY,
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "no --data given" in err and "built-in synthetic" in err
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.ckpt"):
        assert (out / name).exists(), name
    assert list((out / "tensorboard").glob("events.*"))
    header = (out / "metrics.csv").read_text().splitlines()[0]
    for metric in ("loss_epoch", "lr", "samples_per_s", "embedding_std", "rankme"):
        assert metric in header


def test_demo_moco_loss_falls_below_chance(tmp_path: Path) -> None:
    """The demo recipe learns: after 4 of its epochs the loss is below chance, ln(batch).

    MoCo v3's loss is InfoNCE over the batch's keys, so a model that tells no place from
    another sits at ln(32) = 3.47; the full 10-epoch demo ends near 3.25.
    """
    import math

    out = tmp_path / "demo"
    assert _run("--out", str(out), "--trainer.max_epochs", "4") == 0  # the demo as shipped
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    losses = [float(r["loss_epoch"]) for r in rows if r.get("loss_epoch")]
    assert len(losses) == 4
    chance = math.log(32)
    assert losses[-1] < chance - 0.05, losses
    assert losses[-1] < losses[0] - 0.05, losses


def test_resume_continues_at_saved_step(tmp_path: Path) -> None:
    out = tmp_path / "run"
    common = [
        "--out",
        str(out),
        "--trainer.limit_train_batches",
        "2",
        "--trainer.limit_val_batches",
        "0",
        *TINY,
    ]
    assert _run("--trainer.max_epochs", "1", *common) == 0
    first = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["global_step"] == 2
    assert sorted(p.name for p in (out / "checkpoints").glob("last*")) == ["last.ckpt"]
    # a second run in the same folder must be asked to resume
    assert _run("--trainer.max_epochs", "2", *common) == 2
    assert _run("--trainer.max_epochs", "2", "--resume", *common) == 0
    second = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    assert second["global_step"] == 4
    # only the second epoch ran after resuming
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert {r["epoch"] for r in rows if r["epoch"]} == {"1"}
    assert (out / "metrics.0.csv").exists()  # the first run's metrics are kept


def test_resume_refuses_what_cannot_go_on(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Nothing left to train, another run's checkpoint with --resume, exported weights,
    another sensor's run; a refusal leaves the run folder as it was."""
    out = tmp_path / "run"
    once = ["--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "0", *TINY]
    tm = [*once, "--sensor", "landsat-tm-toa", "--trainer.max_epochs", "1"]
    assert _run("--out", str(out), *tm) == 0
    last = out / "checkpoints" / "last.ckpt"
    exported = next((out / "weights").glob("*.ckpt"))
    other = tmp_path / "other.ckpt"
    other.write_bytes(last.read_bytes())
    capsys.readouterr()
    for args, words in (
        (
            ["--out", str(out), "--resume", *tm],
            f"has trained 1 epoch, all that --trainer.max_epochs 1 asks for; raise "
            f"--trainer.max_epochs to train on (`eossl export {last}` writes its weights)",
        ),
        (
            ["--out", str(out), "--resume", "--ckpt-path", str(other), *tm],
            f"--resume goes on from {out}'s own checkpoint and --ckpt-path names another run's",
        ),
        (
            ["--out", str(tmp_path / "b"), "--ckpt-path", str(exported), *tm],
            "holds weights only, not a training run to resume (no optimizer state: an exported",
        ),
        (  # the same 7 bands, so the same model: only the checkpoint's sensor tells
            ["--out", str(tmp_path / "c"), "--ckpt-path", str(last), *once, "--sensor",
             "landsat-oli-sr", "--trainer.max_epochs", "2"],
            "a checkpoint of landsat-tm-toa data (eossl built-in synthetic sample), not of this "
            "run's landsat-oli-sr; pass --sensor landsat-tm-toa",
        ),
    ):  # fmt: skip
        assert _run(*args) == 2, args
        err = capsys.readouterr().err
        assert words in err and "resuming" not in err, err
    assert not (tmp_path / "c" / "weights").exists()
    assert (out / "metrics.csv").exists() and not list(out.glob("metrics.*.csv"))
    # a requeued job (--auto-resume) whose run had ended: done, its weights exported
    for f in (out / "weights").iterdir():
        f.unlink()
    assert _run("--out", str(out), "--auto-resume", *tm) == 0
    assert "has trained every epoch" in capsys.readouterr().err
    assert len(list((out / "weights").glob("*.json"))) == 1
    # the run's own config.yaml names its sensor, which --sensor's default does not
    config = ["--config", str(out / "config.yaml"), "--trainer.max_epochs", "2"]
    assert _run("--out", str(out), "--resume", *config) == 0
    assert "resuming from last.ckpt at epoch 2" in capsys.readouterr().err


def test_print_config(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run("--sensor", "s1", "--method", "seco", "--print_config")
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "eossl.methods.SeCo" in text and "sensor: s1-grd" in text


def test_help_lists_data_once_and_kebab_case_flags(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run("--help")
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "--data DATA" in text and "--data CONFIG" not in text  # eossl's --data only
    assert "--data.batch_size" in text and "--ckpt-path" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sensor", "modis"], "unknown sensor 'modis'"),
        (["--ckpt-path", "/no/such.ckpt", "--out", "/tmp/eossl-none"], "/no/such.ckpt"),
        (["--method", "swav"], "unknown method 'swav'"),
        (["--data", "/no/such/path"], "no such file or directory"),
        (["--out", __file__], "a file, not a folder for the run"),  # was "File exists"
        (["--trainer.max_epoch", "1", "--print_config"], "unrecognized arguments: --trainer.max"),
        (
            ["--model.init_args.lr_rate", "0", "--print_config"],
            "init_args.lr_rate is not an option",
        ),
    ],
)
def test_errors_are_one_line(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    assert _run(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and message in err[0]


def test_band_count_mismatch(v11_s2: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = _run(
        "--sensor",
        "s1",
        "--data",
        str(next(v11_s2.glob("*.zarr.zip"))),  # one store: its bands are what is wrong
        "--out",
        str(tmp_path / "r"),
        "--trainer.fast_dev_run",
        "1",
        "--data.num_workers",
        "0",
    )
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "has 13 bands but sensor 's1-grd' has 2" in err


def test_trains_on_v11_archive(v11_s2: Path, tmp_path: Path) -> None:
    assert (
        _run(
            "--data",
            str(v11_s2),
            "--out",
            str(tmp_path / "r"),
            "--trainer.fast_dev_run",
            "1",
            "--model.init_args.backbone",
            "resnet18",
            "--data.num_workers",
            "0",
            "--data.batch_size",
            "8",
            "--model.init_args.augment.crop_size",
            "16",
            "--model.init_args.hidden_dim",
            "64",
        )
        == 0
    )
    card = json.loads(next((tmp_path / "r" / "weights").glob("*.json")).read_text())
    assert "ssl4eo-s12-v1.1" in card["normalisation_source"]
    assert card["offset"] == 1000  # the release's offset, kept for downstream use


def test_vit_backbone_bf16_channels_last(tmp_path: Path) -> None:
    assert (
        _run(
            "--method",
            "moco",
            "--out",
            str(tmp_path / "r"),
            "--trainer.fast_dev_run",
            "1",
            "--trainer.precision",
            "bf16-mixed",
            "--model.init_args.backbone",
            "vit_tiny_patch16_224",
            "--model.init_args.version",
            "3",
            "--model.init_args.optimizer",
            "lars",
            *TINY,
        )
        == 0
    )
    assert (
        _run(
            "--method",
            "seco",
            "--out",
            str(tmp_path / "c"),
            "--trainer.fast_dev_run",
            "1",
            "--model.init_args.channels_last",
            "true",
            *TINY,
        )
        == 0
    )


def test_collapse_warning() -> None:
    from unittest import mock

    from eossl.methods import MoCo

    model = MoCo(backbone="resnet18", in_chans=4, hidden_dim=32, queue_size=8)
    model._monitor = [torch.ones(64, 512) + 1e-7 * torch.randn(64, 512)]
    with (
        mock.patch.object(model, "log_dict"),
        mock.patch.object(model, "log"),
        pytest.warns(UserWarning, match="representation collapse"),
    ):
        model.on_train_epoch_end()


def test_ctrl_c_saves_checkpoint(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "stderr.txt"
    with open(log, "w") as err:  # a file, not a pipe: the child can never block on it
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "eossl.cli",
                "pretrain",
                "--out",
                str(out),
                "--trainer.max_epochs",
                "1000",
                *TINY,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            # a shell without job control starts background jobs with SIGINT ignored,
            # and Python then raises no KeyboardInterrupt: give the child the default
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        deadline = time.time() + 240
        while not (out / "checkpoints" / "last.ckpt").exists():
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.time() < deadline, "no checkpoint written"
            time.sleep(0.5)
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"no exit 120 s after SIGINT; stderr ends:\n{log.read_text()[-3000:]}")
    finally:
        proc.kill()
    assert (out / "checkpoints" / "on_exception.ckpt").exists()
    ckpt = torch.load(out / "checkpoints" / "on_exception.ckpt", weights_only=False)
    assert ckpt["global_step"] > 0


def test_own_sensor_card_file(tmp_path: Path) -> None:
    """A 4-band camera eossl has no card for: the user's card file drives data and model."""
    from eossl.data import SeasonalZarrDataset
    from eossl.data.io.schema import open_group
    from eossl.data.synthetic.store import write_synthetic
    from eossl.errors import UserError
    from eossl.sensors import _cards, get_sensor

    card = tmp_path / "drone.yaml"
    card.write_text(
        "name: drone-4b\n"
        "dtype: uint16\n"
        "nodata: 0\n"
        "bands:\n"
        + "".join(
            f"  - {{name: {b}, wavelength: {w}, gsd: 0.1}}\n"
            for b, w in (("blue", 0.48), ("green", 0.56), ("red", 0.66), ("nir", 0.84))
        )
        + "releases:\n  own:\n    mean: [900, 1000, 1100, 2500]\n    std: [300, 300, 350, 600]\n"
        + "default_release: own\n"
    )
    store = tmp_path / "drone.zarr"
    write_synthetic(store, str(card), samples=8, size=40, seasons=2, quiet=True)
    out = tmp_path / "run"
    args = ["--sensor", str(card), "--data", str(store), "--out", str(out)]
    assert _run(*args, "--trainer.fast_dev_run", "1", *TINY[4:]) == 0
    meta = json.loads(next((out / "weights").glob("*.json")).read_text())
    assert meta["sensor"] == "drone-4b" and meta["in_chans"] == 4
    stats = open_group(store).attrs["stats"]  # written with the store; they win over the card's
    assert meta["bands"] == ["blue", "green", "red", "nir"] and meta["mean"] == stats["mean"]
    assert min(stats["std"]) > 10  # reflectance x 10,000: real texture, not constant pixels
    with pytest.raises(UserError, match="no such sensor card file"):
        get_sensor(tmp_path / "missing.yaml")
    _cards.cache_clear()  # a later process without the card still reads the store by shape
    try:
        ds = SeasonalZarrDataset(store, seasons=2)
        assert ds.sensor is None and ds[0]["image"].shape == (2, 4, 40, 40)
    finally:
        _cards.cache_clear()


def test_run_config_reproduces_the_run(tmp_path: Path) -> None:
    """runs/<name>/config.yaml holds no unserialisable objects and is read back by --config."""
    first = tmp_path / "a"
    args = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
    assert _run("--out", str(first), *args, "--trainer.limit_val_batches", "0", *TINY) == 0
    text = (first / "config.yaml").read_text()
    assert "Unable to serialize" not in text
    second = tmp_path / "b"
    assert _run("--config", str(first / "config.yaml"), "--out", str(second)) == 0
    assert (second / "metrics.csv").is_file() and (second / "checkpoints" / "last.ckpt").is_file()
    drop = lambda t: [ln for ln in t.splitlines() if "default_root_dir" not in ln]  # noqa: E731
    assert drop((second / "config.yaml").read_text()) == drop(text)


def test_config_of_a_run_on_real_data_keeps_its_data(
    v11_s2: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--config runs/NAME/config.yaml reruns on that run's data, not the demo sample."""
    small = ["--data.num_workers", "0", "--data.batch_size", "8", "--trainer.max_steps", "1"]
    small += ["--model.init_args.augment.crop_size", "16", "--model.init_args.hidden_dim", "64"]
    first, second = tmp_path / "a", tmp_path / "b"
    assert (
        _run("--data", str(v11_s2), "--out", str(first), "--trainer.max_epochs", "1", *small) == 0
    )
    capsys.readouterr()
    assert _run("--config", str(first / "config.yaml"), "--out", str(second)) == 0
    assert "no --data given" not in capsys.readouterr().err
    assert f"data: {v11_s2}" in (second / "config.yaml").read_text()


def test_only_last_checkpoint_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2"]
    assert _run("--out", str(out), *args, "--trainer.limit_val_batches", "0", *TINY) == 0
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.ckpt"]
    from eossl.weights.export import export_checkpoint

    auto = json.loads(next((out / "weights").glob("*.json")).read_text())
    again = export_checkpoint(out / "checkpoints" / "last.ckpt", tmp_path)[0]
    again = json.loads(again.read_text())
    assert (auto["epochs"], auto["steps"]) == (again["epochs"], again["steps"]) == (2, 4)
    assert "fast_dev_run" not in auto


def test_console_has_no_library_noise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture
) -> None:
    """No `weights_only` notice, no Lightning tip or device/stop line; a line per epoch."""
    import logging
    import re

    caplog.set_level(logging.INFO)
    args = ["--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2"]
    assert (
        _run("--out", str(tmp_path / "run"), *args, "--trainer.limit_val_batches", "0", *TINY) == 0
    )
    text = "\n".join(r.getMessage() for r in caplog.records)
    for noise in ("weights_only", "litlogger", "GPU available", "TPU available"):
        assert noise not in text
    assert "Trainer.fit` stopped" not in text and "to estimate number of stepping" not in text
    out = capsys.readouterr()
    lines = [ln for ln in (out.out + out.err).splitlines() if ln.startswith("eossl: epoch")]
    number = r"-?[\d.]+(?:e-?\d+)?"
    pattern = (
        rf"eossl: epoch (\d)/2, loss {number}, lr {number}, RankMe {number}, "
        rf"std {number}, samples/s {number}"
    )
    assert [re.fullmatch(pattern, ln).group(1) for ln in lines] == ["1", "2"], lines


def test_progress_bar_can_be_turned_off(tmp_path: Path) -> None:
    args = ["--trainer.fast_dev_run", "1", "--trainer.enable_progress_bar", "false"]
    assert _run("--out", str(tmp_path / "run"), *args, *TINY) == 0


def test_last_checkpoint_throttles_epoch_ends_but_saves_the_last() -> None:
    from types import SimpleNamespace

    from eossl.checkpoints import LastCheckpoint

    saved: list[int] = []
    trainer = SimpleNamespace(
        sanity_checking=False, fast_dev_run=False, should_stop=False, max_epochs=50,
        max_steps=-1, global_step=0, current_epoch=0,
        save_checkpoint=lambda path, weights_only: saved.append(trainer.current_epoch),
    )  # fmt: skip
    callback = LastCheckpoint("ckpts", every_n_steps=0, min_interval_s=3600)
    for epoch in range(50):  # 50 short epochs within the hour: the first and the last
        trainer.current_epoch, trainer.global_step = epoch, 2 * (epoch + 1)
        callback.on_train_epoch_end(trainer, None)
    assert saved == [0, 49]
    trainer.current_epoch, trainer.should_stop = 50, True  # stopped early (max_time, signal)
    callback.on_train_epoch_end(trainer, None)
    assert saved[-1] == 50
    every_epoch = LastCheckpoint("ckpts", every_n_steps=0, min_interval_s=0)
    for epoch in range(3):
        trainer.current_epoch = epoch
        every_epoch.on_train_epoch_end(trainer, None)
    assert saved[-3:] == [0, 1, 2]


def test_level_jitter_is_the_published_difference(capsys: pytest.CaptureFixture) -> None:
    """`data.level_jitter s2-l1c` on L2A data: SSL4EO-S12's L1C - L2A means, in std units."""
    from eossl.data import SeasonalZarrDataModule
    from eossl.errors import UserError
    from eossl.sensors import get_sensor, level_shift

    common = {"synthetic_samples": 8, "synthetic_size": 32, "num_workers": 0}
    dm = SeasonalZarrDataModule(None, sensor="s2-l2a", level_jitter="s2-l1c", **common)
    dm.setup()
    l2a = get_sensor("s2-l2a")
    _, shift = level_shift(l2a, get_sensor("s2-l1c"))
    expected = [shift[b] / s for b, s in zip(l2a.band_names, dm.stats.std, strict=True)]
    torch.testing.assert_close(dm.jitter.shift, torch.tensor(expected))
    assert "moved toward s2-l1c" in capsys.readouterr().err
    cases = [
        ("landsat-oli-sr", "no published"),
        ("s2-l2a", "the data are s2-l2a already"),
        ("x", "level_jitter: unknown"),
    ]
    for other, says in cases:
        bad = SeasonalZarrDataModule(None, sensor="s2-l2a", level_jitter=other, **common)
        with pytest.raises(UserError, match=says):
            bad.setup()
    # values in other units (reflectance 0-1 stored as is): the shift would be 1e5 stds
    dm.stats = dataclasses.replace(dm.stats, std=tuple(s * 1e-4 for s in dm.stats.std))
    with pytest.raises(UserError, match="not in s2-l2a's DN"):
        dm._level_jitter("s2-l1c")
    with pytest.raises(UserError, match="level_jitter_max must be in"):
        SeasonalZarrDataModule(None, sensor="s2-l2a", level_jitter_max=float("nan"))


def test_level_jitter_trains_from_the_command_line(tmp_path: Path) -> None:
    """`eossl pretrain --data.level_jitter` runs a real Lightning step and records it."""
    out = tmp_path / "run"
    args = ["--sensor", "s2-l2a", "--data.level_jitter", "s2-l1c", "--trainer.max_epochs", "1"]
    args += ["--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "0"]
    assert _run("--out", str(out), *args, *TINY) == 0
    assert "level_jitter: s2-l1c" in (out / "config.yaml").read_text()


def test_resume_checks_the_order_of_the_sensors() -> None:
    """Channels stack in --sensor's order: s2,s1 cannot go on from an s1,s2 run."""
    from eossl.checkpoints import check_resumable
    from eossl.errors import UserError

    state = {"optimizer_states": [], "eossl": {"sensors": [{"sensor": "s1-grd"}]}}
    state["eossl"]["sensors"].append({"sensor": "s2-l1c"})
    check_resumable("a.ckpt", state, ["s1-grd", "s2-l1c"], None)
    with pytest.raises(UserError, match=r"the same sensors in another order\); pass --sensor"):
        check_resumable("a.ckpt", state, ["s2-l1c", "s1-grd"], None)


def test_a_warm_up_as_long_as_the_run_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"]
    args += ["--trainer.limit_val_batches", "0", "--model.init_args.warmup_epochs", "5"]
    assert _run("--out", str(tmp_path / "run"), *args, *TINY) == 0
    assert "warmup_epochs 5 is not under the run's 1 epochs" in capsys.readouterr().err
