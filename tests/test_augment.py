import pytest
import torch

from eossl.augment import AugmentRecipe, MultiBandAugment, moco_recipe, seco_recipe
from eossl.monitors import embedding_std, rankme


@pytest.mark.parametrize("bands", [2, 7, 13])
@pytest.mark.parametrize("recipe", [moco_recipe(24), seco_recipe(24)])
def test_shape_and_band_count_kept(bands: int, recipe: AugmentRecipe) -> None:
    aug = MultiBandAugment(recipe, bands)
    x = torch.randn(6, bands, 40, 40)
    y = aug(x)
    assert y.shape == (6, bands, 24, 24)
    assert torch.isfinite(y).all()


def test_every_operation_can_be_switched_on() -> None:
    recipe = AugmentRecipe(
        crop_size=16,
        rot90=1.0,
        noise=1.0,
        band_dropout=1.0,
        band_dropout_bands=2,
        grayscale=0.0,
        intensity_p=1.0,
        blur=1.0,
    )
    aug = MultiBandAugment(recipe, 7)
    y = aug(torch.randn(4, 7, 32, 32) + 5)
    # two of seven bands are dropped (filled with 0) in every sample
    dropped = (y.abs().amax(dim=(2, 3)) == 0).sum(dim=1)
    assert (dropped == 2).all()


def test_no_clipping_on_standardised_data() -> None:
    recipe = AugmentRecipe(
        crop_size=16, crop_scale=(1.0, 1.0), hflip=0, vflip=0, grayscale=0, blur=0, intensity_p=1.0
    )
    y = MultiBandAugment(recipe, 4)(torch.full((8, 4, 16, 16), -2.0))
    assert (y < 0).any()  # kornia's default [0, 1] clipping would make this 0


def test_grayscale_weights_must_match_bands() -> None:
    with pytest.raises(ValueError, match="grayscale_weights has 3 values for 13 bands"):
        MultiBandAugment(AugmentRecipe(crop_size=8, grayscale_weights=[1, 1, 1]), 13)


def test_rankme_detects_collapse() -> None:
    torch.manual_seed(0)
    random = torch.randn(512, 64)
    collapsed = torch.randn(512, 1) @ torch.randn(1, 64) + 1e-4 * torch.randn(512, 64)
    assert rankme(random) > 40
    assert rankme(collapsed) < 2
    assert embedding_std(random) > 0.8
    assert embedding_std(torch.ones(512, 64) + 1e-6 * torch.randn(512, 64)) < 0.01


def test_band_gain_keeps_each_band_affine_within_its_bounds() -> None:
    """Per-band gain and offset: every band of every sample is a * x + b, a, b in range."""
    import torch

    from eossl.augment import AugmentRecipe, MultiBandAugment

    recipe = AugmentRecipe(
        crop_size=16, crop_scale=(1.0, 1.0), hflip=0, vflip=0, intensity_p=0, grayscale=0,
        blur=0, band_gain=0.2, band_offset=0.5, band_p=1.0,
    )  # fmt: skip
    x = torch.randn(8, 5, 16, 16)
    for out in (MultiBandAugment(recipe, 5)(x), MultiBandAugment(recipe, 5).pipeline(x)):
        flat_x, flat_y = x.flatten(2), out.flatten(2)
        gain = (flat_y - flat_y.mean(2, keepdim=True)) / (flat_x - flat_x.mean(2, keepdim=True))
        a = gain.median(2).values
        b = (flat_y - a[..., None] * flat_x).mean(2)
        torch.testing.assert_close(flat_y, a[..., None] * flat_x + b[..., None], atol=1e-3, rtol=0)
        assert ((a >= 0.8 - 1e-4) & (a <= 1.2 + 1e-4)).all() and (b.abs() <= 0.5 + 1e-3).all()
        assert a.std() > 0.01  # drawn per band and sample, not one gain for all


def test_level_jitter_moves_each_image_along_the_shift() -> None:
    """x + a * max_share * shift: one share a in [0, 1] per image, the same for every pixel."""
    from eossl.augment import LevelJitter

    shift = torch.tensor([1.0, -2.0, 0.0])
    x = torch.randn(16, 2, 3, 8, 8)
    moved = LevelJitter(shift, max_share=1.5)(x) - x
    share = moved[:, :, 0, 0, 0] / 1.5  # band 0's shift is 1
    expected = 1.5 * share[..., None, None, None] * shift.view(-1, 1, 1)
    torch.testing.assert_close(moved, expected.expand_as(moved))
    assert (share >= 0).all() and (share <= 1).all() and share.std() > 0.1


def test_level_jitter_keeps_filled_pixels_filled() -> None:
    """Nodata and NaN pixels, 0 in every band after normalisation, are not moved."""
    from eossl.augment import LevelJitter

    x = torch.randn(4, 3, 8, 8)
    x[:, :, :2, :] = 0  # filled rows
    x[:, 1, 5, 5] = 0  # one band at the mean is not a hole
    y = LevelJitter(torch.tensor([1.0, -2.0, 0.5]), max_share=1.5)(x)
    assert (y[:, :, :2, :] == 0).all()
    assert (y[:, :, 2:, :] != x[:, :, 2:, :]).any(dim=1).all()
