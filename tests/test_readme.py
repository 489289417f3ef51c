"""The README's Python snippets run as written, on the weights its set-up command writes (#28)."""

import os
import re
from pathlib import Path

import pytest
import torch
from helpers import tiny

from eossl.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SETUP = ["pretrain", "--sensor", "s2", "--method", "moco"]  # the README's set-up command


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown text, in order."""
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def torchgeo_at_least(major: int, minor: int) -> bool:
    import torchgeo

    return tuple(int(v) for v in torchgeo.__version__.split(".")[:2]) >= (major, minor)


def test_setup_command_is_the_one_tested() -> None:
    text = README.read_text()
    assert "eossl " + " ".join(SETUP) in text
    assert len(python_blocks(text)) >= 2


@pytest.fixture(scope="module")
def setup_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short run of the set-up command, from a fresh folder, as a user runs it."""
    home = tmp_path_factory.mktemp("user")
    cwd = os.getcwd()
    os.chdir(home)
    try:
        assert main([*SETUP, *tiny(), "--trainer.max_steps", "2"]) == 0
    finally:
        os.chdir(cwd)
    return home


@pytest.mark.parametrize("index", [0, 1])
def test_readme_python_block_runs(
    index: int, setup_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    block = python_blocks(README.read_text())[index]
    if block.startswith("# TorchGeo 0.10+") and not torchgeo_at_least(0, 10):
        pytest.skip("this block is for TorchGeo 0.10 and later")
    monkeypatch.chdir(setup_run)
    card = setup_run / "runs" / "s2-l1c_moco" / "weights" / "eossl_s2-l1c_moco_resnet18.json"
    assert card.exists(), sorted(p.name for p in card.parent.parent.rglob("*.json"))
    scope: dict = {}
    exec(compile(block, f"README.md python block {index}", "exec"), scope)  # noqa: S102
    state = torch.load(card.with_suffix(".pth"), weights_only=True)
    encoder = scope["task"].model.encoder.state_dict()
    assert all(torch.equal(encoder[k], v) for k, v in state.items() if k in encoder)
    assert any(k in encoder for k in state)
