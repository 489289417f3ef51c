"""Faults survived and bad input refused: real processes, real files."""

import csv
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from helpers import flip_chunk_byte, tiny
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eossl.cli import main
from eossl.data import SeasonalZarrDataset
from eossl.data.synthetic.store import write_synthetic
from eossl.errors import UserError

TINY = tiny(batch_size=2)
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def _eossl(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eossl.cli", *args],
        capture_output=True,
        text=True,
        env=ENV,
        **kwargs,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def _corrupt_first_shard(store: Path) -> None:
    """Overwrite the first ``bands`` shard of a copied store: its samples become unreadable."""
    shard = next((store / "bands" / "c").rglob("*"))
    while shard.is_dir():
        shard = next(shard.iterdir())
    shard.write_bytes(b"not a shard")


def test_ddp_two_cpu_processes_use_both_shards(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    proc = _eossl(
        "pretrain",
        "--out",
        str(out),
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_val_batches",
        "0",
        "--model.init_args.version",
        "3",
        *TINY,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    unique = [
        float(r["unique_samples"]) for r in _rows(out / "metrics.csv") if r.get("unique_samples")
    ]
    # 11 training samples: 5 per process, 2 batches of 2 each -> 8 distinct samples in total
    assert unique == [8.0]
    assert len(list((out / "weights").glob("*.json"))) == 1  # exported once, by rank 0
    assert proc.stderr.count("no --data given") == 1  # said once, not by every rank


def test_ddp_curation_gives_every_process_the_same_selection(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    ddp = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
    proc = _eossl(
        "pretrain", "--out", str(out), *ddp, "--trainer.max_epochs", "2",
        "--trainer.limit_val_batches", "0", "--model.init_args.version", "3",
        "--curation.keep", "0.8", "--curation.every_n_epochs", "1", "--curation.clusters", "3",
        *TINY, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (out / "curation.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [0, 1]
    for record in records:  # both processes hold the same 9 of 11 samples
        assert record["kept"] == 9 and len(record["digests"]) == 2
        assert len(set(record["digests"])) == 1
    unique = [
        float(r["unique_samples"]) for r in _rows(out / "metrics.csv") if r.get("unique_samples")
    ]
    # 9 kept: 4 per process (drop_last), 2 batches of 2 each -> 8 distinct samples in all
    assert unique == [8.0, 8.0]


def test_sigkill_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["pretrain", "--out", str(out), "--trainer.limit_val_batches", "0", *TINY]
    proc = subprocess.Popen(
        [sys.executable, "-m", "eossl.cli", *args, "--trainer.max_epochs", "1000"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = out / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    try:
        while not last.exists():
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.3)
        time.sleep(3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    saved = torch.load(last, weights_only=True)
    for path in (out / "checkpoints").glob("*.ckpt"):  # a kill never leaves a truncated .ckpt
        torch.load(path, weights_only=True)
    resumed = _eossl(
        *args, "--trainer.max_epochs", str(saved["epoch"] + 2), "--resume", timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "exists and is not empty" not in resumed.stderr  # the earlier metrics are kept
    assert "eossl: resuming from last.ckpt at epoch" in resumed.stderr
    assert "ended before the epoch ended" not in resumed.stderr  # Lightning's, said by eossl
    assert "Restored all states" not in resumed.stderr
    final = torch.load(last, weights_only=True)
    assert final["global_step"] > saved["global_step"]


def test_resume_line_says_where_a_run_stopped() -> None:
    from eossl.checkpoints import resume_line

    def saved(epoch: int, batches: int, last: bool) -> dict:
        fit = {
            "epoch_loop.batch_progress": {"current": {"completed": batches}, "is_last_batch": last}
        }
        return {"epoch": epoch, "loops": {"fit_loop": fit}}

    midway = resume_line(Path("on_exception.ckpt"), saved(22, 6, last=False))
    assert midway.startswith("eossl: resuming from on_exception.ckpt at epoch 23, stopped after")
    assert "batch 6" in midway
    ended = resume_line(Path("last.ckpt"), saved(2, 16, last=True))  # epochs 1-3 done
    assert ended == "eossl: resuming from last.ckpt at epoch 4"


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc), e.g. a run's forkserver and workers."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_sigkill_leaves_no_worker_behind(s2_store: Path, tmp_path: Path) -> None:
    """A run killed with SIGKILL (preemption, OOM killer) takes its forkserver and workers."""
    args = ["pretrain", "--data", str(s2_store), "--out", str(tmp_path / "run"), *TINY[4:]]
    args += ["--data.num_workers", "2", "--trainer.max_epochs", "1000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "eossl.cli", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    try:  # the forkserver and its two workers (and the resource tracker) are up
        while len(below := _descendants(proc.pid)) < 4:
            assert proc.poll() is None and time.time() < deadline
            time.sleep(0.5)
        time.sleep(2)
        below = _descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.time() + 10
    while (left := [p for p in below if _running(p)]) and time.time() < deadline:
        time.sleep(0.2)
    assert not left, f"{len(left)} of the run's {len(below)} processes outlived it"


def test_nan_inf_nodata_keep_loss_finite(tmp_path: Path) -> None:
    store = write_synthetic(
        tmp_path / "s1.zarr", "s1", samples=12, size=40, seasons=3, shard=4, quiet=True
    )
    group = zarr.open_group(store, mode="r+")
    bands = group["bands"][...]
    bands[:, :, :, :5] = np.nan
    bands[:, :, 0, 10:12] = np.inf
    bands[:, 1, :, 20:] = -np.inf
    group["bands"][...] = bands
    out = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "--sensor",
                "s1",
                "--data",
                str(store),
                "--out",
                str(out),
                "--trainer.max_epochs",
                "1",
                "--trainer.limit_val_batches",
                "0",
                "--trainer.log_every_n_steps",
                "1",
                "--model.init_args.backbone",
                "resnet18",
                *TINY[4:],
            ]
        )
        == 0
    )
    losses = [float(r["loss_step"]) for r in _rows(out / "metrics.csv") if r.get("loss_step")]
    assert losses and np.isfinite(losses).all()


def test_corrupt_chunk_skipped_and_reported(tmp_path: Path, s2_store: Path) -> None:
    import shutil

    store = tmp_path / "bad.zarr"
    shutil.copytree(s2_store, store)
    _corrupt_first_shard(store)  # the first 4 samples become unreadable
    out = tmp_path / "run"
    common = [
        "pretrain",
        "--data",
        str(store),
        "--out",
        str(out),
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_val_batches",
        "0",
        "--model.init_args.backbone",
        "resnet18",
        *TINY[4:],
    ]
    failed = _eossl(*common, "--data.num_workers", "2")  # raised inside a worker
    assert failed.returncode == 2
    errors = [ln for ln in failed.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(store) in errors[0] and "sample" in errors[0]
    assert "Traceback" not in failed.stderr
    ok = _eossl(
        *common[:3], "--out", str(tmp_path / "run2"), *common[5:], "--data.on_bad_sample", "skip"
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "eossl: epoch 0: " in ok.stdout + ok.stderr  # one line, was a Python warning
    assert "unreadable samples were skipped" in ok.stdout + ok.stderr
    skipped = [
        float(r["skipped_samples"])
        for r in _rows(tmp_path / "run2" / "metrics.csv")
        if r.get("skipped_samples")
    ]
    assert skipped and skipped[0] > 0


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_full_disk_during_export_leaves_no_complete_looking_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert (
        main(
            [
                "pretrain",
                "--out",
                str(out),
                "--trainer.max_epochs",
                "1",
                "--trainer.limit_train_batches",
                "1",
                "--trainer.limit_val_batches",
                "0",
                *TINY,
            ]
        )
        == 0
    )
    dest = tmp_path / "export"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "eossl.cli",
            "export",
            str(out / "checkpoints" / "last.ckpt"),
            str(dest),
            "--name",
            "w",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "could not write" in lines[0], proc.stderr
    assert not list(dest.glob("w.*"))  # nothing half-written under the final names


def test_full_disk_during_synth_leaves_only_partial(tmp_path: Path) -> None:
    out = tmp_path / "s.zarr"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "eossl.cli",
            "synth",
            str(out),
            "--samples",
            "64",
            "--size",
            "128",
            "--shard",
            "8",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "disk" in proc.stderr
    assert not out.exists()
    with pytest.raises(UserError):
        SeasonalZarrDataset(tmp_path / "s.zarr.partial")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=6),
    dims=st.sampled_from([None, ["sample", "time", "band", "y", "x"], ["a", "b", "c", "d", "e"]]),
    dtype=st.sampled_from(["uint8", "int16", "float32", "float16"]),
    name=st.sampled_from(["bands", "images"]),
    bands_coord=st.booleans(),
)
def test_malformed_stores_fail_cleanly(
    tmp_path_factory, shape, dims, dtype, name, bands_coord
) -> None:
    path = tmp_path_factory.mktemp("h") / "x.zarr"
    group = zarr.open_group(path, mode="w")
    use_dims = dims if dims is not None and len(dims) == len(shape) else None
    group.create_array(name, shape=tuple(shape), dtype=dtype, dimension_names=use_dims)
    if bands_coord:
        group.create_array("band", shape=(shape[-3] if len(shape) >= 3 else 1,), dtype=str)
    try:
        ds = SeasonalZarrDataset(path, seasons=1, seed=0)
        assert ds[0]["image"].ndim == 4
    except UserError as err:
        assert "\n" not in str(err) and str(path) in str(err)


@settings(max_examples=40, deadline=None)
@given(
    argv=st.lists(
        st.sampled_from(
            [
                "synth",
                "sensors",
                "export",
                "evaluate",
                "weights",
                "--samples",
                "-3",
                "0",
                "x.zarr.zip",
                "--size",
                "--sensor",
                "s9",
                "--task",
                "nope",
                "--zarr-format",
                "7",
                "--data",
                "/nonexistent",
            ]
        ),
        min_size=1,
        max_size=5,
    )
)
def test_random_arguments_never_crash(argv: list[str], tmp_path_factory) -> None:
    if "synth" in argv:
        argv = [*argv, "--samples", "2", "--size", "8"]  # keep real writes tiny
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        code = main(argv)
    except SystemExit as exit_:  # --help / --version
        code = exit_.code
    finally:
        os.chdir(cwd)
    assert code in (0, 2)


def test_convert_and_stats_on_a_two_worker_local_cluster(tmp_path: Path) -> None:
    """`--workers 2` (a dask.distributed LocalCluster) gives what the threaded run gives."""
    from eossl.data.convert.write import convert
    from eossl.data.stats.compute import compute_stats

    src = Path(__file__).parent / "data" / "geotiff" / "ssl4eo_l"
    threaded, _ = convert(src, tmp_path / "t.zarr", "ssl4eo-l", quiet=True)
    cluster, _ = convert(src, tmp_path / "c.zarr", "ssl4eo-l", workers=2, shard=1, quiet=True)
    a, b = zarr.open_group(threaded), zarr.open_group(cluster)
    for name in a.array_keys():
        np.testing.assert_array_equal(a[name][...], b[name][...])
    s_threads = compute_stats(threaded, quiet=True)
    s_cluster = compute_stats(cluster, workers=2, quiet=True)
    for key in ("mean", "std", "min", "max", "p1", "p99"):
        np.testing.assert_allclose(s_threads[key], s_cluster[key], rtol=1e-12)


class _RunsCode:
    """Unpickling this runs a shell command: what a malicious checkpoint would hold."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        import os

        return os.system, (f"touch {self.marker}",)


def test_pickled_objects_are_never_loaded(tmp_path: Path) -> None:
    import argparse

    evil, worse = tmp_path / "evil.ckpt", tmp_path / "worse.ckpt"
    torch.save({"state_dict": {}, "payload": argparse.Namespace(x=1)}, evil)
    torch.save({"state_dict": {}, "payload": _RunsCode(tmp_path / "ran")}, worse)
    for ckpt in (evil, worse):  # the second was 'not a PyTorch checkpoint (UnpicklingError)'
        for argv in (
            ["pretrain", "--ckpt_path", str(ckpt), "--out", str(tmp_path / "r")],
            ["export", str(ckpt), str(tmp_path / "w")],
        ):
            proc = _eossl(*argv)
            assert proc.returncode == 2, proc.stderr[-1500:]
            errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
            assert len(errors) == 1 and "never unpickles" in errors[0], errors
            assert "Traceback" not in proc.stderr
    assert not (tmp_path / "ran").exists()


def _kill_when_blocks_done(argv: list[str], partial: Path, blocks: int) -> None:
    """Run an eossl command and SIGKILL it once ``blocks`` blocks of ``partial`` are written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "eossl.cli", *argv],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done = partial / ".eossl_done"
    deadline = time.time() + 300
    try:
        while not (done.is_dir() and len(list(done.iterdir())) >= blocks):
            assert proc.poll() is None, "finished before it could be killed"
            assert time.time() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _assert_same_store(a: Path, b: Path) -> None:
    ga, gb = zarr.open_group(a, mode="r"), zarr.open_group(b, mode="r")
    assert sorted(ga.array_keys()) == sorted(gb.array_keys())
    for name in ga.array_keys():
        np.testing.assert_array_equal(ga[name][...], gb[name][...])


def test_synth_killed_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    args = ["--samples", "48", "--size", "96", "--shard", "2", "--seasons", "3", "--labels"]
    killed = tmp_path / "killed.zarr"
    _kill_when_blocks_done(["synth", str(killed), *args], tmp_path / "killed.zarr.partial", 3)
    assert not killed.exists()  # never presented as complete
    assert _eossl("synth", str(killed), *args).returncode == 0
    whole = tmp_path / "whole.zarr"
    assert _eossl("synth", str(whole), *args).returncode == 0
    _assert_same_store(killed, whole)


def test_convert_killed_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    scenes = tmp_path / "scenes"
    scenes.mkdir()
    rng = np.random.default_rng(0)
    for day in ("20210105", "20210401", "20210710"):
        data = rng.integers(1, 10000, (4, 512, 512), dtype=np.uint16)
        with rasterio.open(
            scenes / f"S_{day}.tif",
            "w",
            driver="GTiff",
            width=512,
            height=512,
            count=4,
            dtype="uint16",
            crs="EPSG:32632",
            nodata=0,
            transform=from_origin(500000, 5300000, 10, 10),
        ) as f:
            f.write(data)
    _convert_killed_then_rerun(
        tmp_path, scenes, ["--layout", "geotiff", "--chip-size", "32", "--shard", "4"]
    )


def _convert_killed_then_rerun(tmp_path: Path, src: Path, args: list[str]) -> str:
    """Kill ``eossl convert`` after 3 blocks, rerun it, and check the store against an
    uninterrupted run; returns the rerun's stderr."""
    killed = tmp_path / "killed.zarr"
    _kill_when_blocks_done(
        ["convert", str(src), str(killed), *args], tmp_path / "killed.zarr.partial", 3
    )
    assert not killed.exists()
    rerun = _eossl("convert", str(src), str(killed), *args)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    whole = tmp_path / "whole.zarr"
    assert _eossl("convert", str(src), str(whole), *args).returncode == 0
    _assert_same_store(killed, whole)
    return rerun.stderr


def test_stats_on_a_corrupt_store_is_one_line(tmp_path: Path, s2_store: Path) -> None:
    import shutil

    store = tmp_path / "bad.zarr"
    shutil.copytree(s2_store, store)
    _corrupt_first_shard(store)
    proc = _eossl("stats", str(store), "--quiet")
    assert proc.returncode == 2
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and str(store) in errors[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("name", ["s.zarr", "s.zarr.zip"])
def test_a_flipped_byte_is_an_error_naming_file_and_sample(tmp_path: Path, name: str) -> None:
    """Default codec: crc32c per chunk (zarr 3) or the zip's CRC-32 (v1.1 form) catch it."""
    fmt = 2 if name.endswith(".zip") else 3
    store = write_synthetic(
        tmp_path / name, samples=6, size=16, seasons=3, shard=4, zarr_format=fmt, quiet=True
    )
    clean = [SeasonalZarrDataset(store, seasons="all")[j]["image"] for j in range(6)]
    flip_chunk_byte(store, 5, 1)
    ds = SeasonalZarrDataset(store, seasons="all")
    with pytest.raises(UserError) as err:
        ds[5]
    message = str(err.value)
    assert f"{store}: sample 5 (index 5) could not be read" in message and "\n" not in message
    for j in range(5):  # only the flipped chunk's sample is lost
        assert torch.equal(ds[j]["image"], clean[j])
    skip = SeasonalZarrDataset(store, seasons="all", on_bad_sample="skip")
    items = [skip[j] for j in range(6)]
    assert skip.bad_samples == [f"{store}: sample 5 (index 5)"]  # counted
    assert int(items[5]["index"]) == 0 and int(items[5]["skipped"]) == 1  # the next one instead
    assert int(items[4]["skipped"]) == 0


def test_stats_names_the_sample_of_a_flipped_byte(tmp_path: Path) -> None:
    from eossl.data.stats.compute import compute_stats

    store = write_synthetic(tmp_path / "s.zarr", samples=6, size=16, seasons=3, quiet=True)
    flip_chunk_byte(store, 5, 1)
    with pytest.raises(UserError) as err:
        compute_stats(store, quiet=True)
    assert f"{store}: sample 5 could not be read" in str(err.value)


def test_zstd_3_stores_are_unchecked(tmp_path: Path) -> None:
    """``--codec zstd-3`` (what eossl wrote before) has no chunk checksum: documented here."""
    store = write_synthetic(
        tmp_path / "s.zarr", samples=6, size=16, seasons=3, shard=4, codec="zstd-3", quiet=True
    )
    clean = SeasonalZarrDataset(store, seasons="all")[5]["image"]
    flip_chunk_byte(store, 5, 1)
    read = SeasonalZarrDataset(store, seasons="all")[5]["image"]  # no error...
    assert not torch.equal(read, clean)  # ...and wrong values


def test_reencode_killed_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    src = Path(__file__).parent / "data" / "ssl4eo_s12_v11" / "train" / "S2L1C"
    args = ["--layout", "zarr", "--shard", "2"]  # 64 blocks: time to kill it midway
    err = _convert_killed_then_rerun(tmp_path, src, args)
    assert "resuming" in err and "checked equal value for value" in err


@pytest.mark.parametrize(("sensor", "empty"), [("s1", np.nan), ("s2", 0)])
def test_all_nodata_store_is_refused(
    tmp_path: Path, sensor: str, empty: float, capsys: pytest.CaptureFixture
) -> None:
    store = write_synthetic(
        tmp_path / "empty.zarr", sensor, samples=6, size=16, seasons=2, shard=3, quiet=True
    )
    group = zarr.open_group(store, mode="r+")
    with zarr.config.set({"array.write_empty_chunks": True}):  # as eossl writes: every chunk
        group["bands"][...] = np.full(group["bands"].shape, empty, group["bands"].dtype)
    assert main(["stats", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "empty.zarr: no valid pixel in 6 samples" in err
    run = ["pretrain", "--sensor", sensor, "--data", str(store), "--out", str(tmp_path / "r")]
    assert main([*run, "--trainer.fast_dev_run", "1", *TINY[4:]]) == 2
    err = capsys.readouterr().err
    assert "empty.zarr: " in err and "nothing to train on" in err
    assert not (tmp_path / "r" / "weights").exists()  # no "weights" exported


def test_local_cluster_workers_leave_ctrl_c_to_the_parent() -> None:
    """Ctrl-C reached the dask worker processes too: each printed a KeyboardInterrupt."""
    import signal

    from eossl.parallel import dask_client

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    try:
        with dask_client(None, 1) as client:
            (ignored,) = client.run(
                lambda: signal.getsignal(signal.SIGINT) == signal.SIG_IGN
            ).values()
        assert ignored
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the parent's
    finally:
        signal.signal(signal.SIGINT, before)  # CI runs in the background: SIGINT ignored
