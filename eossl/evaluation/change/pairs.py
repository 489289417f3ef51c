"""Change pairs in memory: a change store's labelled tiles, their cities, and city folds."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eossl.data.convert.change import city_of
from eossl.data.io.schema import band_names, open_group
from eossl.data.scenes import SceneData
from eossl.errors import UserError

__all__ = ["ChangePairs", "city_folds", "convert_release", "load_pairs", "say_few_cities"]


@dataclass
class ChangePairs:
    """Tiles of two dates with their change mask, in memory."""

    name: str
    bands: np.ndarray  # (N, 2, C, H, W) stored values
    mask: np.ndarray  # (N, H, W) uint8: 0 no change, 1 change, 255 unlabelled
    city: np.ndarray  # (N,) city of each tile
    scored: np.ndarray  # ``mask`` with pixels of an earlier overlapping tile set to 255
    scenes: SceneData  # band names, offset, nodata and sensor, for the card's inputs

    @property
    def cities(self) -> list[str]:
        """Cities in order of first appearance."""
        return list(dict.fromkeys(self.city.tolist()))


def load_pairs(store: str | os.PathLike, source: str | os.PathLike | None = None) -> ChangePairs:
    """The labelled tiles of a change store (``eossl convert --layout oscd``).

    ``source``: what the store was converted from, named in errors instead of it.
    """
    path = Path(store).expanduser()
    shown = source or path
    if not path.exists():
        raise UserError(f"{path}: no such store")
    group = open_group(path)
    if group.attrs.get("label_kind") == "change" and "label" not in group:
        raise UserError(
            f"{shown}: no city has a change mask (<city>/cm/<city>-cm.tif, in OSCD's "
            "'Train Labels' or 'Test Labels' folder); change detection is scored on labelled "
            "cities"
        )
    if group.attrs.get("label_kind") != "change" or "label" not in group:
        raise UserError(
            f"{path}: not a change store (a label of date pairs); convert OSCD with "
            "`eossl convert SRC OUT --layout oscd`"
        )
    if group["bands"].shape[1] != 2:
        raise UserError(f"{path}: change detection needs 2 timestamps per sample")
    mask = _read(path, group, "label")
    keep = np.flatnonzero((mask != 255).any(axis=(1, 2)))
    if keep.size == 0:
        raise UserError(f"{shown}: no labelled tile (every change mask is 255)")
    ids = [str(i) for i in _read(path, group, "sample_id")[:, 0].tolist()]
    scenes = SceneData(
        name=path.name,
        dataset=None,  # type: ignore[arg-type]
        band_names=band_names(group) or [],
        class_names=["no change", "change"],
        multilabel=False,
        offset=float(group.attrs.get("offset", 0.0) or 0.0),
        nodata=group.attrs.get("nodata"),
        sensor=group.attrs.get("sensor"),
    )
    bands = _read(path, group, "bands")[keep]
    city = np.array([city_of(ids[i]) for i in keep])
    mask = mask[keep]
    scored = _once(mask, [ids[i] for i in keep])
    _check_changes(shown, city, scored)
    return ChangePairs(path.name, bands, mask, city, scored=scored, scenes=scenes)


def _check_changes(shown: str | os.PathLike, city: np.ndarray, mask: np.ndarray) -> None:
    """Refuse masks without a changed pixel; name the cities that have none."""
    changed = {c: bool((mask[city == c] == 1).any()) for c in dict.fromkeys(city.tolist())}
    if not any(changed.values()):
        raise UserError(
            f"{shown}: no changed pixel in any labelled city, so the F1 of change cannot be "
            "scored; check the change masks (or --mask-coding when converting)"
        )
    if unchanged := [c for c, has in changed.items() if not has]:
        print(
            f"eossl: no changed pixel in {', '.join(unchanged)}: its F1 cannot be above 0, "
            "and a fold trained on such cities alone has no change to learn",
            file=sys.stderr,
        )


def _read(path: Path, group: Any, name: str) -> np.ndarray:
    """A whole variable of the store; an unreadable chunk (bit-flipped, truncated) in one line."""
    try:
        return np.asarray(group[name][...])
    except Exception as err:
        raise UserError(
            f"{path}: '{name}' cannot be read ({type(err).__name__}: {err}); `eossl verify "
            f"{path}` names the bad chunks: re-convert the store"
        ) from err


def _once(mask: np.ndarray, ids: list[str]) -> np.ndarray:
    """``mask`` with every pixel scored once: edge tiles overlap their neighbours."""
    out = mask.copy()
    size = mask.shape[-1]
    covered: dict[str, set[tuple[int, int]]] = {}
    for i, sample in enumerate(ids):
        found = re.search(r"_y(\d+)_x(\d+)$", sample)
        if found is None:
            continue
        row, col = int(found.group(1)), int(found.group(2))
        seen = covered.setdefault(city_of(sample), set())
        for r, c in seen:  # earlier tiles of the city that overlap this one
            dr, dc = r - row, c - col
            if abs(dr) < size and abs(dc) < size:
                out[i, max(dr, 0) : size + min(dr, 0), max(dc, 0) : size + min(dc, 0)] = 255
        seen.add((row, col))
    return out


def convert_release(root: str | os.PathLike, chip: int, work: Path) -> Path:
    """OSCD in its release layout, converted into a store under ``work``."""
    from eossl.data.convert.rasters import BadFileError
    from eossl.data.convert.write import convert

    print(f"eossl: converting {root} (--layout oscd, {chip} px tiles)", file=sys.stderr)
    try:
        out, _ = convert(root, work / "oscd.zarr", "oscd", chip_size=chip, quiet=True)
    except UserError as err:  # a bad file: evaluate has no --skip-bad, convert has
        said = str(err)
        if hasattr(err, "kept"):  # its partial store is a temporary one: nothing to resume
            said = said.removesuffix(f"; {err.kept}")
        if not isinstance(err.__cause__, BadFileError):  # its options, as evaluate names them
            raise UserError(said.replace("--chip-size", "--tile-size")) from err
        bad = err.__cause__.bad
        raise UserError(
            f"{bad.path}: {bad.reason}; fix or remove it, or convert with `eossl convert "
            f"{root} OUT --layout oscd --skip-bad`, then --data OUT"
        ) from err
    return out


def city_folds(cities: list[str], k: int, seed: int) -> list[list[str]]:
    """``k`` groups of cities (seeded): each is tested once, trained on by the others."""
    if len(cities) < 2:
        raise UserError(
            f"{'one labelled city (' + cities[0] + ')' if cities else 'no labelled city'}: "
            "leaving cities out needs at least 2 cities with a change mask"
        )
    order = np.random.default_rng(seed).permutation(len(cities))
    return [[cities[i] for i in part] for part in np.array_split(order, min(k, len(cities)))]


def say_few_cities(cities: list[str], k: int, default: bool) -> None:
    """Notices for more folds than cities, and for intervals over a handful of cities."""
    if k > len(cities):
        asked = f"--folds {k}" + (" (the default)" if default else "")
        print(
            f"eossl: {asked} with {len(cities)} labelled cities: {len(cities)} folds, one "
            "city each",
            file=sys.stderr,
        )
    if len(cities) < MIN_CITIES_FOR_INTERVALS:
        print(
            f"eossl: {len(cities)} labelled cities: the intervals, resampled over cities, are "
            f"rough below {MIN_CITIES_FOR_INTERVALS}; read the per-city table",
            file=sys.stderr,
        )


MIN_CITIES_FOR_INTERVALS = 5  # a bootstrap over fewer cities draws from a handful of values
