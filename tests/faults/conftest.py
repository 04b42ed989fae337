"""Shared helpers of the fault suite: run the CLI in-process and check the one-line contract."""

import json
import shutil

import numpy as np
import pytest
import yaml

from ganbench.cli import main

TINY = ["--data", "ring8", "--steps", "4", "--batch-size", "8", "--log-every", "2", "--ckpt-every", "2",
        "--device", "cpu", "--no-progress", "--set", "generator.hidden=8", "--set", "discriminator.hidden=8"]


def cli(capsys, *argv):
    """Exit code, stdout and stderr of one in-process CLI call."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, says: str = "", code: int = 2) -> str:
    """Assert the contract for user-caused errors: exit 2 (1 for a fault of the machine, such as a full disk),
    one line, no traceback; return that line."""
    expected = code
    code, out, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == expected, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("ganbench: error: "), err
    assert "Traceback" not in err
    assert says.lower() in lines[0].lower(), (says, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A finished 4-step ring8 run with two checkpoints (steps 2 and 4); tests copy it before tampering."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


# --- stored paths (test_hostile_paths*.py) ------------------------------------------------------------
def points(path, n=400, seed=0):
    np.savez(path, x=np.random.default_rng(seed).normal(size=(n, 2)).astype(np.float32))
    return path


def set_data(run, data):
    """Point the stored config and both checkpoint sidecars at ``data`` (what a hostile run would hold)."""
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["data"] = data
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    for sidecar in (run / "checkpoints").glob("step_*.json"):
        record = json.loads(sidecar.read_text())
        record["config"]["data"] = data
        sidecar.write_text(json.dumps(record))


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the tiny run to tamper with."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst)
    return dst


STUDY_SPEC = {"name": "p", "base": {"batch_size": 16, "log_every": 10, "generator": {"name": "mlp", "hidden": 8},
                                    "discriminator": {"name": "mlp", "hidden": 8}},
              "seeds": 2, "budget": {"steps": 10}, "eval": {"n": 50, "metrics": ["wasserstein"]}}


@pytest.fixture(scope="session")
def tiny_study(tmp_path_factory):
    """A finished two-seed study on ring8 (10 steps per run); tests copy it before tampering."""
    root = tmp_path_factory.mktemp("tiny-study")
    spec = {**STUDY_SPEC, "datasets": [{"data": {"name": "ring8", "n": 500}}]}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert main(["study", "run", str(root / "spec.yaml"), "--dir", str(root / "s"), "--executor", "inprocess",
                 "--no-progress"]) == 0
    return root / "s"


def write_spec(root, data_path):
    """``root``/spec.yaml: the two-seed study over an .npz at ``data_path``."""
    spec = {**STUDY_SPEC, "datasets": [{"data": {"name": "npz", "path": str(data_path)}}]}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root / "spec.yaml"
