"""Scene-labelled data for evaluation: TorchGeo benchmark datasets and eossl stores.

:func:`open_scenes` gives a :class:`SceneData` for a benchmark in its own layout,
read by TorchGeo's own dataset class (``eurosat``, ``bigearthnet``), or for an eossl
store with scene labels (``eossl convert --layout patches``) or per-pixel labels. Every
item is ``{"image": (C, H, W) float in stored units, "label": class index or 0/1 (K,)}``.
:func:`match_bands` lines the data's bands up with a weights card's, by name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from eossl.errors import UserError
from eossl.sensors import canonical_band

__all__ = ["BENCHMARKS", "SceneData", "canonical_band", "match_bands", "open_scenes"]

BENCHMARKS = ("eurosat", "bigearthnet")
INT32_MIN = -(2**31)  # what NaN becomes in TorchGeo's int32 cast of a EuroSAT file
Split = Literal["train", "val", "test"]


@dataclass
class SceneData:
    """A labelled dataset, what its bands and classes are, and its DN offset."""

    name: str
    dataset: Dataset
    band_names: list[str]
    class_names: list[str]
    multilabel: bool
    offset: float = 0.0  # DN offset carried by the stored values (0: none)
    nodata: float | None = None
    sensor: str | None = None  # the card these data are in, where known; "a+b": several
    tensorstore: bool = False  # read through tensorstore (DataLoader workers must not fork)

    @property
    def test_index(self) -> np.ndarray | None:
        """Indices of the benchmark's own test split (the last part), if it has splits."""
        if isinstance(self.dataset, ConcatDataset) and len(self.dataset.datasets) == 3:
            start, stop = self.dataset.cumulative_sizes[1:]
            return np.arange(start, stop)
        return None


def match_bands(wanted: list[str], have: list[str]) -> tuple[list[int], list[str], list[str]]:
    """For each wanted band, its index in ``have`` (-1 when missing); the missing; the unused."""
    index = {canonical_band(b): i for i, b in enumerate(have)}
    picks = [index.get(canonical_band(b), -1) for b in wanted]
    missing = [b for b, i in zip(wanted, picks, strict=True) if i < 0]
    unused = [b for i, b in enumerate(have) if i not in picks]
    return picks, missing, unused


class _Mapped(Dataset):
    """Each item of ``data`` passed through ``fn`` (a module-level function: picklable)."""

    def __init__(self, data: Dataset, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.data, self.fn = data, fn

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.fn(self.data[index])


def _patch_fault(folder: Path, err: Exception) -> str | None:
    """What is wrong with a BigEarthNet patch folder TorchGeo could not read, if it is told."""
    if not folder.is_dir():
        return "listed in the split's CSV but missing (a partial download or copy?)"
    labels = next(folder.glob("*_labels_metadata.json"), None)
    if labels is None:
        return "has no <patch>_labels_metadata.json"
    if isinstance(err, json.JSONDecodeError):
        return f"{labels.name} is not valid JSON ({err})"
    if isinstance(err, KeyError):
        return f"{labels.name} holds a label that is not a BigEarthNet class ({err})"
    return None


class _Checked(Dataset):
    """A TorchGeo benchmark's items, each checked as it is read.

    A file TorchGeo cannot read, or one with another band count than ``bands`` or
    another size than the first item read (``seen``, shared by the splits), is one
    line that names the file, not a traceback.
    """

    def __init__(self, data: Any, bands: int, seen: dict[str, Any]) -> None:
        self.data, self.bands, self.seen = data, bands, seen

    def __len__(self) -> int:
        return len(self.data)

    def where(self, index: int) -> str:
        """The file (EuroSAT) or folder (BigEarthNet) of item ``index``."""
        if hasattr(self.data, "samples"):  # the user's file, not the link TorchGeo reads
            return str(Path(self.data.samples[index][0]).resolve())
        folders = self.data.folders[index]  # BigEarthNet: the patch folder of each sensor
        return str(Path(folders["s1" if self.data.bands == "s1" else "s2"]).resolve())

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            item = self.data[index]
        except Exception as err:
            ben = not hasattr(self.data, "samples")  # BigEarthNet: the folder or its labels
            reason = _patch_fault(Path(self.where(index)), err) if ben else None
            raise UserError(
                f"{self.where(index)}: {reason or self._file_fault(index, err)}"
            ) from err
        c, h, w = item["image"].shape
        if c != self.bands:
            raise UserError(f"{self.where(index)}: {c} bands of {w}x{h} px; expected {self.bands}")
        image = item["image"]
        if not torch.isfinite(image).all() or (image <= INT32_MIN).any():
            raise UserError(
                f"{self.where(index)}: NaN or infinite values (a float file; the benchmark's "
                "files are integer DN): fix or remove it"
            )
        first, size = self.seen.setdefault("size", (self.where(index), (h, w)))
        if (h, w) != size:
            raise UserError(
                f"{self.where(index)}: {c} bands of {w}x{h} px, but {first} is {size[1]}x"
                f"{size[0]} px; the patches of a dataset must be of one size"
            )
        return item

    def _file_fault(self, index: int, err: Exception) -> str:
        """Why item ``index``'s file could not be read, from its header."""
        found = self._found(index)
        if found is None:
            reason = f"not a raster ({type(err).__name__})"
        elif found[0] != self.bands:
            reason = f"{found[0]} bands of {found[1]}x{found[2]} px; expected {self.bands}"
        else:  # the header is right: the pixels are not there
            reason = f"truncated or corrupt: reading its pixels failed ({type(err).__name__})"
        return f"cannot read it, {reason}"

    def _found(self, index: int) -> tuple[int, int, int] | None:
        """(bands, width, height) from the file's header; None when it has none."""
        import rasterio

        try:
            with rasterio.open(self.where(index)) as src:
                return src.count, src.width, src.height
        except Exception:
            return None


def _image_and_label(item: dict[str, Any]) -> dict[str, Any]:
    """A TorchGeo item as ``image`` (float) and ``label``, nothing else."""
    return {"image": item["image"].float(), "label": item["label"]}


def _class_index(item: dict[str, Any]) -> dict[str, Any]:
    """Single-label items: the one-hot ``scene_label`` row as a class index."""
    return {**item, "label": torch.as_tensor(np.argmax(item["label"].numpy()))}


def _splits(
    cls: Any, split: Split | Literal["all"], count: int, **kwargs: Any
) -> tuple[Dataset, Any]:
    """The split(s) of a TorchGeo dataset class as one dataset, and its first split.

    Every item is checked as it is read: ``count`` bands, all of one size.
    """
    names = ("train", "val", "test") if split == "all" else (split,)
    seen: dict[str, Any] = {}
    parts = [
        _Mapped(_Checked(cls(split=s, **kwargs), count, seen), _image_and_label) for s in names
    ]
    return (parts[0] if len(parts) == 1 else ConcatDataset(parts)), parts[0].data.data


def _bigearthnet(
    root: Path, split: Split | Literal["all"], bands: str, num_classes: int
) -> SceneData:
    from torchgeo.datasets import BigEarthNet

    if bands not in ("s1", "s2", "all"):
        raise UserError(f"--bands must be s1, s2 or all for bigearthnet, got {bands!r}")
    if num_classes not in (19, 43):
        raise UserError(f"--num-classes must be 19 or 43 for bigearthnet, got {num_classes}")
    count = {"s1": 2, "s2": 12, "all": 14}[bands]
    data, first = _splits(
        BigEarthNet, split, count, root=str(root), bands=bands, num_classes=num_classes
    )
    # TorchGeo's own file order (S1 sorted, S2 by band): the names are in the file names
    names = [Path(p).stem.rsplit("_", 1)[-1] for p in first._load_paths(0)]
    return SceneData(
        name=f"BigEarthNet v1 ({bands}, {num_classes} classes)",
        dataset=data,
        band_names=names,
        class_names=list(BigEarthNet.class_sets[num_classes]),
        multilabel=True,
        nodata=0 if bands == "s2" else None,
        sensor={"s1": "s1-grd", "s2": "s2-l2a", "all": "s1-grd+s2-l2a"}[bands],
    )


def _class_folders(root: Path) -> list[Path]:
    """The sub-folders of ``root`` that hold GeoTIFFs: one per class, as in EuroSAT."""
    return sorted(d for d in root.iterdir() if d.is_dir() and any(d.glob("*.tif")))


def _eurosat_view(root: Path) -> Path:
    """TorchGeo's EuroSAT layout over a folder of class folders, as links, in one split.

    EuroSAT samples (e.g. GeoTorchAI's) often ship as ``<Class>/<Class>_<n>.tif`` alone,
    without the ``ds/images/...`` tree and the split files TorchGeo's class needs. The
    view lives in a temporary folder, removed when the process exits; files stay put.
    """
    import atexit
    import shutil
    import tempfile

    from torchgeo.datasets import EuroSAT

    view = Path(tempfile.mkdtemp(prefix="eossl-eurosat-"))
    atexit.register(shutil.rmtree, view, True)
    names = []
    for folder in _class_folders(root):
        (view / EuroSAT.base_dir / folder.name).mkdir(parents=True)
        for tif in sorted(folder.glob("*.tif")):
            (view / EuroSAT.base_dir / folder.name / tif.name).symlink_to(tif.resolve())
            names.append(tif.name)
    text = "".join(n.removesuffix(".tif") + ".jpg\n" for n in names)  # TorchGeo lists .jpg
    (view / EuroSAT.split_filenames["train"]).write_text(text)
    return view


def _eurosat(root: Path, split: Split | Literal["all"]) -> SceneData:
    from torchgeo.datasets import EuroSAT

    names = list(EuroSAT.all_band_names)
    if not (root / EuroSAT.base_dir).is_dir() and _class_folders(root):
        print(
            f"eossl: {root}: class folders without TorchGeo's EuroSAT layout; read by "
            "TorchGeo's EuroSAT through links, as one split",
            file=sys.stderr,
        )
        empty = sorted(d.name for d in root.iterdir() if d.is_dir() and not any(d.glob("*.tif")))
        if empty:
            print(f"eossl: {root}: no .tif in {', '.join(empty)}: not a class", file=sys.stderr)
        root, split = _eurosat_view(root), "train"
    data, first = _splits(EuroSAT, split, len(names), root=str(root), bands=names)
    return SceneData(
        name="EuroSAT MS",
        dataset=data,
        band_names=names,
        class_names=list(first.classes),
        multilabel=False,
        nodata=0,
        sensor="s2-l1c",
    )


class _StoreScenes(Dataset):
    """One timestamp per location of an eossl store, with its scene label."""

    def __init__(self, path: Path, seed: int) -> None:
        from eossl.data.dataset import SeasonalZarrDataset

        self.data = SeasonalZarrDataset(path, seasons=1, seed=seed, return_cloud_mask=False)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = self.data[index]
        return {"image": item["image"][0], "label": item["scene_label"]}


class _ChipTargets(Dataset):
    """Chips of a store with per-pixel labels, each with its chip-level target."""

    def __init__(self, path: Path, seed: int, labels: Literal["majority", "multi"]) -> None:
        from eossl.data.labelled import LabelledChips

        self.chips = LabelledChips(str(path), seed=seed)
        self.labels = labels
        self.num_classes = _largest_label(self.chips.data) + 1

    def __len__(self) -> int:
        return len(self.chips)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from eossl.data.labelled import image_targets

        item = self.chips[index]
        target = image_targets(item["mask"][None], self.num_classes, self.labels)[0]
        return {"image": item["image"], "label": target}


def _largest_label(data: Any, block: int = 64) -> int:
    """The largest class in the stores' ``label`` maps (255, unlabelled, left out)."""
    from eossl.data.io.schema import open_group
    from eossl.data.labelled import IGNORE

    highest = 0
    for info in data.stores:
        label = open_group(info.path)["label"]
        for start in range(0, info.samples, block):
            values = label[start : start + block]
            values = values[values != IGNORE]
            highest = max(highest, int(values.max()) if values.size else 0)
    return highest


def _store(path: Path, seed: int, labels: Literal["majority", "multi"] | None) -> SceneData:
    from eossl.data.io.schema import find_stores, open_group
    from eossl.data.labelled import not_a_change_store

    stores = find_stores(path)
    group = open_group(stores[0])
    not_a_change_store(dict(group.attrs), path)
    if "scene_label" not in group or labels is not None:
        if "label" not in group:
            raise UserError(
                f"{path}: no scene labels ('scene_label') and no 'label' variable; convert a "
                "labelled patch archive with `eossl convert --layout patches`, or make a "
                "labelled store with `eossl synth --labels` or `eossl convert --labels`"
            )
        chips = _ChipTargets(path, seed, labels or "majority")
        return SceneData(
            name=f"{path.name} (chip {labels or 'majority'} labels)",
            dataset=chips,
            band_names=chips.chips.data.band_names or [],
            class_names=[str(c) for c in range(chips.num_classes)],
            multilabel=labels == "multi",
            offset=float(group.attrs.get("offset", 0.0) or 0.0),
            nodata=group.attrs.get("nodata"),
            sensor=group.attrs.get("sensor"),
            tensorstore=chips.chips.data.uses_tensorstore,
        )
    data = _StoreScenes(path, seed)
    kind = group.attrs.get("scene_label_kind", "multi")
    multilabel = kind == "multi"
    wrapped: Dataset = data if multilabel else _Mapped(data, _class_index)
    return SceneData(
        name=path.name,
        dataset=wrapped,
        band_names=data.data.band_names or [],
        class_names=[str(c) for c in group["class_name"][...]],
        multilabel=multilabel,
        offset=float(group.attrs.get("offset", 0.0) or 0.0),
        nodata=group.attrs.get("nodata"),
        sensor=group.attrs.get("sensor"),
        tensorstore=data.data.uses_tensorstore,
    )


def open_scenes(
    dataset: str | None,
    root: str | Path,
    split: Split | Literal["all"] = "all",
    bands: str = "s2",
    num_classes: int = 19,
    seed: int = 0,
    labels: Literal["majority", "multi"] | None = None,
) -> SceneData:
    """A benchmark by name (read by TorchGeo from ``root``), or the eossl store at ``root``.

    A store's scene labels are used; ``labels`` (or a store without scene labels)
    takes chip targets from its per-pixel ``label`` maps instead: the majority class,
    or every class covering 5% of the chip.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"{root}: no such file or directory")
    if dataset is None:
        return _store(root, seed, labels)
    try:
        if dataset == "bigearthnet":
            return _bigearthnet(root, split, bands, num_classes)
        if dataset == "eurosat":
            return _eurosat(root, split)
    except UserError:
        raise
    except Exception as err:  # TorchGeo: DatasetNotFoundError, a missing split file, ...
        first = (str(err).splitlines() or [type(err).__name__])[0]
        if type(err).__name__ == "DatasetNotFoundError":  # its advice is download=True
            first = f"no {dataset} files found"
        raise UserError(
            f"{root}: cannot read {dataset} there ({type(err).__name__}: {first}); pass the "
            "folder that holds the dataset in its own layout"
        ) from err
    raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(BENCHMARKS)}")
