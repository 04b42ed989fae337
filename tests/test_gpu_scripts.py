"""benchmarks/gpu_reproduce.sh's CPU smoke-test path (ALLOW_CPU=1), without training anything.

The script picks the project's .venv only when its torch sees CUDA, else python3: on a CPU box whose
python3 has no torch, ALLOW_CPU=1 died writing hardware.txt. Here the script runs from a scratch copy
of the checkout whose .venv/bin/python is this interpreter and whose python3 has no torch; DEADLINE_S=0
stops both studies before they start and no MNIST is found, so only the bookkeeping runs.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _exe(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_allow_cpu_uses_the_venv_when_python3_has_no_torch(tmp_path):
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "gpu_reproduce.sh", repo / "benchmarks" / "gpu_reproduce.sh")
    _exe(repo / ".venv" / "bin" / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    _exe(tmp_path / "bin" / "python3", "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'torch'\" >&2\nexit 1\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "GANBENCH_DATA", "CARRIED_CACHE")}
    env.update(PATH=f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}", HOME=str(tmp_path / "home"),
               GANBENCH_DATA_HOME=str(tmp_path / "no-data"), ALLOW_CPU="1", DEADLINE_S="0",
               PACK_DIR=str(tmp_path / "pack"), PYTHONPATH=str(ROOT / "src"))
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(repo / "benchmarks" / "gpu_reproduce.sh"), str(out)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    hardware = (out / "hardware.txt").read_text()
    assert "torch " in hardware and "cuda" in hardware
    timing = (out / "timing.txt").read_text()
    assert "pacgan-2d: not started, DEADLINE_S reached" in timing
    assert "pacgan-stacked-mnist: skipped, MNIST not found" in timing
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == ["hardware.txt", "reproduce.tgz", "timing.txt"]
