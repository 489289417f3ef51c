"""Update the root attributes of a written store (``eossl stats``, ``eossl phenology``).

A store directory is updated in place (its consolidated metadata too); a ``.zarr.zip``
is rewritten whole into a temporary file that then replaces it, so it is never left
half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

from eossl.errors import UserError

__all__ = ["write_attrs"]


def write_attrs(store: Path, attrs: dict[str, Any]) -> None:
    """Update the root attributes of one store (a ``.zarr.zip`` is rewritten atomically)."""
    if store.is_file():
        _rewrite_zip_attrs(store, attrs)
        return
    import zarr

    group = zarr.open_group(store, mode="r+")
    group.attrs.update(attrs)
    if (store / ".zmetadata").exists():
        zarr.consolidate_metadata(store)


def _rewrite_zip_attrs(path: Path, attrs: dict[str, Any]) -> None:
    """Rewrite a ``.zarr.zip`` with updated root attributes: copy to a temp file, then rename."""
    tmp = path.with_name(path.name + ".stats-tmp")
    seen = set()
    try:
        with (
            zipfile.ZipFile(path) as src,
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as dst,
        ):
            names = set(src.namelist())
            for info in src.infolist():
                name = info.filename
                if name in (".zattrs", ".zmetadata", "zarr.json"):
                    meta = json.loads(src.read(info))
                    if name == ".zattrs":
                        meta.update(attrs)
                    elif name == ".zmetadata":
                        meta.setdefault("metadata", {}).setdefault(".zattrs", {}).update(attrs)
                    else:
                        meta.setdefault("attributes", {}).update(attrs)
                    dst.writestr(_copy_info(info), json.dumps(meta, indent=2))
                    seen.add(name)
                    continue
                with src.open(info) as fi, dst.open(_copy_info(info), "w") as fo:
                    shutil.copyfileobj(fi, fo, 1 << 20)
            if ".zgroup" in names and ".zattrs" not in seen:
                dst.writestr(".zattrs", json.dumps(attrs, indent=2))
        os.replace(tmp, path)
    except (zipfile.BadZipFile, ValueError) as err:  # a member fails its CRC-32, bad JSON
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"{path}: damaged ({str(err)[:80]}); left unchanged: `eossl verify` names the "
            "member; restore or download the file again"
        ) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    out.compress_type = info.compress_type
    out.external_attr = info.external_attr
    return out
