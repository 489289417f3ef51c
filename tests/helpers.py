"""Shared test helpers (importable from any test module as ``helpers``)."""

from __future__ import annotations

from pathlib import Path

# a tiny ViT and MAE decoder, for runs of seconds
VIT = ["--model.init_args.backbone", "vit_tiny_patch16_224"]
DECODER = ["--model.init_args.decoder_dim", "32", "--model.init_args.decoder_depth", "1"]
DECODER += ["--model.init_args.decoder_heads", "2"]


def tiny(batch_size: int = 4, moco: bool = True) -> list[str]:
    """``eossl pretrain`` overrides for a run of seconds: tiny synthetic data, crop and heads.

    The first four items select the synthetic data; ``moco`` adds MoCo's queue and
    head sizes.
    """
    args = [
        "--data.synthetic_samples",
        "12",
        "--data.synthetic_size",
        "40",
        "--data.num_workers",
        "0",
        "--data.batch_size",
        str(batch_size),
        "--model.init_args.augment.crop_size",
        "32",
    ]
    if moco:
        args += ["--model.init_args.queue_size", "16", "--model.init_args.hidden_dim", "64"]
    return args


def flip_chunk_byte(store, sample: int, time: int) -> tuple[int, int]:
    """Flip one byte in the middle of the stored ``bands`` chunk (sample, time).

    Zarr 3 sharded directory: the chunk's byte range comes from the shard index (at
    the shard's end), and the flip lands inside it, never in the index. A
    ``.zarr.zip`` (zarr 2): inside the chunk's zip member. Returns (file offset of the
    flipped byte, the chunk's stored size).
    """
    import json
    import struct
    import zipfile
    from pathlib import Path

    import numpy as np

    store = Path(store)
    if store.is_file():  # zip: local header (30 bytes + name + extra), then the member
        with zipfile.ZipFile(store) as zf:
            info = zf.getinfo(f"bands/{sample}.{time}.0.0.0")
        raw = bytearray(store.read_bytes())
        name, extra = struct.unpack("<HH", raw[info.header_offset + 26 : info.header_offset + 30])
        offset = info.header_offset + 30 + name + extra + info.compress_size // 2
        raw[offset] ^= 0x10
        store.write_bytes(bytes(raw))
        return offset, info.compress_size
    meta = json.loads((store / "bands" / "zarr.json").read_text())
    shard = meta["chunk_grid"]["configuration"]["chunk_shape"]
    (sharding,) = meta["codecs"]
    index_crc = sharding["configuration"]["index_codecs"][-1]["name"] == "crc32c"
    path = store / "bands" / "c" / str(sample // shard[0]) / "0" / "0" / "0" / "0"
    raw = bytearray(path.read_bytes())
    entries = shard[0] * shard[1]
    index_start = len(raw) - 16 * entries - 4 * index_crc
    index = np.frombuffer(bytes(raw[index_start : index_start + 16 * entries]), "<u8")
    start, nbytes = (int(v) for v in index.reshape(shard[0], shard[1], 2)[sample % shard[0], time])
    offset = start + nbytes // 2
    assert start <= offset < start + nbytes <= index_start  # inside the chunk, not the index
    raw[offset] ^= 0x10
    path.write_bytes(bytes(raw))
    return offset, nbytes


def realdata_dir() -> Path | None:
    """``../shared/realdata`` beside the checkout (CI has it too), or ``$EOSSL_REALDATA``."""
    import os

    for candidate in (
        os.environ.get("EOSSL_REALDATA"),
        Path(__file__).resolve().parents[2] / "shared" / "realdata",
        "/work/shared/realdata",
    ):
        if candidate and Path(candidate, "bigearthnet-v1").is_dir():
            return Path(candidate)
    return None


def assert_same_items(a, b, indices=None) -> None:
    """Two datasets give equal items (same keys, equal tensors) at ``indices`` (default: all)."""
    import torch

    assert len(a) == len(b)
    for i in range(len(a)) if indices is None else indices:
        x, y = a[i], b[i]
        assert x.keys() == y.keys(), i
        for key in x:
            assert torch.equal(x[key], y[key]), (i, key)


def one_line(err) -> str:
    """The message of a raised error, checked to be one line."""
    message = str(err.value)
    assert "\n" not in message, message
    return message
