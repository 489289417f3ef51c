"""The dense term: cells of two views matched by their crop boxes, and its use in pretraining."""

import json
from pathlib import Path

import pytest
import timm
import torch
from helpers import tiny
from torch.nn import functional as F

from eossl.augment import AugmentRecipe, MultiBandAugment
from eossl.cli import main
from eossl.errors import UserError
from eossl.methods.dense import cell_centres, cell_offset, dense_infonce, matched_cells

PATCHIFY = 7.5  # cells centred as 16-pixel patches are (avg-pooled views, ConvNeXt)

GEOMETRY = AugmentRecipe(
    crop_size=64, crop_scale=(0.3, 1.0), rot90=0.5, intensity_p=0.0, grayscale=0.0, blur=0.0
)


def _coordinates(n: int, size: int) -> torch.Tensor:
    """(n, 2, size, size) images whose two bands are each pixel's own x and y."""
    y, x = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    return torch.stack([x, y])[None].expand(n, -1, -1, -1).contiguous()


def test_cell_centres_are_where_the_view_took_its_pixels() -> None:
    """A view of a coordinate image, averaged per cell, reads back ``cell_centres`` of its box."""
    torch.manual_seed(0)
    views, boxes = MultiBandAugment(GEOMETRY, 2).transform(_coordinates(32, 80))
    seen = F.avg_pool2d(views, 16).flatten(2).transpose(1, 2)  # (32, 16 cells, xy)
    expected = cell_centres(boxes, (4, 4), 64, PATCHIFY)
    assert torch.allclose(seen, expected, atol=1e-3), (seen - expected).abs().max()


def test_cells_of_the_same_ground_are_matched() -> None:
    """Mirrored views match mirrored cells; disjoint crops match none and give no loss."""
    box = torch.tensor([[[0.0, 0], [63, 0], [63, 63], [0, 63]]])
    mirrored = box[:, [1, 0, 3, 2]]
    centres = cell_centres(box, (4, 4), 64, PATCHIFY)
    mirror = cell_centres(mirrored, (4, 4), 64, PATCHIFY)
    index, near, close = matched_cells(centres, mirror, torch.tensor([8.0]))
    assert near.all()
    assert index.view(4, 4).tolist() == [[4 * r + 3 - c for c in range(4)] for r in range(4)]
    assert close.sum(2).eq(1).all()  # cells of one size: only the match is the same ground
    elsewhere = box + 200
    maps = torch.randn(1, 8, 4, 4, requires_grad=True)
    loss = dense_infonce(maps, maps, box, elsewhere, 64, 0.2, PATCHIFY)
    loss.backward()
    assert loss.item() == 0 and maps.grad is not None


def test_dense_infonce_prefers_features_that_follow_the_ground() -> None:
    """Maps that carry the ground's own features through the flip score far lower than noise."""
    torch.manual_seed(0)
    ground = torch.randn(8, 16, 4, 4)
    box = torch.tensor([[0.0, 0], [63, 0], [63, 63], [0, 63]]).expand(8, -1, -1)
    mirrored = box[:, [1, 0, 3, 2]]
    aligned = dense_infonce(ground, ground.flip(-1), box, mirrored, 64, 0.2, PATCHIFY)
    unaligned = dense_infonce(ground, ground, box, mirrored, 64, 0.2, PATCHIFY)
    same_box = dense_infonce(ground, ground, box, box, 64, 0.2, PATCHIFY)
    assert aligned == pytest.approx(same_box.item())
    assert aligned + 4 < unaligned  # 128 cells: chance is log(128) = 4.85


def test_cell_offset_of_real_backbones() -> None:
    """ResNet cells are centred on ``16 r`` (padded strided convs), ConvNeXt's on ``16 r + 7.5``.

    Matching flipped views with the wrong offset pairs cells a whole cell apart.
    """
    resnet = timm.create_model("resnet18", in_chans=13, num_classes=0)
    assert abs(cell_offset(resnet, 3, 13)) < 0.3
    convnext = timm.create_model("convnext_atto", in_chans=4, num_classes=0)
    assert abs(cell_offset(convnext, 2, 4) - PATCHIFY) < 0.6


def test_larger_cells_keep_their_ground_out_of_the_negatives() -> None:
    """A cell of A over four of B: the nearest is the positive, the other three no negative."""
    torch.manual_seed(0)
    full = torch.tensor([[[0.0, 0], [63, 0], [63, 63], [0, 63]]])
    quarter = full / 2  # B's cells are half as wide: 4 of them under each cell of A
    centres_a = cell_centres(full, (4, 4), 64, PATCHIFY)
    centres_b = cell_centres(quarter, (4, 4), 64, PATCHIFY)
    reach = torch.tensor([8.0])
    index, near, close = matched_cells(centres_a, centres_b, reach)
    assert close[near].sum(1).max() > 1
    ground = torch.randn(1, 16, 4, 4)
    b = torch.randn(1, 16, 4, 4)
    for a in near[0].nonzero()[:, 0]:  # B's cells on A's ground carry A's feature
        b[0, :, close[0, a].view(4, 4)] = ground[0, :, a // 4, a % 4, None]
    loss = dense_infonce(ground, b, full, quarter, 64, 0.05, PATCHIFY)
    assert loss < 0.1, loss


@pytest.mark.parametrize("method", ["simclr", "barlow"])
def test_dense_pretraining_exports_plain_timm_weights(method: str, tmp_path: Path) -> None:
    """``dense_weight`` trains through Lightning; the head is not in the exported encoder."""
    out = tmp_path / "run"
    args = ["--model.init_args.hidden_dim", "64", "--model.init_args.proj_dim", "32"]
    code = main(
        [
            *("pretrain", "--method", method, "--out", str(out), *tiny(moco=False), *args),
            *("--model.init_args.dense_weight", "1.0", "--trainer.fast_dev_run", "2"),
        ]
    )
    assert code == 0
    card_path = next((out / "weights").glob("*.json"))
    card = json.loads(card_path.read_text())
    state = torch.load(card_path.parent / card["files"]["pth"], weights_only=True)
    assert not any(k.startswith("dense") for k in state)
    timm.create_model(card["model"], in_chans=card["in_chans"], num_classes=0).load_state_dict(
        state
    )


def test_dense_term_trains_the_stage_it_reads() -> None:
    """The term's gradient reaches the stride-16 stage and the stem, not the last stage."""
    from eossl.methods import SimCLR

    torch.manual_seed(0)
    model = SimCLR(in_chans=13, hidden_dim=64, dense_weight=1.0, augment=GEOMETRY)
    batch = model.augment_batch({"image": torch.randn(4, 2, 13, 64, 64)})
    (_, map_a), (_, map_b) = (model.embed_with_map(v) for v in batch["views"])
    assert map_a.shape == (4, 256, 4, 4) and model.dense_offset == 0.0
    loss = model.dense_term(map_a, map_b, batch)
    loss.backward()
    assert loss > 0 and model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.backbone.layer4[0].conv1.weight.grad is None


def test_dense_weight_where_it_does_not_apply() -> None:
    """A method or backbone without a two-view CNN step: one-line error naming the option."""
    from eossl.methods import MoCo, SimCLR

    with pytest.raises(UserError, match="dense_weight applies to SimCLR"):
        MoCo(in_chans=13, dense_weight=1.0)
    with pytest.raises(UserError, match="dense_weight applies to SimCLR"):
        SimCLR(in_chans=13, backbone="vit_tiny_patch16_224", dense_weight=1.0)
    with pytest.raises(UserError, match="dense_weight"):
        SimCLR(in_chans=13, dense_weight=-1.0)
    swin = "swin_tiny_patch4_window7_224"  # a transformer with feature maps: no dense term
    with pytest.raises(UserError, match="dense_weight applies to SimCLR"):
        SimCLR(in_chans=13, backbone=swin, dense_weight=1.0, augment=GEOMETRY)


def test_a_swin_is_built_for_the_crop_size() -> None:
    """A backbone made for 224 px (Swin) is built for the recipe's crops, not refused later."""
    from eossl.models import create_backbone

    swin = create_backbone("swin_tiny_patch4_window7_224", 13, img_size=64)
    assert swin(torch.zeros(1, 13, 64, 64)).shape == (1, 768)
