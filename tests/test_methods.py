"""The method menu beyond MoCo/SeCo: SimCLR, BYOL, DINO, Barlow Twins, data2vec and MAE."""

import json
from pathlib import Path

import pytest
import timm
import torch
from helpers import DECODER, VIT, tiny

from eossl.cli import main

TINY = tiny(moco=False)
SMALL_HEAD = ["--model.init_args.hidden_dim", "64", "--model.init_args.proj_dim", "32"]
ARGS = {
    "simclr": SMALL_HEAD,
    "byol": SMALL_HEAD,
    "barlow": SMALL_HEAD,
    "dino": [
        *VIT,
        *SMALL_HEAD,
        "--model.init_args.bottleneck_dim",
        "16",
        "--model.init_args.local_crops",
        "2",
        "--model.init_args.local_crop_size",
        "16",
    ],
    "data2vec": [*VIT, "--model.init_args.top_k", "2"],
    "mae": [*VIT, *DECODER],
    "mae-groups": [
        *VIT,
        *DECODER,
        "--model.init_args.spectral_groups",
        "[[1, 2, 3, 7], [4, 5, 6, 8], [11, 12]]",
    ],
    "mae-temporal": [*VIT, *DECODER, "--model.init_args.temporal", "true", "--data.seasons", "3"],
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pretrain(method: str, out: Path, *args: str) -> dict:
    """Run ``eossl pretrain`` and return the exported card (with the path of the weights)."""
    code = main(["pretrain", "--method", method.split("-")[0], "--out", str(out), *TINY, *args])
    assert code == 0
    card_path = next((out / "weights").glob("*.json"))
    card = json.loads(card_path.read_text())
    card["pth"] = card_path.parent / card["files"]["pth"]
    return card


@pytest.mark.parametrize("method", [m for m in ARGS if m != "mae"])  # mae: the figure test
def test_fast_dev_run(method: str, tmp_path: Path) -> None:
    card = _pretrain(method, tmp_path / "run", "--trainer.fast_dev_run", "1", *ARGS[method])
    assert card["method"] == method.split("-")[0] and card["crop_size"] == 32
    state = torch.load(card["pth"], weights_only=True)
    # timm names, default img_size, strict: also ViTs trained on 32-pixel crops
    timm.create_model(card["model"], in_chans=card["in_chans"], num_classes=0).load_state_dict(
        state
    )
    if method.startswith("mae"):
        assert (tmp_path / "run" / "reconstructions" / "epoch_000.png").is_file()


def _mae(**kwargs):
    from eossl.augment import AugmentRecipe
    from eossl.methods import MAE

    defaults = dict(backbone="vit_tiny_patch16_224", in_chans=13, decoder_dim=32)
    defaults.update(decoder_depth=1, decoder_heads=2, augment=AugmentRecipe(crop_size=64))
    return MAE(**{**defaults, **kwargs})


@pytest.mark.parametrize("ratio", [0.75, 0.5])
def test_mae_mask_ratio(ratio: float) -> None:
    model = _mae() if ratio == 0.75 else _mae(mask_ratio=ratio)
    assert model.hparams.mask_ratio == ratio  # 0.75 by default
    seen = []
    model.backbone.blocks.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[1]))
    loss, _, _, mask = model.forward_loss([torch.randn(3, 13, 64, 64)])
    tokens = (64 // 16) ** 2
    assert mask.shape == (3, tokens) and (mask.sum(1) == tokens * ratio).all()
    assert seen == [1 + tokens - int(tokens * ratio)]  # class token + visible tokens only
    assert torch.isfinite(loss)


def test_mae_loss_falls(s2_store: Path) -> None:
    from eossl.augment import AugmentRecipe
    from eossl.data import SeasonalZarrDataModule

    torch.manual_seed(0)
    dm = SeasonalZarrDataModule(str(s2_store), sensor="s2", batch_size=8, num_workers=0)
    dm.setup()
    image = dm.normalize(next(iter(dm.train_dataloader()))["image"])[:, 0]  # fixed batch
    model = _mae(decoder_dim=64, augment=AugmentRecipe(crop_size=32))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(12):
        loss = model.forward_loss([image])[0]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) < 0.9 * sum(losses[:3]), losses


def test_mae_figure_in_tensorboard_and_run_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    card = _pretrain(
        "mae",
        out,
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_train_batches",
        "1",
        "--trainer.limit_val_batches",
        "1",
        *ARGS["mae"],
    )
    assert (out / "reconstructions" / "epoch_000.png").is_file()
    events = b"".join(p.read_bytes() for p in (out / "tensorboard").glob("events.*"))
    assert b"mae/reconstruction" in events
    assert "val_loss" in (out / "metrics.csv").read_text().splitlines()[0]
    state = torch.load(card["pth"], weights_only=True)
    timm.create_model(card["model"], in_chans=13, num_classes=0).load_state_dict(state)


def test_mae_encoder_loads_in_torchgeo() -> None:
    """ViT-S/16 with spectral groups, trained on 32-pixel crops: loads as SSL4EO-S12's MAE."""
    from torchgeo.models import ViTSmall16_Weights, vit_small_patch16_224

    from eossl.augment import AugmentRecipe

    groups = [[1, 2, 3, 7], [4, 5, 6, 8], [11, 12]]
    mae = _mae(
        backbone="vit_small_patch16_224",
        spectral_groups=groups,
        augment=AugmentRecipe(crop_size=32),
    )
    state = mae.export_state_dict()  # what eossl.weights.export writes
    meta = ViTSmall16_Weights.SENTINEL2_ALL_MAE.meta  # SSL4EO-S12's MAE: same model and bands
    assert (meta["model"], meta["in_chans"]) == ("vit_small_patch16_224", 13)
    tg = vit_small_patch16_224(weights=None, in_chans=meta["in_chans"]).eval()  # timm inside
    missing, unexpected = tg.load_state_dict(state, strict=False)
    assert set(missing) == {"head.weight", "head.bias"} and not unexpected  # default 224 size
    tg.reset_classifier(0)
    x = torch.randn(1, 13, 224, 224)
    with torch.no_grad():
        assert torch.allclose(tg(x), mae.backbone.eval()(x), atol=1e-4)
        # the exported patch embedding is the mean of the group embeddings
        per_group = [
            e(x[:, g]) + t
            for e, t, g in zip(
                mae.group_embed.embeds, mae.group_embed.encoding, groups, strict=True
            )
        ]
        assert torch.allclose(tg.patch_embed(x), torch.stack(per_group).mean(0), atol=1e-5)


@pytest.mark.parametrize(("sensor", "method"), [("s1", "mae"), ("landsat-oli-sr", "simclr")])
def test_every_sensor_gets_every_method(
    sensor: str, method: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A sensor without its own preset trains with the method's reference recipe."""
    from eossl.sensors import get_sensor

    args = ["--sensor", sensor, "--trainer.fast_dev_run", "1", *ARGS[method]]
    card = _pretrain(method, tmp_path / "run", *args)
    card_sensor = get_sensor(sensor)
    assert card["sensor"] == card_sensor.name and card["in_chans"] == len(card_sensor.band_names)
    assert f"using the method's reference recipe s2_{method}.yaml" in capsys.readouterr().err


def test_reference_recipe_notice_names_the_preset_on_top(capsys: pytest.CaptureFixture) -> None:
    args = ["pretrain", "--sensor", "s2-l2a", "--method", "simclr", "--preset", "patches"]
    with pytest.raises(SystemExit) as printed:  # Lightning's --print_config exits
        main([*args, "--print_config"])
    assert printed.value.code in (0, None)
    assert (
        "reference recipe s2_simclr.yaml with s2-l2a's bands and statistics, then --preset "
        "patches (patches.yaml)"
    ) in capsys.readouterr().err


def test_dino_weight_decay_follows_its_cosine(tmp_path: Path) -> None:
    """The decayed parameter group goes from ``weight_decay`` towards ``weight_decay_end``."""
    import csv

    steps = ["--trainer.max_steps", "4", "--trainer.limit_val_batches", "0"]
    steps += ["--trainer.log_every_n_steps", "1"]
    wd = ["--model.init_args.weight_decay", "0.04", "--model.init_args.weight_decay_end", "0.4"]
    _pretrain("dino", tmp_path / "run", *steps, *wd, *ARGS["dino"])
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    logged = [float(r["weight_decay"]) for r in rows if r.get("weight_decay")]
    assert logged[0] == pytest.approx(0.04) and logged == sorted(logged) and logged[-1] > 0.2


def test_data2vec_masks_blocks_not_scattered_patches() -> None:
    """Block masking (the paper's) leaves almost no masked patch without a masked neighbour."""
    from eossl.methods.data2vec import Data2Vec

    def neighbour_share(masking: str) -> float:
        torch.manual_seed(0)
        model = Data2Vec(
            backbone="vit_tiny_patch16_224", in_chans=4, mask_ratio=0.3, masking=masking
        )
        mask = model.token_mask(torch.zeros(8, 4, 224, 224))
        assert not mask[:, 0].any() and abs(mask[:, 1:].float().mean().item() - 0.3) < 0.05
        grid = torch.nn.functional.pad(mask[:, 1:].view(8, 1, 14, 14).float(), (1, 1, 1, 1))
        cross = torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 1, 0]]).view(1, 1, 3, 3)
        near = torch.nn.functional.conv2d(grid, cross)[:, 0] > 0
        return near[mask[:, 1:].view(8, 14, 14)].float().mean().item()

    assert neighbour_share("block") > 0.97 > 0.9 > neighbour_share("random")


def test_spectral_term_keeps_the_spectrum(s2_store: Path) -> None:
    """``spectral_weight``: the head learns each view's band means and stds from features."""
    from eossl.augment import AugmentRecipe
    from eossl.data import SeasonalZarrDataModule
    from eossl.methods import SimCLR

    torch.manual_seed(0)
    dm = SeasonalZarrDataModule(str(s2_store), sensor="s2", batch_size=8, num_workers=0)
    dm.setup()
    image = dm.normalize(next(iter(dm.train_dataloader()))["image"])[:, 0]
    plain = SimCLR(in_chans=13, hidden_dim=64, augment=AugmentRecipe(crop_size=32))
    assert not hasattr(plain, "spectral_head")
    assert plain.spectral_term(torch.zeros(8, 512), image) == 0
    model = SimCLR(in_chans=13, hidden_dim=64, spectral_weight=2.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    flat = image.flatten(2)
    target = torch.cat([flat.mean(2), flat.std(2)], 1)
    with torch.no_grad():
        first = torch.nn.functional.mse_loss(model.spectral_head(model.embed(image)), target)
    errors = []
    for _ in range(15):
        loss = model.spectral_term(model.embed(image), image)
        opt.zero_grad()
        loss.backward()
        opt.step()
        errors.append(loss.item() / 2.0)
    assert errors[0] == pytest.approx(first.item(), rel=1e-4)  # the MSE of mean and std
    assert errors[-1] < 0.5 * errors[0], errors
    with pytest.raises(Exception, match="spectral_weight"):
        SimCLR(in_chans=13, spectral_weight=-1.0)


def test_nearest_neighbour_positives() -> None:
    """``nn_bank_size``: each view's positive is its nearest projection in the bank (NNCLR)."""
    from eossl.methods import SimCLR

    torch.manual_seed(0)
    plain = SimCLR(in_chans=4, hidden_dim=32, proj_dim=8)
    assert plain.nn_bank is None
    model = SimCLR(in_chans=4, hidden_dim=32, proj_dim=8, nn_bank_size=6)
    z_a, z_b = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8)
    model.pair_loss(z_a.detach(), z_b)  # fills the bank with z_b
    torch.testing.assert_close(model.nn_bank.bank[:4], z_b)
    # z_a's positive is now a stored projection, not z_b: gradients reach z_a alone
    loss = model.pair_loss(z_a, z_b)
    loss.backward()
    assert torch.isfinite(loss) and z_a.grad is not None and z_a.grad.abs().sum() > 0
    assert "nn_bank.bank" not in model.backbone.state_dict()
