"""Where the patches of a patch archive are, and their scene labels.

:func:`list_patches` finds the patches of one of three sources (EuroSAT MS class
folders, BigEarthNet v1 patch folders, or a folder of patch GeoTIFFs with labels
from class folders, a CSV or none) and the class list. Everything read from the
files (CSV rows, label JSON) is checked: paths stay inside SRC, class names are
known, and a mistake is a one-line error naming the file and row.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from eossl.data.convert.rasters import (
    TIF_SUFFIXES,
    BadFileError,
    parse_date,
    subdirs,
)
from eossl.data.io.schema import natural_key
from eossl.errors import UserError

__all__ = [
    "EUROSAT_BANDS",
    "SOURCES",
    "Listing",
    "Patch",
    "band_key",
    "bigearthnet_labels",
    "detect_source",
    "list_patches",
    "parse_classes",
    "patch_time",
]

SOURCES = ("eurosat", "bigearthnet", "folder")
# EuroSAT MS GeoTIFFs hold the 13 L1C bands in this order: B8A is stored last.
EUROSAT_BANDS = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B09", "B10", "B11", "B12", "B8A",
)  # fmt: skip
_BEN_ARCHIVES = ("BigEarthNet-v1.0", "BigEarthNet-S1-v1.0")
_EUROSAT_WRAPPERS = ("EuroSAT_MS", "ds/images/remote_sensing/otherDatasets/sentinel_2/tif")
_BEN_LABELS = "_labels_metadata.json"
_MAX_JSON = 2**20  # a labels_metadata.json is about 1 KB; refuse anything huge
_DATETIME = re.compile(r"(?<!\d)(\d{8}T\d{6})(?!\d)")


@dataclass(frozen=True)
class Patch:
    """One sample: its id, its file (or folder of band files), labels and time."""

    id: str  # sample_id
    path: str  # relative to the root: the file, or the folder of band files (file_id)
    labels: tuple[int, ...] = ()  # class numbers
    time: str | None = None  # ISO 8601, None when no date is known
    files: tuple[str, ...] | None = None  # band file names, where not the plan's default
    location: str | None = None  # the place's id, shared with other sensors' patches


@dataclass
class Listing:
    """The patches found, the class names and the label kind (``None``: unlabelled)."""

    root: Path
    source: str
    patches: list[Patch]
    classes: list[str] | None
    kind: str | None
    inputs: list[Any]


def band_key(name: str) -> str:
    """A band name as compared: ``B1``, ``b01`` -> ``b01``; ``B8a``, ``B08A`` -> ``b8a``."""
    name = name.strip()
    m = re.fullmatch(r"[Bb]0*(\d{1,2})([Aa]?)", name)
    if m:
        number, a = int(m.group(1)), m.group(2)
        return f"b{number}a" if a else f"b{number:02d}"
    return name.lower()


def _tifs(path: Path, recursive: bool = False) -> list[Path]:
    found = path.rglob("*") if recursive else path.iterdir()
    tifs = (p for p in found if p.suffix.lower() in TIF_SUFFIXES and p.is_file())
    return sorted(tifs, key=lambda p: natural_key(p.relative_to(path).as_posix()))


def detect_source(root: Path, source: str | None) -> tuple[Path, str]:
    """The archive folder and its source: SRC itself, or the one archive inside it."""
    names = {p.name for p in subdirs(root)}
    archives = [n for n in _BEN_ARCHIVES if n in names]
    if source in (None, "bigearthnet") and len(archives) > 1:
        choices = ", ".join(str(root / n) for n in archives)
        raise UserError(f"{root}: holds several archives; convert one at a time: {choices}")
    if source in (None, "bigearthnet") and archives:
        return root / archives[0], "bigearthnet"
    if source in (None, "eurosat"):
        for wrapper in _EUROSAT_WRAPPERS:
            if (root / wrapper).is_dir():
                return root / wrapper, "eurosat"
    if source is not None:
        return root, source
    for folder in subdirs(root)[:3]:
        stem = folder.name
        if (folder / f"{stem}{_BEN_LABELS}").is_file() or any(
            (folder / f"{stem}_{b}.tif").is_file() for b in ("B02", "VV", "VH")
        ):
            return root, "bigearthnet"
        tifs = _tifs(folder)
        named = re.compile(re.escape(stem) + r"_\d+")
        if tifs and all(named.fullmatch(p.stem) for p in tifs[:20]) and _count(tifs[0]) == 13:
            return root, "eurosat"
    return root, "folder"


def _count(path: Path) -> int:
    import rasterio

    try:
        with rasterio.open(path) as src:
            return src.count
    except Exception:
        return 0


def parse_classes(classes: str | None) -> list[str] | None:
    """``--classes``: names separated by commas, or a text file with one name per line."""
    if classes is None:
        return None
    path = Path(classes).expanduser()
    if not path.is_file() and "," not in classes and path.suffix.lower() in (".txt", ".csv"):
        raise UserError(f"--classes {classes}: no such file (or give names: a,b,c)")
    text = path.read_text() if path.is_file() else classes.replace(",", "\n")
    names = [n.strip() for n in text.splitlines() if n.strip()]
    if not names:
        raise UserError(f"--classes {classes!r} names no class")
    if len(set(names)) != len(names):
        raise UserError(f"--classes {classes!r} names a class twice")
    return names


def _class_numbers(found: list[str], classes: list[str] | None, where: str) -> list[str]:
    """The class list: ``classes`` when given (every found name must be in it), else sorted."""
    if classes is None:
        return sorted(set(found))
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise UserError(
            f"{where}: unknown class {unknown[0]!r}; --classes lists {', '.join(classes)}"
        )
    return classes


def _stem(rel: str) -> str:
    """A relative file path without its suffix: the sample id of a folder patch."""
    return PurePosixPath(rel).with_suffix("").as_posix()


def _safe_relative(text: str, csv_path: Path, row: int) -> str:
    """A CSV path as a relative POSIX path that stays inside SRC (checked lexically)."""
    rel = text.replace("\\", "/")
    norm = os.path.normpath(rel)
    if os.path.isabs(rel) or re.match(r"^[A-Za-z]:", rel) or norm == ".." or norm == ".":
        raise UserError(f"{csv_path}, row {row}: path {text!r} is not a file inside SRC")
    if norm.startswith("../"):
        raise UserError(
            f"{csv_path}, row {row}: path {text!r} leaves SRC; list paths relative to SRC"
        )
    return Path(norm).as_posix()


def read_label_csv(path: Path, root: Path | None = None) -> list[tuple[str, list[str], int]]:
    """Rows ``path,label`` of a labels CSV: (relative path, class names, row number).

    A first row whose path has no suffix and names no file under ``root`` is a header.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read the labels CSV ({err})") from err
    rows: list[tuple[str, list[str], int]] = []
    seen: dict[str, int] = {}
    try:
        records = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise UserError(f"{path}: not a CSV file ({err})") from err
    for number, record in enumerate(records, 1):
        cells = [c.strip() for c in record]
        if not any(cells):
            continue
        header = not rows and not seen and len(cells) == 2 and not PurePosixPath(cells[0]).suffix
        if header and (root is None or not (root / cells[0]).exists()):
            seen[""] = number  # a header row ("path,label", "file,class"): no file name
            continue
        if len(cells) != 2 or not cells[0]:
            raise UserError(
                f"{path}, row {number}: expected 'path,label' (2 columns), got "
                f"{len(record)}: {','.join(record)[:80]!r}"
            )
        rel = _safe_relative(cells[0], path, number)
        names = list(dict.fromkeys(n.strip() for n in cells[1].split(";") if n.strip()))
        if not names:
            raise UserError(f"{path}, row {number}: no label; give one, or several split by ';'")
        if rel in seen:
            raise UserError(f"{path}, row {number}: {rel} is listed twice (row {seen[rel]})")
        seen[rel] = number
        rows.append((rel, names, number))
    if not rows:
        raise UserError(f"{path}: no rows; expected lines 'path,label' (see docs/convert.md)")
    return rows


def bigearthnet_classes() -> list[str]:
    """BigEarthNet v1's 43 CORINE classes, in TorchGeo's order (``class_sets[43]``)."""
    from torchgeo.datasets import BigEarthNet

    return list(BigEarthNet.class_sets[43])


def bigearthnet_labels(path: Path, classes: list[str]) -> tuple[tuple[int, ...], Any]:
    """Class numbers and acquisition time of one ``labels_metadata.json``; raises BadFileError."""
    try:
        if path.stat().st_size > _MAX_JSON:
            raise BadFileError(path, "is too large for a labels_metadata.json")
        meta = json.loads(path.read_text(encoding="utf-8"))
    except BadFileError:
        raise
    except (OSError, ValueError) as err:
        raise BadFileError(path, f"cannot read the labels ({type(err).__name__}: {err})") from err
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise BadFileError(path, "has no 'labels' list of class names")
    index = {name: i for i, name in enumerate(classes)}
    unknown = [x for x in labels if x not in index]
    if unknown:
        raise BadFileError(path, f"unknown class {unknown[0]!r} (not a BigEarthNet-43 class)")
    when = None
    for key in ("acquisition_time", "acquisition_date"):
        value = meta.get(key)
        if isinstance(value, str) and when is None:
            when = parse_date(value.replace("Z", ""))
    return tuple(sorted({index[x] for x in labels})), when


def _ben_location(folder: Path) -> str | None:
    """A BigEarthNet patch's place: its S2 patch name (an S1 patch's ``corresponding_s2_patch``).

    ``None`` when an S1 patch's metadata does not name it (then it is not paired by id).
    """
    if not (folder / f"{folder.name}_VV.tif").is_file():
        return folder.name
    path = folder / f"{folder.name}{_BEN_LABELS}"
    try:
        if path.stat().st_size > _MAX_JSON:
            return None
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # reported when the labels are read
    s2 = meta.get("corresponding_s2_patch") if isinstance(meta, dict) else None
    return s2 if isinstance(s2, str) and re.fullmatch(r"[\w.-]+", s2) else None


def patch_time(name: str, fallback: np.datetime64 | None = None) -> str | None:
    """A patch's time: ``YYYYMMDDTHHMMSS`` in its name, else ``fallback``, else a name's date."""
    when = None
    for m in _DATETIME.finditer(name):
        if (when := parse_date(m.group(1))) is not None:
            break
    when = when if when is not None else fallback
    when = when if when is not None else parse_date(name)
    return None if when is None else str(when.astype("datetime64[s]"))


def list_patches(
    root: Path,
    source: str,
    labels: str | os.PathLike | None = None,
    classes: list[str] | None = None,
) -> Listing:
    """The patches of ``root`` in sample order, with their class numbers (not yet checked)."""
    if source == "bigearthnet":
        folders = subdirs(root)
        if not folders:
            raise UserError(f"{root}: no patch folders; expected {root}/<patch>/<patch>_B02.tif")
        names = classes or bigearthnet_classes()
        patches = [Patch(id=f.name, path=f.name, location=_ben_location(f)) for f in folders]
        # S1 patches in the order of their S2 patches, so the two stores pair by sample
        patches.sort(key=lambda p: natural_key(p.location or p.id))
        return Listing(root, source, patches, names, "multi", [])
    if labels is not None:
        return _csv_listing(root, Path(labels).expanduser().resolve(), classes)
    top, class_dirs = _tifs(root), [d for d in subdirs(root) if _tifs(d, recursive=True)]
    if top and class_dirs:
        raise UserError(
            f"{root}: holds both GeoTIFFs and class folders ({class_dirs[0].name}/); keep one "
            "or the other, or list the files in a labels CSV (--labels)"
        )
    if source == "eurosat" and not class_dirs:
        raise UserError(f"{root}: no class folders; expected {root}/<Class>/<Class>_1.tif")
    if not class_dirs:
        if not top:
            raise UserError(f"{root}: no GeoTIFF patches (*.tif, *.tiff) found")
        if classes is not None:
            raise UserError("--classes needs labels: class folders or a labels CSV (--labels)")
        patches = [Patch(id=p.stem, path=p.name) for p in top]
        return Listing(root, source, patches, None, None, [])
    empty = [d.name for d in subdirs(root) if d not in class_dirs]
    if empty and classes is None:  # left out of the class numbers, which would shift
        _notice(
            f"{root}: folder(s) {', '.join(empty[:3])}{' ...' * (len(empty) > 3)} hold no "
            "GeoTIFF: not classes (pass --classes to number the classes yourself)"
        )
    names = _class_numbers([d.name for d in class_dirs], classes, str(root))
    number = {n: i for i, n in enumerate(names)}
    patches = []
    for folder in sorted(class_dirs, key=lambda d: number[d.name]):
        for path in _tifs(folder, recursive=True):
            rel = path.relative_to(root).as_posix()
            pid = path.stem if source == "eurosat" else _stem(rel)
            patches.append(Patch(id=pid, path=rel, labels=(number[folder.name],)))
    return Listing(root, source, patches, names, "single", [])


def _csv_listing(root: Path, csv_path: Path, classes: list[str] | None) -> Listing:
    from eossl.data.convert.rasters import file_key

    rows = read_label_csv(csv_path, root)
    names = _class_numbers([n for _, found, _ in rows for n in found], classes, str(csv_path))
    if classes is not None:
        for _, found, row in rows:
            unknown = [n for n in found if n not in classes]
            if unknown:
                raise UserError(
                    f"{csv_path}, row {row}: unknown class {unknown[0]!r}; "
                    f"--classes lists {', '.join(classes)}"
                )
    number = {n: i for i, n in enumerate(names)}
    patches = [
        Patch(id=_stem(rel), path=rel, labels=tuple(sorted(number[n] for n in found)))
        for rel, found, _ in rows
    ]
    kind = "single" if all(len(found) == 1 for _, found, _ in rows) else "multi"
    listed = {rel for rel, _, _ in rows}
    unlisted = [
        p for p in _tifs(root, recursive=True) if p.relative_to(root).as_posix() not in listed
    ]
    if unlisted:
        _notice(
            f"{len(unlisted)} GeoTIFF(s) in {root} are not in {csv_path.name} and are left out "
            f"(e.g. {unlisted[0].relative_to(root).as_posix()})"
        )
    return Listing(root, "folder", patches, names, kind, [file_key(csv_path)])


def _notice(text: str) -> None:
    from rich.markup import escape

    from eossl.console import console

    console(stderr=True).print(f"eossl: {escape(text)}")
