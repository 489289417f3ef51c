"""Shared test helpers (importable from any test module as ``helpers``)."""

from __future__ import annotations


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
