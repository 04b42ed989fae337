"""Fault family: bad checkpoints. Truncated, empty, pickled or foreign tensor files and sidecars are
refused in one line naming the file (exit 2); nothing is unpickled, and the files are left as they were."""

import pickle
import shutil

import pytest
import torch
from safetensors.torch import save_file

from .conftest import TINY, cli, refused


def _tensors(run):
    return run / "checkpoints" / "step_0000004.safetensors"


class _Boom:
    def __reduce__(self):  # would run if anything unpickled the file
        return (exec, ("raise SystemExit('unpickled!')",))


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    lambda p: p.write_bytes(b""),
    lambda p: p.write_bytes(pickle.dumps({"G.net.0.weight": _Boom()})),
    lambda p: p.write_bytes(b"\xff" * 64),
], ids=["truncated", "zero-byte", "pickle", "garbage"])
@pytest.mark.parametrize("command", ["sample", "eval", "resume"])
def test_damaged_tensor_file(capsys, run, tmp_path, damage, command):
    damage(_tensors(run))
    before = _tensors(run).read_bytes()
    argv = {"sample": ["sample", run, "--out", tmp_path / "s.png"], "eval": ["eval", run, "--n", "50"],
            "resume": ["train", *TINY, "--steps", "6", "--out", run, "--resume"]}[command]
    refused(capsys, *argv, says="step_0000004.safetensors")
    assert _tensors(run).read_bytes() == before


def test_missing_tensor_file(capsys, run, tmp_path):
    _tensors(run).unlink()
    refused(capsys, "sample", run, "--out", tmp_path / "s.png", says="missing")


def test_tensors_from_another_config(capsys, run, tmp_path):
    other = tmp_path / "other"
    assert cli(capsys, "train", *TINY, "--set", "generator.hidden=16", "--out", other)[0] == 0
    shutil.copy(other / "checkpoints" / "step_0000004.safetensors", _tensors(run))
    refused(capsys, "sample", run, "--out", tmp_path / "s.png", says="do not fit")
    refused(capsys, "train", *TINY, "--steps", "6", "--out", run, "--resume", says="do not fit")


def test_tensors_with_missing_keys(capsys, run, tmp_path):
    save_file({"G.unrelated": torch.zeros(3)}, str(_tensors(run)))
    refused(capsys, "sample", run, "--out", tmp_path / "s.png", says="do not fit")


@pytest.mark.parametrize("out", ["s.png", "s.npz"])
def test_weights_that_are_not_finite_are_said_when_sampling(capsys, run, tmp_path, out):
    # a diverged run's (or a stranger's) NaN weights drew an .npz of NaN without a word
    from safetensors.torch import load_file

    tensors = load_file(str(_tensors(run)))
    save_file({k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in tensors.items()},
              str(_tensors(run)))
    code, _, err = cli(capsys, "sample", run, "--out", tmp_path / out, "--n", "8")
    assert code == 0 and (tmp_path / out).exists()  # the file is written as asked
    assert "warning: 8 of 8 samples hold NaN or Inf (its weights are not finite; step 4)" in err


def test_finite_weights_sample_without_a_warning(capsys, run, tmp_path):
    code, _, err = cli(capsys, "sample", run, "--out", tmp_path / "s.npz", "--n", "8")
    assert code == 0 and "warning" not in err
