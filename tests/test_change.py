"""Change detection on real two-date imagery (#26): OSCD converted, evaluated, fine-tuned.

Two shared OSCD cities: paris (both dates on one grid) and hongkong (its second date a
few pixels smaller). Scores belong in ``benchmarks/change_quality.py``; these tests check
values against rasterio and numpy, and that every path runs.
"""

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from helpers import realdata_dir

from eossl.cli import main
from eossl.data.convert.change import city_of
from eossl.errors import UserError

IMAGES = "Onera Satellite Change Detection dataset - Images"
LABELS = "Onera Satellite Change Detection dataset - Train Labels"
CITIES = ("paris", "hongkong")


def _release(tmp_path_factory: pytest.TempPathFactory, cities: tuple[str, ...]) -> Path:
    """Shared cities in OSCD's release layout (links to the shared files)."""
    root = realdata_dir()
    if root is None or not (root / "oscd").is_dir():
        pytest.fail("../shared/realdata/oscd not found; set EOSSL_REALDATA")
    src = tmp_path_factory.mktemp("oscd")
    for part in (IMAGES, LABELS):
        (src / part).mkdir()
        for city in cities:
            (src / part / city).symlink_to(root / "oscd" / part / city)
    return src


@pytest.fixture(scope="module")
def oscd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """paris and hongkong, whose second date is on another grid."""
    return _release(tmp_path_factory, CITIES)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two smallest shared cities (paris, bercy): for the evaluation's run."""
    return _release(tmp_path_factory, ("paris", "bercy"))


@pytest.fixture(scope="module")
def small_store(small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("small") / "oscd.zarr"
    assert main(["convert", str(small), str(out), "--layout", "oscd", "--chip-size", "64",
                 "--quiet"]) == 0  # fmt: skip
    assert main(["stats", str(out), "--quiet"]) == 0
    return out


def _pretrain(store: Path, method: str, out: Path, *extra: str) -> Path:
    assert main(["pretrain", "--sensor", "s2-l1c", "--method", method, "--data", str(store),
                 "--preset", "patches", "--trainer.fast_dev_run", "true",
                 "--data.batch_size", "4", "--data.num_workers", "0", *extra,
                 "--out", str(out)]) == 0  # fmt: skip
    return next((out / "weights").glob("*.json"))


@pytest.fixture(scope="module")
def card(small_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-step MoCo card pretrained on the real pairs (the two dates are the positives)."""
    return _pretrain(small_store, "moco", tmp_path_factory.mktemp("run"))


@pytest.mark.parametrize(
    ("method", "positives"),
    [
        ("seco", "season"),
        ("simclr", "same"),
        pytest.param("byol", "season", marks=pytest.mark.slow),
        pytest.param("barlow", "season", marks=pytest.mark.slow),
        pytest.param("dino", "season", marks=pytest.mark.slow),
    ],
)
def test_methods_pretrain_on_real_pairs(
    small_store: Path, tmp_path: Path, method: str, positives: str, capfd: pytest.CaptureFixture
) -> None:
    """The seasonal methods take the two real dates as the positive pair; others ``same``."""
    _pretrain(small_store, method, tmp_path / "run", "--data.positives", positives)
    err = capfd.readouterr().err
    assert f"positives: {positives}" in err


@pytest.fixture(scope="module")
def store(oscd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "oscd.zarr"
    assert main(["convert", str(oscd), str(out), "--layout", "oscd", "--chip-size", "64"]) == 0
    assert main(["stats", str(out), "--quiet"]) == 0
    return out


def _band(oscd: Path, city: str, date: int, band: str) -> tuple[np.ndarray, object]:
    import rasterio

    path = next((oscd / IMAGES / city / f"imgs_{date}").glob(f"*_{band}.tif"))
    with rasterio.open(path) as src:
        return src.read(1), src


def test_converter_values_equal_rasterio(oscd: Path, store: Path) -> None:
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    from eossl.data.io.schema import band_names, decode_times

    g = zarr.open_group(store, mode="r")
    ids = [str(i) for i in g["sample_id"][:, 0]]
    bands = band_names(g)
    assert g.attrs["label_kind"] == "change" and g.attrs["cities"] == sorted(CITIES)
    for city in CITIES:
        rows = [i for i, s in enumerate(ids) if city_of(s) == city]
        tile = rows[len(rows) // 2]
        r, c = (int(v[1:]) for v in ids[tile].rsplit("_", 2)[1:])
        window = (slice(r, r + 64), slice(c, c + 64))
        b02, ref = _band(oscd, city, 1, "B02")
        np.testing.assert_array_equal(g["bands"][tile, 0, bands.index("B02")], b02[window])
        b05, _ = _band(oscd, city, 1, "B05")  # 20 m, resampled by georeference (nearest)
        path05 = next((oscd / IMAGES / city / "imgs_1").glob("*_B05.tif"))
        with rasterio.open(path05) as src:
            up = np.zeros(b02.shape, np.uint16)
            reproject(
                rasterio.band(src, 1),
                up,
                dst_transform=ref.transform,
                dst_crs=ref.crs,
                resampling=Resampling.nearest,
            )
        if city == "paris":  # an exact 2x grid: every 20 m pixel twice in each direction
            np.testing.assert_array_equal(up, np.repeat(np.repeat(b05, 2, 0), 2, 1))
        np.testing.assert_array_equal(g["bands"][tile, 0, bands.index("B05")], up[window])
        second = next((oscd / IMAGES / city / "imgs_2").glob("*_B02.tif"))
        with rasterio.open(second) as src:
            expected = np.zeros(b02.shape, np.uint16)
            reproject(
                rasterio.band(src, 1),
                expected,
                dst_transform=ref.transform,
                dst_crs=ref.crs,
                resampling=Resampling.nearest,
            )
            if city == "paris":  # one grid: the file as it is
                np.testing.assert_array_equal(expected, src.read(1))
        np.testing.assert_array_equal(g["bands"][tile, 1, bands.index("B02")], expected[window])
        with rasterio.open(next((oscd / LABELS / city / "cm").glob("*.tif"))) as src:
            cm = src.read(1)[window]
        np.testing.assert_array_equal(g["label"][tile], np.where(cm == 2, 1, 0))
        dates = (oscd / IMAGES / city / "dates.txt").read_text().split()
        times = decode_times(g["time_"])[tile].astype("datetime64[D]").astype(str)
        assert [t.replace("-", "") for t in times] == [dates[1], dates[3]]
        assert g["x_"][tile][0] == pytest.approx(ref.transform.c + (c + 0.5) * ref.transform.a)
    labels = g["label"][...]
    assert set(np.unique(labels)) <= {0, 1} and (labels == 1).any()


def test_second_date_of_another_size_said_in_one_line(
    oscd: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    out = tmp_path / "o.zarr"
    assert main(["convert", str(oscd), str(out), "--layout", "oscd", "--chip-size", "128"]) == 0
    err = capfd.readouterr().err
    notice = [line for line in err.splitlines() if "another grid" in line]
    assert len(notice) == 1 and "hongkong" in notice[0] and "paris" not in notice[0]


def test_oscd_layout_refuses_flags_it_does_not_use(oscd: Path, tmp_path: Path) -> None:
    from eossl.data.convert.write import convert

    with pytest.raises(UserError, match="--scale is not used by the oscd layout"):
        convert(oscd, tmp_path / "x.zarr", "oscd", scale=100.0, quiet=True)
    with pytest.raises(UserError, match="no city folder with imgs_1"):
        convert(tmp_path, tmp_path / "y.zarr", "oscd", quiet=True)
    with pytest.raises(UserError, match="lower --chip-size"):
        convert(oscd, tmp_path / "z.zarr", "oscd", chip_size=4096, quiet=True)


def test_cva_equals_numpy(store: Path) -> None:
    from eossl.evaluation.change import CVA, change_vector, load_pairs
    from eossl.evaluation.change.probe import CardPairs, Hypercolumns

    pairs = load_pairs(store)
    card = {
        "name": "t",
        "in_chans": 13,
        "bands": pairs.scenes.band_names,
        "mean": [1000.0 + i for i in range(13)],
        "std": [500.0 + i for i in range(13)],
        "crop_size": 64,
        "model": "resnet18",
    }
    images = CardPairs(card, pairs)(pairs.bands[:3])
    raw = pairs.bands[:3].astype(np.float64)
    mean, std = np.array(card["mean"])[:, None, None], np.array(card["std"])[:, None, None]
    expected = np.abs((raw[:, 1] - mean) / std - (raw[:, 0] - mean) / std)
    np.testing.assert_allclose(change_vector(images[:, 0], images[:, 1]), expected, atol=1e-4)
    cols = Hypercolumns(None, images)
    np.testing.assert_allclose(cols.tile(2).numpy(), expected[2], atol=2e-3)  # float16 store
    assert CVA == "change vector analysis"


def test_probe_depth_is_chosen_on_training_cities_only() -> None:
    """The head reads a deeper level when it tells change in the training cities, only then."""
    from eossl.evaluation.change.pairs import ChangePairs
    from eossl.evaluation.change.probe import Hypercolumns, _depth

    rng = np.random.default_rng(0)
    n, size = 16, 16
    mask = (rng.random((n, size, size)) < 0.1).astype(np.uint8)
    city = np.repeat(["a", "b", "c", "d"], n // 4)
    pairs = ChangePairs("t", np.zeros((n, 2, 1, size, size)), mask, city, mask, None)  # type: ignore[arg-type]
    fine = torch.from_numpy(mask + rng.normal(0, 0.6, mask.shape)).half()[:, None]

    def columns(second: np.ndarray) -> Hypercolumns:
        cols = object.__new__(Hypercolumns)
        cols.size, cols.levels = (size, size), [fine, torch.from_numpy(second).half()[:, None]]
        return cols

    train = np.flatnonzero(city != "d")
    telling = columns(mask.astype(np.float32))
    assert _depth(telling, pairs, train, seed=0) == 2 and telling.prefix(1).dim == 1
    assert _depth(columns(np.zeros(mask.shape, np.float32)), pairs, train, seed=0) == 1
    elsewhere = mask.astype(np.float32)
    elsewhere[city != "d"] = 0  # tells change in the held-out city only: never looked at
    assert _depth(columns(elsewhere), pairs, train, seed=0) == 1


def test_change_scores_per_city_and_intervals() -> None:
    from eossl.evaluation.change.scores import best_threshold, change_scores

    counts = {
        "a": {"x": np.array([8, 2, 2]), "y": np.array([1, 1, 3])},
        "b": {"x": np.array([4, 4, 6]), "y": np.array([1, 3, 3])},
    }
    s = change_scores(counts, resamples=200)
    assert s["overall"]["a"]["f"] == pytest.approx(2 * 9 / (2 * 9 + 3 + 5))
    assert s["per_city"]["b"]["y"]["p"] == pytest.approx(0.25)
    lo, hi = s["gain_ci95"]["a"]["b"]
    assert lo <= s["overall"]["a"]["f"] - s["overall"]["b"]["f"] <= hi
    score, y = torch.tensor([0.9, 0.8, 0.3, 0.2]), torch.tensor([1, 1, 0, 1])
    assert best_threshold(score, y) == pytest.approx(0.2)  # F1 6/7, above 0.8 at 0.8


def test_city_of_keeps_underscores() -> None:
    assert city_of("saclay_e_y64_x128") == "saclay_e"


def test_change_detection_task_loads_eossl_weights(card: Path) -> None:
    from eossl.evaluation.tasks import torchgeo_task
    from eossl.models import encoder_from_card
    from eossl.weights import load_card, torchgeo_weights

    card_path = card
    card = load_card(card_path)[0]
    task = torchgeo_task("ChangeDetection")(  # torchgeo.tasks.ChangeDetection on 0.10+
        model="fcsiamdiff",
        backbone=card["model"],
        weights=torchgeo_weights(card_path),
        in_channels=card["in_chans"],
    )
    ours = encoder_from_card(card, card_path).state_dict()
    theirs = task.model.encoder.state_dict()
    assert set(theirs) <= set(ours)
    for key, value in theirs.items():
        torch.testing.assert_close(value, ours[key])


def test_unlabelled_pixels_count_in_neither_loss_nor_metrics(card: Path) -> None:
    import lightning as L

    from eossl.evaluation.change.finetune import ChangeTiles, MaskedBCE, change_task
    from eossl.evaluation.finetune import downstream_trainer
    from eossl.weights import load_card, torchgeo_weights

    target = torch.tensor([[0.0, 1.0], [255.0, 1.0]])
    logits = torch.tensor([[0.3, -0.2], [5.0, 1.5]])
    labelled = target != 255
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        logits[labelled], target[labelled], pos_weight=torch.tensor(3.0)
    )
    loss = MaskedBCE(3.0)
    torch.testing.assert_close(loss(logits, target), expected)
    torch.testing.assert_close(loss(logits + 100 * (~labelled), target), expected)
    assert loss(logits, torch.full_like(target, 255.0)) == 0

    info = load_card(card)[0]
    mask = np.zeros((4, 32, 32), np.uint8)
    mask[:, :8] = 255
    mask[:, 20:, 20:] = 1
    images = torch.randn(4, 2, info["in_chans"], 32, 32)
    tiles = ChangeTiles(images, mask, np.arange(4), augment=True)
    loader = torch.utils.data.DataLoader(tiles, batch_size=2)
    L.seed_everything(0, verbose=False)
    task = change_task(info, torchgeo_weights(card), pos_weight=5.0, lr=1e-3)
    trainer = downstream_trainer(1, logger=False)
    trainer.fit(task, loader, loader)
    assert torch.isfinite(trainer.callback_metrics["train_loss"])
    f1 = [v for k, v in trainer.callback_metrics.items() if k.startswith("val_") and "F1" in k]
    assert f1 and all(0 <= float(v) <= 1 for v in f1), dict(trainer.callback_metrics)


def test_frozen_backbone_trains_the_decoder_only(card: Path) -> None:
    """SeCo's protocol: the encoder keeps the card's weights; the decoder learns."""
    import lightning as L

    from eossl.evaluation.change.finetune import ChangeTiles, change_task
    from eossl.evaluation.finetune import downstream_trainer
    from eossl.weights import load_card, torchgeo_weights

    info = load_card(card)[0]
    mask = np.zeros((4, 32, 32), np.uint8)
    mask[:, 20:, 20:] = 1
    loader = torch.utils.data.DataLoader(
        ChangeTiles(torch.randn(4, 2, info["in_chans"], 32, 32), mask, np.arange(4), False),
        batch_size=2,
    )
    L.seed_everything(0, verbose=False)
    task = change_task(info, torchgeo_weights(card), 5.0, 1e-3, freeze_backbone=True)
    params = lambda part: {k: v.clone() for k, v in part.named_parameters()}  # noqa: E731
    encoder, decoder = params(task.model.encoder), params(task.model.decoder)
    downstream_trainer(1, logger=False).fit(task, loader, loader)
    for key, value in task.model.encoder.named_parameters():
        torch.testing.assert_close(value, encoder[key])
    assert any(not torch.equal(v, decoder[k]) for k, v in task.model.decoder.named_parameters())


def test_evaluate_change_runs_on_real_cities(
    small: Path, card: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", str(card), "--task", "change", "--dataset", "oscd",
                 "--root", str(small), "--probe-only", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "change vector analysis" in printed and "bercy" in printed
    record = json.loads((out / "evaluate_change.json").read_text())
    (probe,) = record["results"]  # the fine-tuning runs in examples/06 (nbmake)
    assert set(probe["scores"]) == {
        "pretrained", "random init", "random init, BN on data", "change vector analysis"
    }  # fmt: skip
    assert probe["details"]["protocol"].startswith("leave cities out, 2 folds")
    for f1 in probe["scores"].values():
        assert 0 <= f1 <= 1
    assert (out / "evaluate_change_maps.png").stat().st_size > 0


def test_dates_of_two_places_are_a_bad_file(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """A second date of another place: one line naming it, or the city skipped."""
    src = _city_copy(tmp_path / "oscd", "bercy")
    _city_copy(tmp_path / "oscd", "paris")
    second = src / IMAGES / "bercy" / "imgs_2"
    second.unlink()
    second.symlink_to(realdata_dir() / "oscd" / IMAGES / "abudhabi" / "imgs_2")
    args = ["convert", str(src), str(tmp_path / "o.zarr"), "--layout", "oscd", "--chip-size", "64"]
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "bercy/imgs_2" in err and "covers 0% of the first date's footprint" in err
    assert main([*args, "--skip-bad"]) == 0
    assert zarr.open_group(tmp_path / "o.zarr", mode="r").attrs["cities"] == ["paris"]


@pytest.mark.parametrize(("count", "dtype"), [(3, "uint16"), (1, "float32")])
def test_band_file_of_several_bands_or_floats_is_a_bad_file(
    count: int, dtype: str, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Once, a 3-band file gave its first band silently, and float NaN a cast warning."""
    import rasterio

    src = _city_copy(tmp_path / "oscd")
    band = next(_own_second_date(src).glob("*_B03.tif"))
    with rasterio.open(band) as f:
        profile = {**f.profile, "count": count, "dtype": dtype}
        data = np.repeat(f.read(1)[None].astype(dtype), count, axis=0)
    with rasterio.open(band, "w", **profile) as f:
        f.write(data)
    args = ["convert", str(src), str(tmp_path / "o.zarr"), "--layout", "oscd", "--chip-size", "64"]
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "B03.tif" in err and f"{count} band(s) of {dtype}" in err


def test_nodata_in_either_date_is_unlabelled(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """Where a date has no data, no change can be judged: those pixels are 255."""
    import rasterio

    src = _city_copy(tmp_path / "oscd")
    second = _own_second_date(src)
    for band in second.glob("*.tif"):
        with rasterio.open(band, "r+") as f:
            data = f.read(1)
            data[:, : data.shape[1] // 4] = 0  # the left quarter: nodata
            f.write(data, 1)
    out = tmp_path / "o.zarr"
    args = ["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64"]
    assert main(args) == 0
    assert "most labelled pixels have no data" not in capfd.readouterr().err  # a quarter
    g = zarr.open_group(out, mode="r")
    empty = (g["bands"][:, 1] == 0).all(axis=1)  # (tile, y, x): no band of date 2
    labels = g["label"][...]
    assert empty.any() and (labels[empty] == 255).all()
    assert set(np.unique(labels[~empty]).tolist()) <= {0, 1}
    for band in second.glob("*.tif"):  # a second date of zeros: the city unlabelled, said
        with rasterio.open(band, "r+") as f:
            f.write(np.zeros(f.shape, "uint16"), 1)
    assert main([*args, "--overwrite"]) == 0
    said = _said(capfd, "most labelled pixels")
    assert len(said) == 1 and "in paris (100%)" in said[0]


def test_flipped_chunk_in_a_change_store_is_one_line(
    small_store: Path, card: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    import shutil

    from helpers import flip_chunk_byte

    flipped = tmp_path / "flipped.zarr"
    shutil.copytree(small_store, flipped)
    flip_chunk_byte(flipped, 0, 1)
    code = main(["evaluate", str(card), "--task", "change", "--data", str(flipped),
                 "--probe-only", "--out", str(tmp_path / "eval")])  # fmt: skip
    err = capfd.readouterr().err.strip().splitlines()
    assert code == 2 and "'bands' cannot be read" in err[-1] and "eossl verify" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_convert_oscd_killed_then_rerun_equals_uninterrupted(oscd: Path, tmp_path: Path) -> None:
    from test_reliability import _convert_killed_then_rerun

    _convert_killed_then_rerun(
        tmp_path, oscd, ["--layout", "oscd", "--chip-size", "64", "--shard", "16"]
    )


# -- inputs that are not quite OSCD's ---------------------------------------------------------


def _said(capfd: pytest.CaptureFixture, words: str) -> list[str]:
    """The lines of stderr so far that hold ``words``."""
    return [ln for ln in capfd.readouterr().err.splitlines() if words in ln]


def _city_copy(root: Path, name: str = "paris") -> Path:
    """An editable OSCD release of one city: its date folders linked, dates.txt and mask copied."""
    shared = realdata_dir() / "oscd"
    city = root / IMAGES / name
    city.mkdir(parents=True)
    for folder in ("imgs_1", "imgs_2"):
        (city / folder).symlink_to(shared / IMAGES / name / folder)
    (city / "dates.txt").write_text((shared / IMAGES / name / "dates.txt").read_text())
    (root / LABELS / name / "cm").mkdir(parents=True)
    mask = shared / LABELS / name / "cm" / f"{name}-cm.tif"
    (root / LABELS / name / "cm" / mask.name).write_bytes(mask.read_bytes())
    return root


def _rewrite_mask(src: Path, values: Callable[[np.ndarray], np.ndarray]) -> None:
    """Write ``values(mask)`` over paris's change mask in a :func:`_city_copy` release."""
    import rasterio

    mask = next((src / LABELS / "paris" / "cm").glob("*.tif"))
    with rasterio.open(mask, "r+") as f:
        data = f.read(1)
        f.write(values(data).astype(data.dtype), 1)


def _own_second_date(src: Path) -> Path:
    """paris's second date in a :func:`_city_copy` release, copied so a test may edit it."""
    second = src / IMAGES / "paris" / "imgs_2"
    shared = second.resolve()
    second.unlink()
    shutil.copytree(shared, second)
    return second


def _labels(store: Path) -> np.ndarray:
    return zarr.open_group(store, mode="r")["label"][...]


def test_mask_codings() -> None:
    from eossl.data.convert.change import mask_coding
    from eossl.data.convert.rasters import BadFileError

    assert mask_coding({1, 2}, "m") == mask_coding({0, 1, 2}, "m") == mask_coding({1}, "m")
    assert mask_coding({1, 2}, "m") == (1, 2)  # OSCD's tif
    assert mask_coding({0, 255}, "m") == mask_coding({0}, "m") == (0, 255)  # a binary image
    assert mask_coding({0, 1}, "m") == mask_coding({0, 1, 255}, "m") == (0, 1)  # eossl's own
    with pytest.raises(BadFileError, match=r"change mask values \[0, 3\]"):
        mask_coding({0, 3}, "m")
    # named, a coding is followed, not inferred: 0/255 in eossl's own is no change/unlabelled
    assert mask_coding({0, 255}, "m", "0-1") == (0, 1)
    assert mask_coding({1, 255}, "m", "oscd") == (1, 2)
    with pytest.raises(BadFileError, match=r"a 0/1 mask\? pass --mask-coding 0-1"):
        mask_coding({0, 1, 255}, "m", "oscd")  # would read change as no change, silently
    with pytest.raises(BadFileError, match=r"values \[0, 1\] are not in the --mask-coding 0-255"):
        mask_coding({0, 1}, "m", "0-255")


def test_mask_coding_named_on_the_command_line(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """``--mask-coding 0-1``: an eossl-coded mask of 0 and 255 keeps 255 unlabelled."""

    src = _city_copy(tmp_path / "oscd")
    _rewrite_mask(src, lambda data: np.where(data == 2, 255, 0))
    args = ["--layout", "oscd", "--chip-size", "64"]
    named = tmp_path / "named.zarr"
    assert main(["convert", str(src), str(named), *args, "--mask-coding", "0-1"]) == 0
    assert "change masks not in" not in capfd.readouterr().err
    labels = _labels(named)
    assert set(np.unique(labels).tolist()) == {0, 255}  # no change, and unlabelled
    # in OSCD's coding 0 and 255 are both unlabelled: the city is, and the notice says so
    assert (
        main(["convert", str(src), str(tmp_path / "o.zarr"), *args, "--mask-coding", "oscd"]) == 0
    )
    assert "labels no pixel, for paris" in capfd.readouterr().err
    code = main(["convert", str(src), str(tmp_path / "p.zarr"), "--layout", "patches",
                 "--mask-coding", "0-1"])  # fmt: skip
    assert code == 2
    assert "is for the oscd layout" in capfd.readouterr().err.strip().splitlines()[-1]


def test_binary_masks_read_as_oscd_s_own(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """A 0/255 or 0/1 mask gives the labels of OSCD's 1/2 tif, with a one-line notice."""

    reference = tmp_path / "ref.zarr"
    src = _city_copy(tmp_path / "oscd")
    args = ["--layout", "oscd", "--chip-size", "64", "--quiet"]
    assert main(["convert", str(src), str(reference), *args]) == 0
    _rewrite_mask(src, lambda data: np.where(data == 2, 255, 0))
    binary = tmp_path / "binary.zarr"
    assert main(["convert", str(src), str(binary), *args[:-1]]) == 0
    notice = _said(capfd, "change masks not in")
    assert len(notice) == 1 and "paris (0/255)" in notice[0]
    assert (_labels(binary) == _labels(reference)).all() and (_labels(reference) == 1).any()


def test_dates_txt_bad_or_missing(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """A malformed date is a one-line error; no dates.txt: the names' dates, said in a line."""
    src = _city_copy(tmp_path / "oscd")
    dates = src / IMAGES / "paris" / "dates.txt"
    dates.write_text("date_1: 2016-13-45\ndate_2: 20171107\n")
    out = tmp_path / "o.zarr"
    args = ["--layout", "oscd", "--chip-size", "64"]
    assert main(["convert", str(src), str(out), *args]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert "dates.txt" in err[-1] and "'2016-13-45' is not a date" in err[-1]
    assert not out.exists()
    dates.write_text("first: 2016-08-01\nsecond: 2017-11-07\n")  # no date_N line at all
    assert main(["convert", str(src), str(out), *args]) == 2  # was read as no dates.txt
    err = capfd.readouterr().err.strip().splitlines()
    said = "holds no line 'date_1: YYYYMMDD' and 'date_2: YYYYMMDD' (its first line: 'first:"
    assert "dates.txt" in err[-1] and said in err[-1]
    assert not out.exists()
    dates.write_text("\ufeffdate_1: 20160801\r\ndate_2: 20171107\r\n")  # a BOM, CRLF
    assert main(["convert", str(src), str(out), *args, "--quiet"]) == 0
    first = zarr.open_group(out, mode="r")["time_"][0, 0]
    assert np.datetime64(int(first), "ns") == np.datetime64("2016-08-01", "ns")
    shutil.rmtree(out)
    dates.unlink()
    assert main(["convert", str(src), str(out), *args]) == 0
    notice = _said(capfd, "no dates.txt")
    assert len(notice) == 1 and "paris (" in notice[0] and "processing dates" in notice[0]


def test_truncated_band_skipped_is_listed_once(
    card: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """``--skip-bad``: a band file that fails only while converting is one skipped file."""
    src = _city_copy(tmp_path / "oscd")
    folder = src / IMAGES / "paris" / "imgs_2"
    shared = folder.resolve()
    folder.unlink()
    folder.mkdir()
    for f in shared.iterdir():
        (folder / f.name).symlink_to(f)
    band = next(folder.glob("*B04.tif"))
    data = band.resolve().read_bytes()
    band.unlink()
    band.write_bytes(data[: int(len(data) * 0.6)])
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64",
                 "--shard", "8", "--skip-bad"]) == 0  # fmt: skip
    skipped = zarr.open_group(out, mode="r").attrs["skipped_files"]
    assert [s["path"] for s in skipped] == [str(band)]
    said = capfd.readouterr().out.replace("\n", " ")
    assert "samples are padding where files were skipped: pretraining reads them" in said
    evaluate = ["evaluate", str(card), "--task", "change", "--dataset", "oscd", "--root"]
    assert main([*evaluate, str(src), "--probe-only"]) == 2  # evaluate has no --skip-bad
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "B04.tif" in err and "--layout oscd --skip-bad`, then --data OUT" in err


def test_change_store_without_a_labelled_city(
    card: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    src = _city_copy(tmp_path / "oscd")
    shutil.rmtree(src / LABELS)
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64"]) == 0
    assert main(["evaluate", str(card), "--task", "change", "--data", str(out)]) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert f"{out}: no city has a change mask" in err
    args = ["evaluate", str(card), "--task", "change", "--dataset", "oscd", "--root", str(src)]
    assert main([*args, "--probe-only"]) == 2  # named the temporary store, deleted by then
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert f"{src}: no city has a change mask" in err and "Train Labels" in err


def test_overwrite_replaces_stores_only(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """``--overwrite`` on a folder that is not a zarr store: a one-line refusal, nothing lost."""
    out = tmp_path / "notes.zarr"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    src = _city_copy(tmp_path / "oscd")
    code = main(["convert", str(src), str(out), "--layout", "oscd", "--overwrite"])
    assert code == 2 and (out / "notes.txt").read_text() == "precious"
    assert "not a zarr store" in capfd.readouterr().err.strip().splitlines()[-1]


def test_check_replaceable_knows_a_store(tmp_path: Path) -> None:
    """Stores (zarr v2, v3, a zipped v2) and empty folders may be replaced; nothing else."""
    import zipfile

    from eossl.data.io.writer import check_replaceable

    for fmt in (2, 3):
        zarr.open_group(tmp_path / f"v{fmt}.zarr", mode="w", zarr_format=fmt)
        check_replaceable(tmp_path / f"v{fmt}.zarr", overwrite=True)
    with zipfile.ZipFile(tmp_path / "s.zarr.zip", "w") as z:
        z.writestr(".zgroup", '{"zarr_format": 2}')
    check_replaceable(tmp_path / "s.zarr.zip", overwrite=True)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("report.txt", "precious")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", overwrite=True)  # nothing to lose
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "n.txt").write_text("precious")
    for other in ("other.zip", "notes"):
        with pytest.raises(UserError, match="not a zarr store"):
            check_replaceable(tmp_path / other, overwrite=True)
    with pytest.raises(UserError, match="pass --overwrite"):
        check_replaceable(tmp_path / "v3.zarr", overwrite=False)
    for name, target in (("link.zarr", "v3.zarr"), ("dangling.zarr", "gone.zarr")):
        (tmp_path / name).symlink_to(tmp_path / target)
        with pytest.raises(UserError, match="a symbolic link"):
            check_replaceable(tmp_path / name, overwrite=True)
    assert (tmp_path / "v3.zarr" / "zarr.json").is_file()  # the link's store is untouched


def test_mask_that_labels_no_pixel_is_an_unlabelled_city(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """A mask of 255 only: the city converts unlabelled, and the notice says so."""

    src = _city_copy(tmp_path / "oscd")
    _rewrite_mask(src, lambda data: np.full_like(data, 255))
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64"]) == 0
    notice = _said(capfd, "labels no pixel")
    assert len(notice) == 1 and "paris" in notice[0]
    assert "label" not in zarr.open_group(out, mode="r")  # no city labelled: no labels at all


def test_converted_cities_verify_clean(small_store: Path) -> None:
    """Every chunk of a change store is written (labels of no change too): verify finds none
    missing, and a deleted label shard is named."""
    from eossl.data.io.verify import verify_store

    assert verify_store(small_store, quiet=True).damage == []
    copy = small_store.parent / "copy.zarr"
    shutil.copytree(small_store, copy)
    shard = sorted((copy / "label").rglob("c/*/*/*"))[-1]
    shard.unlink()
    (damage,) = verify_store(copy, quiet=True).damage
    assert damage.array == "label" and damage.problem == "file missing"


def _scan_error(src: Path, **kwargs) -> str:
    from eossl.data.convert.change import scan_change

    with pytest.raises(UserError) as err:
        scan_change(src, chip=64, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_city_with_one_date_folder_is_bad_not_dropped(tmp_path: Path) -> None:
    """A city without imgs_2/ (or an empty city folder) beside a good one: named, skippable."""
    from eossl.data.convert.change import scan_change

    src = _city_copy(_city_copy(tmp_path / "oscd"), "hongkong")
    (src / IMAGES / "hongkong" / "imgs_2").unlink()
    assert "hongkong: holds imgs_1/; a city needs both" in _scan_error(src)
    plan = scan_change(src, chip=64, skip_bad=True)
    assert [c.name for c in plan.cities] == ["paris"] and len(plan.skipped) == 1
    (src / IMAGES / "empty").mkdir()
    assert "empty: holds neither imgs_1/ nor imgs_2/" in _scan_error(src, skip_bad=False)


def test_a_missing_band_of_the_first_date_is_a_skippable_bad_file(tmp_path: Path) -> None:
    src = _city_copy(tmp_path / "oscd")
    first = src / IMAGES / "paris" / "imgs_1"
    shared = first.resolve()
    first.unlink()
    shutil.copytree(shared, first)
    next(first.glob("*_B02.tif")).unlink()
    assert "imgs_1: missing band file(s) B02" in _scan_error(src)  # was "match no sensor card"
    said = _scan_error(src, skip_bad=True)  # the only city skipped: said so, not "lower it"
    assert "no city left to convert: 1 skipped as bad" in said and "B02" in said


def test_a_band_covering_part_of_its_date_is_bad(tmp_path: Path) -> None:
    import rasterio
    from rasterio.windows import Window

    src = _city_copy(tmp_path / "oscd")
    second = _own_second_date(src)
    band = next(second.glob("*_B03.tif"))
    with rasterio.open(band) as f:
        window = Window(0, 0, f.width // 3, f.height // 3)
        profile = {**f.profile, "width": window.width, "height": window.height}
        profile["transform"] = f.window_transform(window)
        data = f.read(1, window=window)
    band.unlink()
    with rasterio.open(band, "w", **profile) as f:
        f.write(data, 1)
    assert "_B03.tif: covers 11% of its date's footprint" in _scan_error(src)


def test_dates_out_of_order_are_refused(tmp_path: Path) -> None:
    src = _city_copy(tmp_path / "oscd")
    text = src / IMAGES / "paris" / "dates.txt"
    one, two = text.read_text().strip().splitlines()
    text.write_text(f"{one.replace('date_1', 'date_2')}\n{two.replace('date_2', 'date_1')}\n")
    assert "is after date_2" in _scan_error(src) and "dates.txt" in _scan_error(src)


def test_tile_size_is_for_the_release_only(capsys: pytest.CaptureFixture) -> None:
    args = ["evaluate", "w.json", "--task", "change", "--data", "s.zarr", "--tile-size", "32"]
    assert main(args) == 2
    assert "--tile-size cuts --dataset oscd's cities" in capsys.readouterr().err


def test_convert_oscd_inputs_that_were_taken_in_silence(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Each of these converted with exit 0 and a wrong store; now one line, nothing written."""
    import rasterio

    src = _city_copy(tmp_path / "oscd")
    out = tmp_path / "o.zarr"
    args = ["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64"]

    def refused(*extra: str) -> str:
        assert main([*args, *extra]) == 2
        assert not out.exists()
        return capfd.readouterr().err.strip().splitlines()[-1]

    assert "--workers: must be at least 1, got 0" in refused("--workers", "0")  # hung
    assert "--stride 100 is larger than --chip-size 64" in refused("--stride", "100")
    assert "--dtype float32 is for the geotiff layout with --scale" in refused(
        "--dtype", "float32"
    )
    assert "band files B10 are not bands of --sensor s2-l2a; the files fit s2-l1c" in refused(
        "--sensor", "s2-l2a"
    )
    dates = src / IMAGES / "paris" / "dates.txt"
    original = dates.read_text()
    dates.write_text("date_1: 20161130\ndate_2: 20161130\n")
    assert "date_1 and date_2 are both 2016-11-30: a change pair needs two" in refused()
    dates.write_text("date_1: 20161130\ndate_2: 29991107\n")  # was stored as 1830
    assert "date_2 '29991107' is not a date (YYYYMMDD, 1678-2261)" in refused()
    dates.write_text(original)
    second = _own_second_date(src)  # B08 copied as a second B04: B04's pixels were B08's
    b08 = next(second.glob("*_B08.tif"))
    shutil.copy(b08, second / b08.name.replace("_B08", "_B04").replace("T", "X", 1))
    assert "two files of band B04" in refused()
    for extra in second.glob("X*_B04.tif"):
        extra.unlink()
    mask = next((src / LABELS / "paris" / "cm").glob("*.tif"))
    with rasterio.open(mask) as f:  # a 3-band mask: only band 1 was read
        profile, data = {**f.profile, "count": 3}, f.read(1)
    with rasterio.open(mask, "w", **profile) as f:
        f.write(np.stack([data] * 3))
    assert "3 bands; a change mask holds one" in refused()
    with rasterio.open(mask, "w", **{**profile, "count": 1}) as f:
        f.write(data, 1)
    shutil.copy(mask, mask.with_name("paris2-cm.tif"))  # the first of two masks was taken
    assert "2 change masks (paris-cm.tif, paris2-cm.tif ...); keep one" in refused()
    mask.with_name("paris2-cm.tif").unlink()
    dates.write_text(original + "date_1: 20150101\n")  # the last date_1 line was taken
    assert "date_1 is given twice; keep one" in refused()
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["convert", str(afile), str(out), "--layout", "oscd"]) == 2
    assert "a file, not the folder of a change archive" in capfd.readouterr().err


def test_a_city_named_like_a_label_folder_is_a_city(tmp_path: Path) -> None:
    """A city whose name holds 'label' was left out, with no word."""
    src = _city_copy(tmp_path / "oscd")
    for root in (IMAGES, LABELS):
        (src / root / "paris").rename(src / root / "labelville")
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64"]) == 0
    assert zarr.open_group(out, mode="r").attrs["cities"] == ["labelville"]
    assert (_labels(out) == 1).any()  # its mask found beside it


@pytest.mark.parametrize("task", ["knn", "segmentation"])
def test_one_image_tasks_on_a_change_store_say_so(
    task: str, card: Path, small_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """knn with --labels multi scored date 1 against change labels (F1 0.995), with exit 0."""
    args = ["evaluate", str(card), "--data", str(small_store), "--task", task]
    args += ["--out", str(tmp_path)] + (["--labels", "multi"] if task == "knn" else [])
    assert main(args) == 2
    assert "a change store, whose labels belong to a pair of dates" in capsys.readouterr().err


def test_city_folds_say_when_cities_are_few(capsys: pytest.CaptureFixture) -> None:
    from eossl.evaluation.change.pairs import city_folds, say_few_cities

    folds = city_folds(["a", "b"], 9, seed=0)  # --folds 9 on two cities: two folds
    assert sorted(map(tuple, folds)) == [("a",), ("b",)]
    assert capsys.readouterr().err == ""  # the probe's inner folds say nothing
    say_few_cities(["a", "b"], 9, default=False)
    err = capsys.readouterr().err
    assert "--folds 9 with 2 labelled cities: 2 folds" in err
    assert "intervals, resampled over cities, are rough below 5" in err
    say_few_cities(["a", "b", "c"], 5, default=True)
    assert "--folds 5 (the default) with 3 labelled cities" in capsys.readouterr().err
    say_few_cities([str(i) for i in range(10)], 5, default=True)
    assert capsys.readouterr().err == ""


def test_a_band_larger_than_the_others_is_the_one_named(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """B04 written over a larger extent: the error named B01, which was fine."""
    import rasterio

    src = _city_copy(tmp_path / "oscd")
    band = next(_own_second_date(src).glob("*_B04.tif"))
    with rasterio.open(band) as f:
        profile, data = f.profile, f.read(1)
    big = np.zeros((data.shape[0] * 2, data.shape[1] * 2), data.dtype)
    big[: data.shape[0], : data.shape[1]] = data
    with rasterio.open(
        band, "w", **{**profile, "height": big.shape[0], "width": big.shape[1]}
    ) as f:
        f.write(big, 1)
    args = ["convert", str(src), str(tmp_path / "o.zarr"), "--layout", "oscd", "--chip-size", "64"]
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "B04.tif: reaches beyond its date's other bands (they cover 25% of it)" in err


def test_cities_listed_in_train_txt_and_absent_are_said(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    src = _city_copy(tmp_path / "oscd")
    (src / IMAGES / "train.txt").write_text("paris,rome,lyon\n")  # a partial download
    out = tmp_path / "o.zarr"
    assert main(["convert", str(src), str(out), "--layout", "oscd", "--chip-size", "64"]) == 0
    said = _said(capfd, "train.txt")
    assert len(said) == 1 and "train.txt lists rome, lyon, not in" in said[0]


def test_evaluate_drops_the_resume_hint_of_its_temporary_store(
    card: Path, tmp_path: Path, capfd: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure half-way through evaluate's own conversion names no partial store to resume."""
    from eossl.data.convert.change import ChangePlan

    original, calls = ChangePlan.read_block, []

    def failing(self, start, stop, skip_bad):  # the second block fails, not from a bad file
        calls.append(start)
        if len(calls) == 2:
            raise UserError("the disk is full")
        return original(self, start, stop, skip_bad)

    monkeypatch.setattr(ChangePlan, "read_block", failing)
    monkeypatch.setattr("eossl.data.convert.write.auto_shard", lambda per_sample: 4)
    src = _city_copy(tmp_path / "oscd")
    evaluate = ["evaluate", str(card), "--task", "change", "--dataset", "oscd", "--root"]
    assert main([*evaluate, str(src), "--probe-only"]) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("the disk is full") and "keeps" not in err


def test_masks_that_leave_pixels_unlabelled(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """0/2: OSCD's coding would unlabel all but the changes (a bad file); 0/1/2: said."""
    src = _city_copy(tmp_path / "oscd")
    args = ["--layout", "oscd", "--chip-size", "64"]
    _rewrite_mask(src, lambda data: np.where(data == 1, 0, data))
    assert main(["convert", str(src), str(tmp_path / "a.zarr"), *args]) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "change mask values [0, 2] hold 0 and 2 but no 1" in err and "99.7% of it" in err

    def tenth_back(data: np.ndarray) -> np.ndarray:  # a tenth of the rows back to 1, no change
        rows = np.arange(len(data))[:, None] % 10 == 0
        return np.where((data == 0) & rows, 1, data)

    _rewrite_mask(src, tenth_back)
    assert main(["convert", str(src), str(tmp_path / "b.zarr"), *args]) == 0
    notice = _said(capfd, "leave pixels")
    assert len(notice) == 1 and "in paris (" in notice[0] and "not scored" in notice[0]


def test_change_scores_need_a_changed_pixel(
    card: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """No change in any city: refused; none in one city: said."""
    from eossl.evaluation.change.pairs import _check_changes

    src = _city_copy(tmp_path / "oscd")
    _rewrite_mask(src, lambda data: np.ones_like(data))
    evaluate = ["evaluate", str(card), "--task", "change", "--dataset", "oscd", "--root"]
    assert main([*evaluate, str(src), "--probe-only"]) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "no changed pixel in any labelled city, so the F1 of change cannot be scored" in err
    city = np.array(["a", "a", "b"])
    mask = np.zeros((3, 4, 4), np.uint8)
    mask[2, 0, 0] = 1
    _check_changes("s.zarr", city, mask)
    assert "eossl: no changed pixel in a: its F1 cannot be above 0" in capfd.readouterr().err


def test_a_blank_band_is_a_bad_file(tmp_path: Path, capfd: pytest.CaptureFixture) -> None:
    """One band of nodata only, where the date's other bands hold data: a bad file."""
    import rasterio

    src = _city_copy(tmp_path / "oscd")
    band = next(_own_second_date(src).glob("*B04.tif"))
    with rasterio.open(band, "r+") as f:
        f.write(np.zeros((f.height, f.width), f.dtypes[0]), 1)
    assert main(["convert", str(src), str(tmp_path / "o.zarr"), "--layout", "oscd"]) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "B04.tif: holds only nodata (0) where its date's other bands hold data" in err


def test_a_city_with_masks_in_two_label_folders(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    """Train Labels and Test Labels both holding a city's mask: neither wins in silence."""
    src = _city_copy(tmp_path / "oscd")
    other = src / LABELS.replace("Train", "Test") / "paris"
    shutil.copytree(src / LABELS / "paris", other)
    assert main(["convert", str(src), str(tmp_path / "o.zarr"), "--layout", "oscd"]) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "paris: change masks in 2 folders (" in err and "Test Labels" in err


def test_seco_on_two_dates_with_same_positives_blames_the_option(
    small_store: Path, tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    args = ["pretrain", "--sensor", "s2-l1c", "--method", "seco", "--data", str(small_store),
            "--preset", "patches", "--trainer.fast_dev_run", "true", "--data.num_workers", "0",
            "--data.positives", "same", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 2
    err = capfd.readouterr().err.strip().splitlines()[-1]
    assert "it takes --data.positives season, not same (the data hold up to 2 timestamps" in err


def test_one_city_cannot_be_left_out() -> None:
    from eossl.evaluation.change.pairs import city_folds

    with pytest.raises(UserError, match=r"one labelled city \(paris\): leaving cities out"):
        city_folds(["paris"], 5, 0)
    assert sorted(sum(city_folds(["a", "b", "c"], 5, 0), [])) == ["a", "b", "c"]


def test_a_source_folder_named_like_labels_reads_its_masks_once(tmp_path: Path) -> None:
    """``oscd_labelled/paris/cm``: the source is also a labels root; one mask, not two."""
    src = _city_copy(tmp_path / "x")
    city = tmp_path / "oscd_labelled" / "paris"
    shutil.copytree(src / IMAGES / "paris", city, symlinks=True)
    shutil.copytree(src / LABELS / "paris" / "cm", city / "cm")
    out = tmp_path / "o.zarr"
    assert main(["convert", str(city.parent), str(out), "--layout", "oscd", "--quiet"]) == 0
    assert (_labels(out) == 1).any()
