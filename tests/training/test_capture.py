"""compile: an option that never breaks training: invalid modes refused, failures fall back in one line."""

import logging

import pytest
import torch
from safetensors.torch import load_file

from ganbench import cli
from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.training import capture, loop
from ganbench.training import checkpoint as ckpt

BASE = {"data": {"name": "ring8", "n": 500}, "generator": {"name": "mlp", "hidden": 16},
        "discriminator": {"name": "mlp", "hidden": 16}, "batch_size": 16, "steps": 6, "log_every": 3,
        "ckpt_every": 6, "device": "cpu"}


def _cfgs():
    return [make_config({**BASE, "seed": s, "lr_d": 1e-4 * (1 + s)}) for s in range(2)]


def _final(run_dir):
    last = ckpt.list_checkpoints(run_dir / "checkpoints")[-1]
    return load_file(str(last.with_suffix(".safetensors")))


def test_cli_modes_match():
    assert cli.CAPTURE_MODES == capture.MODES


def test_unknown_mode_refused(tmp_path):
    with pytest.raises(UserError, match="compile must be one of"):
        loop.train_group(_cfgs(), [tmp_path / "a", tmp_path / "b"], progress=False, compile="fastest")


def test_failed_capture_falls_back_in_one_line(tmp_path, monkeypatch, caplog):
    """torch.compile's result raising on its first call -> one warning, then the exact eager step."""
    calls = []

    def broken_compile(fn, mode=None):
        def run(*args, **kwargs):
            calls.append(mode)
            raise RuntimeError("no compiler here\nsecond line")
        return run

    loop.train_group(_cfgs(), [tmp_path / "e0", tmp_path / "e1"], progress=False)
    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        results = loop.train_group(_cfgs(), [tmp_path / "c0", tmp_path / "c1"], progress=False, compile="default")
    assert [r.status for r in results] == ["done", "done"]
    assert calls == ["default"]  # after the first failure nothing compiled is called again
    lines = [r.getMessage() for r in caplog.records if r.name == "ganbench"]
    assert len(lines) == 1 and "compile=default" in lines[0] and "no compiler here" in lines[0]
    assert "second line" not in lines[0]
    for i in range(2):
        eager, fell_back = _final(tmp_path / f"e{i}"), _final(tmp_path / f"c{i}")
        assert all(torch.equal(eager[k], fell_back[k]) for k in eager)


def test_compile_refused_at_wrap_time_falls_back(tmp_path, monkeypatch, caplog):
    def refuse(fn, mode=None):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        result = loop.train(_cfgs()[0], tmp_path / "r", progress=False, compile="reduce-overhead")
    assert result.status == "done"
    assert sum(r.name == "ganbench" for r in caplog.records) == 1
