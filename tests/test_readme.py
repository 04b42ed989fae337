"""The README's commands, in order, as a newcomer types them: every `ganbench` line must parse, and the
ones that are cheap with a tiny budget run (steps / 100, at most 16 samples); so does the Python example."""

import re
import shlex
from pathlib import Path

import pytest

from ganbench.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"
# lines parsed but not run here: the main job and other studies (tested on small specs in tests/study),
# a Ray cluster, the ensemble's example files (tests/training/test_stack.py), a download, MNIST's classifier
# (tests/metrics/test_extractors.py prepares one on digits)
PARSE_ONLY = ("study ", "ensemble ", "data fetch", "data prepare")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def commands() -> list[list[str]]:
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            if argv and argv[0] == "ganbench":
                out.append(argv[1:])
    return out


def shrink(argv: list[str]) -> list[str]:
    out = list(argv)
    for i, a in enumerate(out[:-1]):
        if a == "--steps":
            out[i + 1] = str(max(2, int(out[i + 1]) // 100))
        elif a == "--n":
            out[i + 1] = str(min(int(out[i + 1]), 16))
    return out


def test_readme_has_the_commands_this_test_expects():
    lines = [" ".join(c) for c in commands()]
    assert any(c.startswith("train --out runs/x --resume") for c in lines)
    assert any(c.startswith("metrics --real real.npz --fake fake.npz") for c in lines)
    assert len(blocks("python")) == 1 and len(blocks("yaml")) >= 2


def test_readme_commands_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    example = next(b for b in blocks("yaml") if b.startswith("data: digits"))  # "Example config" = my.yaml
    (tmp_path / "my.yaml").write_text(re.sub(r"^steps: \d+", "steps: 5", example, flags=re.M))
    python_done = False
    for argv in commands():
        line = " ".join(argv)
        build_parser().parse_args(argv)  # every command parses as written
        if line.startswith(PARSE_ONLY):
            continue
        if line.startswith("eval runs/digits") and not python_done:  # the Python example makes runs/digits
            code = blocks("python")[0].replace('"steps": 1500', '"steps": 15')
            exec(compile(code, "README.md", "exec"), {})
            python_done = True
        code = main(shrink(argv))
        assert code == 0, f"`ganbench {line}` failed: {capsys.readouterr().err[-2000:]}"
    assert python_done
    assert (tmp_path / "ring8.png").is_file() and (tmp_path / "fake.npz").is_file()
    config = (tmp_path / "runs" / "y" / "config.yaml").read_text()
    assert "name: r1" in config and "name: gp" in config and "weight: 5" in config  # --reg adds to my.yaml's
    assert '"step": 40' in (tmp_path / "runs" / "x" / "status.json").read_text()  # resumed to steps 4000 / 100
