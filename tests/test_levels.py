"""Stores of two processing levels (Sentinel-2 L1C and L2A) in one pretraining run."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import one_line, tiny

from eossl.cli import main
from eossl.data.datamodule import SeasonalZarrDataModule
from eossl.data.levels import LevelNormalize
from eossl.data.normalize import BandNormalize, resolve_stats
from eossl.data.samples import listed_roots, stores_of
from eossl.data.synthetic.store import write_synthetic
from eossl.errors import UserError
from eossl.sensors import get_sensor


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A two-date L1C store (13 bands) and a single-date L2A store (12 bands, no B10)."""
    root = tmp_path_factory.mktemp("levels")
    l1c = write_synthetic(root / "l1c.zarr", "s2-l1c", samples=6, size=32, seasons=2, quiet=True)
    l2a = write_synthetic(root / "l2a.zarr", "s2-l2a", samples=10, size=32, seasons=1, quiet=True)
    return l1c, l2a


def _module(data: str, **kwargs) -> SeasonalZarrDataModule:
    dm = SeasonalZarrDataModule(
        data, sensor="s2-l1c", batch_size=16, num_workers=0, val_fraction=0, **kwargs
    )
    dm.setup()
    return dm


def test_listed_roots(tmp_path: Path) -> None:
    assert listed_roots("a.zarr,b.zarr") == ["a.zarr", "b.zarr"]
    assert listed_roots("a.zarr") == "a.zarr"
    odd = tmp_path / "x,y.zarr"  # a path that holds a comma is one path
    odd.mkdir()
    assert listed_roots(str(odd)) == str(odd)


def test_each_level_normalised_with_its_own_statistics(levels, capsys) -> None:
    l1c, l2a = levels
    dm = _module(f"{l1c},{l2a}")
    said = capsys.readouterr().err
    assert "s2-l1c (6 samples) + s2-l2a (10 samples; without B10: filled with the mean)" in said
    assert len(dm.dataset) == 16 and dm.stats == resolve_stats(dm.dataset.stores[0], dm.sensor)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[-3] == 13 and batch["image"].dtype == torch.float32
    raw = batch["image"].clone()
    level = batch["level"]
    assert set(level.tolist()) == {0, 1}
    out = dm.normalise(dict(batch))["image"]
    assert torch.isfinite(out).all()
    b10 = get_sensor("s2-l1c").band_names.index("B10")
    assert raw[level == 1][:, :, b10].isnan().all() and (out[level == 1][:, :, b10] == 0).all()
    # each level as BandNormalize with that level's own store statistics gives it
    for k, sensor in enumerate(("s2-l1c", "s2-l2a")):
        card = get_sensor(sensor)
        st = resolve_stats(dm.dataset.parts[sensor].stores[0], card)
        own = [card.band_names.index(b) for b in card.band_names if b != "B10" or k == 0]
        slots = [dm.sensor.band_names.index(card.band_names[i]) for i in own]
        want = BandNormalize(st.mean, st.std, card.nodata)(raw[level == k][:, :, slots])
        torch.testing.assert_close(out[level == k][:, :, slots], want)
    # L2A single dates repeat; L1C tiles give their two dates
    torch.testing.assert_close(raw[level == 1][:, 0], raw[level == 1][:, 1], equal_nan=True)
    assert not (raw[level == 0][:, 0] == raw[level == 0][:, 1]).all()


def test_level_nodata_pixel_is_zero() -> None:
    from eossl.data.normalize import BandStats

    s1c, s2a = get_sensor("s2-l1c"), get_sensor("s2-l2a")
    l2a = BandStats((50.0,) * 10 + (0.0,) + (50.0,) * 2, (5.0,) * 10 + (1.0,) + (5.0,) * 2, 0, "")
    norm = LevelNormalize([BandStats((100.0,) * 13, (10.0,) * 13, 0, ""), l2a], [s1c, s2a])
    x = torch.full((2, 1, 13, 2, 2), 60.0)
    x[1, :, 10] = float("nan")  # B10, which L2A lacks
    x[1, :, :, 0, 0] = torch.where(torch.isnan(x[1, :, :, 0, 0]), x[1, :, :, 0, 0], 0.0)
    out = norm(x, torch.tensor([0, 1]))
    assert torch.allclose(out[0], torch.tensor(-4.0))
    assert (out[1, :, :, 0, 0] == 0).all()  # every band L2A has is nodata (0)
    slots = [i for i in range(13) if i != 10]
    assert torch.allclose(out[1, :, slots, 1, 1], torch.tensor(2.0))
    assert (out[1, :, 10] == 0).all()


def test_bands_matched_by_any_spelling(levels, tmp_path: Path) -> None:
    """A store naming its bands B1..B9 (TorchGeo's spelling) matches by alias."""
    import zarr

    l1c, l2a = levels
    other = tmp_path / "l2a_b1.zarr"
    shutil.copytree(l2a, other)
    group = zarr.open_group(other, mode="r+")
    names = [n.replace("B0", "B") for n in get_sensor("s2-l2a").band_names]
    group["band"][:] = np.array(names, dtype=group["band"].dtype)
    dm = _module(f"{l1c},{other}")
    assert dm.dataset.missing == {"s2-l1c": [], "s2-l2a": ["B10"]}
    assert dm.dataset.picks[1] == ([i for i in range(13) if i != 10], list(range(12)))


def test_listed_twice_refused_and_stray_comma(levels) -> None:
    l1c, l2a = levels
    with pytest.raises(UserError, match="listed twice in --data"):
        _module(f"{l1c},{l1c},{l2a}")
    with pytest.raises(UserError, match="listed twice in --data"):
        _module(f"{l1c},{l2a.parent}")  # the folder holds both stores again
    assert listed_roots(f"{l1c},") == str(l1c)


def test_several_sensors_still_read_a_list(levels, tmp_path: Path) -> None:
    """``--sensor s1,s2`` with listed stores is co-located sensors, not levels."""
    s1 = write_synthetic(tmp_path / "s1.zarr", "s1", samples=6, size=32, seasons=2, quiet=True)
    dm = SeasonalZarrDataModule(
        f"{s1},{levels[0]}", sensor="s1,s2", batch_size=4, num_workers=0, val_fraction=0
    )
    dm.setup()
    assert set(dm.dataset.parts) == {"s1-grd", "s2-l1c"}


def test_other_sensors_and_no_own_level_refused(levels, tmp_path: Path) -> None:
    l1c, l2a = levels
    s1 = write_synthetic(tmp_path / "s1.zarr", "s1", samples=4, size=32, seasons=1, quiet=True)
    with pytest.raises(UserError) as err:
        _module(f"{l1c},{s1}")
    assert "another sensor than s2-l1c" in one_line(err)
    more = write_synthetic(
        tmp_path / "b.zarr", "s2-l2a", samples=4, size=32, seasons=1, quiet=True
    )
    with pytest.raises(UserError, match="none of --data holds s2-l1c stores"):
        _module(f"{l2a},{more}")
    with pytest.raises(UserError, match="already train together"):
        _module(f"{l1c},{l2a}", level_jitter="s2-l2a")


def test_image_sizes_must_agree_or_be_cropped(levels, tmp_path: Path) -> None:
    l1c, _ = levels
    big = write_synthetic(tmp_path / "b.zarr", "s2-l2a", samples=4, size=40, seasons=1, quiet=True)
    with pytest.raises(UserError, match="b.zarr: 40x40 images, but .*l1c.zarr holds 32x32; pass"):
        _module(f"{l1c},{big}")
    dm = _module(f"{l1c},{big}", crop_size=32)
    assert next(iter(dm.train_dataloader()))["image"].shape[-2:] == (32, 32)
    # stores of one level and two sizes too: windows of the crop from each
    wide = write_synthetic(
        tmp_path / "w.zarr", "s2-l1c", samples=4, size=40, seasons=2, quiet=True
    )
    with pytest.raises(UserError, match="40x40 images, but .* 32x32; pass --data.crop_size"):
        _module(f"{l1c},{wide}")
    with pytest.raises(UserError, match="crop_size=36 is larger than the stored 32x32"):
        _module(f"{l1c},{wide}", crop_size=36)
    dm = _module(f"{l1c},{wide}", crop_size=32)
    assert len(dm.dataset) == 10
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape[-2:] == (32, 32) and torch.isfinite(batch["image"]).all()


def test_pretrain_on_two_levels(levels, tmp_path: Path) -> None:
    """One run on both levels; the card holds the run's sensor, bands and statistics."""
    l1c, l2a = levels
    out = tmp_path / "run"
    args = ["--sensor", "s2-l1c", "--data", f"{l1c},{l2a}", "--method", "simclr"]
    args += ["--out", str(out), "--trainer.fast_dev_run", "1", *tiny(moco=False)[4:]]
    assert main(["pretrain", *args, "--model.init_args.hidden_dim", "32"]) == 0
    card = json.loads(next((out / "weights").glob("*.json")).read_text())
    assert card["sensor"] == "s2-l1c" and card["in_chans"] == 13 and "B10" in card["bands"]
    l1c_stats = resolve_stats(stores_of(l1c)[0], None)
    np.testing.assert_allclose(card["mean"], l1c_stats.mean, rtol=1e-6)
    l1c_card, l2a_card = card["levels"]
    assert (l1c_card["sensor"], l2a_card["sensor"], l2a_card["missing"]) == (
        "s2-l1c",
        "s2-l2a",
        ["B10"],
    )
    l2a_stats = resolve_stats(stores_of(l2a)[0], None)
    np.testing.assert_allclose(np.delete(l2a_card["mean"], 10), l2a_stats.mean, rtol=1e-6)
    # evaluated on L2A data, the weights use the L2A level's own statistics, not a shift
    from eossl.evaluation.evaluate import CardInputs, open_scenes

    labelled = write_synthetic(
        tmp_path / "lab.zarr", "s2-l2a", samples=6, size=32, seasons=1, labels=True, quiet=True
    )
    scenes = open_scenes(None, str(labelled), labels="majority", seed=0)
    inputs = CardInputs(card, scenes)
    st = resolve_stats(stores_of(labelled)[0], None)
    np.testing.assert_allclose(inputs.normalize.mean, l2a_stats.mean, rtol=1e-6)
    assert not inputs.level and st.mean != l2a_stats.mean  # the card's, not the data's
