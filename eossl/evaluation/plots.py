"""Figures logged during pretraining (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "change_panel",
    "log_figure",
    "ndvi_series",
    "plot_change_maps",
    "prediction_panel",
    "reconstruction_figure",
    "rgb_composite",
    "show_augmentations",
    "show_seasons",
    "training_curves",
]


def rgb_composite(
    images: Sequence[Tensor], rgb: Sequence[int] | None, low: float = 2, high: float = 98
) -> list[np.ndarray]:
    """RGB composites (H, W, 3) in [0, 1] of same-shaped (B, C, H, W) tensors.

    Each sample is stretched between the ``low`` and ``high`` percentiles of the
    first tensor (the input), so every panel of a row shares one stretch. Without
    ``rgb`` bands (e.g. SAR), the first band is shown in grey. NaN pixels are light grey.
    """
    bands = list(rgb) if rgb else [0, 0, 0]
    first = images[0][:, bands].float()
    flat = first.flatten(1)
    lo = torch.quantile(flat, low / 100, dim=1)[:, None, None, None]
    hi = torch.quantile(flat, high / 100, dim=1)[:, None, None, None]
    scale = (hi - lo).clamp(min=1e-6)
    return [
        np.nan_to_num(
            ((x[:, bands].float() - lo) / scale).clamp(0, 1).permute(0, 2, 3, 1).numpy(), nan=0.85
        )
        for x in images
    ]


def reconstruction_figure(panels: dict[str, Tensor], rgb: Sequence[int] | None) -> Any:
    """A grid of samples (rows) by panels (columns: input, masked input, reconstruction...).

    Args:
        panels: title -> (B, C, H, W) standardised images; the first is the input.
        rgb: band indices of red, green and blue (the sensor card's ``rgb``).
    """
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state

    titles = list(panels)
    composites = rgb_composite([panels[t] for t in titles], rgb)
    rows, cols = len(composites[0]), len(titles)
    fig = Figure(figsize=(2.2 * cols, 2.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r in range(rows):
        for c, title in enumerate(titles):
            axes[r, c].imshow(composites[c][r], interpolation="nearest")
            axes[r, c].set_axis_off()
            if r == 0:
                axes[r, c].set_title(title, fontsize=9)
    return fig


def log_figure(module: Any, fig: Any, tag: str, png: str | Path) -> None:
    """Save ``fig`` as ``png`` and add it to every TensorBoard logger of ``module``."""
    from lightning.pytorch.loggers import TensorBoardLogger

    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=100)
    for logger in module.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(tag, fig, global_step=module.current_epoch)


# ---- figures for notebooks and reports (pyplot, so Jupyter shows them inline) ----------------


def _stretch(rgb: np.ndarray, low: float = 2, high: float = 98) -> np.ndarray:
    lo, hi = np.nanpercentile(rgb, [low, high])
    return np.clip((rgb - lo) / max(hi - lo, 1e-6), 0, 1)


def _rgb(image: Tensor | np.ndarray, sensor: Any) -> np.ndarray:
    """(H, W, 3) composite of one (C, H, W) image in stored units."""
    x = np.asarray(image, dtype=np.float32)
    bands = list(sensor.rgb) if sensor.rgb else [0, 0, 0]
    return _stretch(np.moveaxis(x[bands], 0, -1))


def show_seasons(sample: dict[str, Any], sensor: Any) -> Any:
    """Each season of a sample as an RGB composite, with its cloud mask and the label."""
    import matplotlib.pyplot as plt

    image = sample["image"]
    seasons = image.shape[0]
    has_cloud, has_label = "cloud_mask" in sample, "label" in sample
    rows = 1 + has_cloud
    fig, axes = plt.subplots(
        rows, seasons + has_label, figsize=(2.4 * (seasons + has_label), 2.5 * rows), squeeze=False
    )
    dates = np.asarray(sample["time"]).astype("datetime64[ns]").astype("datetime64[D]")
    for s in range(seasons):
        axes[0, s].imshow(_rgb(image[s], sensor))
        axes[0, s].set_title(str(dates[s]), fontsize=9)
        if has_cloud:
            axes[1, s].imshow(
                np.asarray(sample["cloud_mask"][s]),
                cmap="tab10",
                vmin=0,
                vmax=9,
                interpolation="nearest",
            )
            axes[1, s].set_title("cloud mask", fontsize=8)
    if has_label:
        axes[0, -1].imshow(
            np.asarray(sample["label"]), cmap="tab10", vmin=0, vmax=9, interpolation="nearest"
        )
        axes[0, -1].set_title("land cover", fontsize=9)
        if has_cloud:
            axes[1, -1].set_visible(False)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def ndvi_series(dataset: Any, sensor: Any, samples: Any = range(8)) -> Any:
    """Mean NDVI of each location at each timestamp (clear pixels), against the date."""
    import matplotlib.pyplot as plt

    from eossl.data.phenology import ndvi as index
    from eossl.data.phenology import red_nir

    red, nir = red_nir(sensor)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    for i in samples:
        sample = dataset[i]
        x = sample["image"].numpy().astype(np.float64)
        ndvi = np.nan_to_num(index(x[:, red], x[:, nir]), nan=0.0)
        clear = np.ones_like(ndvi, bool)
        if "cloud_mask" in sample:
            clear = ~np.isin(sample["cloud_mask"].numpy(), (3, 4, 5, 6))
        mean = [n[c].mean() if c.any() else np.nan for n, c in zip(ndvi, clear, strict=True)]
        dates = np.asarray(sample["time"]).astype("datetime64[ns]").astype("datetime64[D]")
        doy = (dates - dates.astype("datetime64[Y]")).astype(int)
        ax.plot(doy, mean, marker="o", label=f"{float(sample['lat']):.0f}°")
    ax.set_xlabel("day of year")
    ax.set_ylabel("NDVI (clear pixels)")
    ax.legend(title="latitude", fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def show_augmentations(
    dataset: Any, sensor: Any, recipe: Any, samples: int = 4, views: int = 3
) -> Any:
    """Each row: a sample, then several augmented views (normalised per band for display)."""
    import matplotlib.pyplot as plt

    from eossl.augment import MultiBandAugment

    aug = MultiBandAugment(recipe, sensor.num_bands)
    fig, axes = plt.subplots(
        samples, views + 1, figsize=(2.2 * (views + 1), 2.2 * samples), squeeze=False
    )
    for r in range(samples):
        image = dataset[r]["image"][0:1]
        mean = image.mean(dim=(0, 2, 3), keepdim=True)
        std = image.std(dim=(0, 2, 3), keepdim=True) + 1e-6
        normed = (image - mean) / std
        axes[r, 0].imshow(_rgb(normed[0], sensor))
        for v in range(views):
            axes[r, v + 1].imshow(_rgb(aug(normed)[0].detach(), sensor))
        if r == 0:
            axes[0, 0].set_title("input", fontsize=9)
            for v in range(views):
                axes[0, v + 1].set_title(f"view {v + 1}", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def training_curves(metrics_csv: str | Path, metrics: Sequence[str], x: str = "epoch") -> Any:
    """One panel per metric from a Lightning ``metrics.csv`` (several CSVs: one line each)."""
    import csv

    import matplotlib.pyplot as plt

    paths = [metrics_csv] if isinstance(metrics_csv, (str, Path)) else list(metrics_csv)
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 3), squeeze=False)
    for path in paths:
        with Path(path).open() as f:
            rows = list(csv.DictReader(f))
        for ax, name in zip(axes[0], metrics, strict=True):
            points = [(float(r[x]), float(r[name])) for r in rows if r.get(name) and r.get(x)]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o", label=Path(path).parent.name)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel(x)
    if len(paths) > 1:
        axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def prediction_panel(
    images: Tensor,
    masks: Tensor,
    predictions: dict[str, Tensor],
    rgb: Sequence[int] | None,
    num_classes: int,
) -> Any:
    """Rows of samples: the image, the label, then each model's predicted classes."""
    import matplotlib.pyplot as plt

    cols = 2 + len(predictions)
    rows = len(images)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.2 * rows), squeeze=False)
    composites = rgb_composite([images], rgb)[0]
    for r in range(rows):
        axes[r, 0].imshow(composites[r])
        panels = {"label": masks[r], **{k: v[r] for k, v in predictions.items()}}
        for c, (title, classes) in enumerate(panels.items(), start=1):
            shown = np.ma.masked_equal(np.asarray(classes), 255)
            axes[r, c].imshow(
                shown, cmap="tab10", vmin=0, vmax=max(9, num_classes - 1), interpolation="nearest"
            )
            if r == 0:
                axes[0, c].set_title(title, fontsize=9)
        if r == 0:
            axes[0, 0].set_title("image", fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    return fig


def change_panel(pairs: Any, maps: dict[str, dict[int, np.ndarray]], tiles: int = 4) -> Any:
    """Rows of tiles (the most changed ones): both dates, the true change, each prediction."""
    from matplotlib.figure import Figure

    from eossl.sensors import get_sensor

    changed = (pairs.mask == 1).sum(axis=(1, 2))
    rows = [int(i) for i in np.argsort(-changed)[:tiles] if changed[i] > 0] or [0]
    try:
        sensor = get_sensor(pairs.scenes.sensor) if pairs.scenes.sensor else None
    except Exception:  # an unknown card: grey composites of the first band
        sensor = None
    rgb = sensor.rgb if sensor is not None else None
    cols = 3 + len(maps)
    fig = Figure(figsize=(2.0 * cols, 2.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, i in enumerate(rows):
        dates = rgb_composite([torch.from_numpy(pairs.bands[i].astype(np.float32))], rgb)[0]
        panels = {
            "date 1": dates[0],
            "date 2": dates[1],
            "true change": np.ma.masked_equal(pairs.mask[i], 255),
            **{name: m.get(i, np.zeros_like(pairs.mask[i])) for name, m in maps.items()},
        }
        for c, (title, image) in enumerate(panels.items()):
            ax = axes[r, c]
            if image.ndim == 3:
                ax.imshow(image, interpolation="nearest")
            else:
                ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_axis_off()
            if r == 0:
                ax.set_title(title.replace(", ", ",\n"), fontsize=8)
        axes[r, 0].text(0, -2, str(pairs.city[i]), fontsize=7, va="bottom")
    return fig


def plot_change_maps(pairs: Any, maps: dict[str, dict[int, np.ndarray]], path: Path) -> Path:
    """Save :func:`change_panel` as ``path``."""
    fig = change_panel(pairs, maps)
    fig.savefig(path, dpi=100)
    return path
