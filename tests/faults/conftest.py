"""Shared helpers of the fault suite: run the CLI in-process and check the one-line contract."""

import pytest

from ganbench.cli import main

TINY = ["--data", "ring8", "--steps", "4", "--batch-size", "8", "--log-every", "2", "--ckpt-every", "2",
        "--device", "cpu", "--no-progress", "--set", "generator.hidden=8", "--set", "discriminator.hidden=8"]


def cli(capsys, *argv):
    """Exit code, stdout and stderr of one in-process CLI call."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, says: str = "") -> str:
    """Assert the contract for user-caused errors: exit 2, one line, no traceback; return that line."""
    code, out, err = cli(capsys, *argv)
    lines = err.strip().splitlines()
    assert code == 2, (code, out, err)
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
