"""benchmarks/gpu_reproduce.sh's CPU smoke-test path (ALLOW_CPU=1), without training anything.

The script picks the project's .venv only when its torch sees CUDA, else python3: on a CPU box whose
python3 has no torch, ALLOW_CPU=1 died writing hardware.txt. Here the script runs from a scratch copy
of the checkout whose .venv/bin/python is this interpreter and whose python3 has no torch; DEADLINE_S=0
stops both studies before they start and no MNIST is found, so only the bookkeeping runs.

The Stacked MNIST classifier step under DEADLINE_S runs with stand-ins for the interpreter and the clock.
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


# Stacked MNIST's mode classifier under DEADLINE_S. A stand-in interpreter logs and fakes every ganbench
# command (`data prepare` sleeps PREPARE_SLEEP seconds, or exits PREPARE_EXIT) and says torch sees no GPU;
# a stand-in `date +%s` stops the clock, so the time left is DEADLINE_S exactly.
FAKE_PYTHON = """#!/bin/sh
if [ "$1" = -c ]; then
  case "$2" in *cuda.is_available*) exit 1;; *) echo "torch 0 cuda None"; exit 0;; esac
fi
echo "$*" >> "$GB_LOG"
if [ "$3 $4" = "data prepare" ]; then
  echo "lenet-mnist-v1-fake: prepared"
  [ -z "$PREPARE_SLEEP" ] || exec sleep "$PREPARE_SLEEP"
  exit "${PREPARE_EXIT:-0}"
fi
exit 0
"""


def _reproduce(tmp_path: Path, classifier: str | None, **knobs: str) -> tuple[str, list[str], str]:
    """Run the script with MNIST 'found' (a stand-in idx file); ``classifier``: 'cache' (a file in the cache
    in use), 'carried' (in CARRIED_CACHE) or None. Returns timing.txt, the ganbench commands run, the packed
    timing.txt."""
    repo = tmp_path / "repo"
    (repo / "benchmarks").mkdir(parents=True)
    shutil.copy(ROOT / "benchmarks" / "gpu_reproduce.sh", repo / "benchmarks" / "gpu_reproduce.sh")
    _exe(tmp_path / "bin" / "python", FAKE_PYTHON)
    _exe(tmp_path / "bin" / "date", f'#!/bin/sh\n[ "$1" = +%s ] && echo 1000 && exit 0\nexec "{shutil.which("date")}" "$@"\n')
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "mnist" / "train-images-idx3-ubyte").write_bytes(b"")
    home = tmp_path / "home"
    where = {"cache": home / ".cache" / "ganbench", "carried": tmp_path / "carried"}.get(classifier)
    if where is not None:
        (where / "classifiers").mkdir(parents=True)
        for suffix in (".json", ".safetensors"):
            (where / "classifiers" / f"lenet-mnist-v1-0123456789abcdef{suffix}").write_text("{}")
    env = {k: v for k, v in os.environ.items()
           if k not in ("GANBENCH_CACHE", "XDG_CACHE_HOME", "DEADLINE_S", "CLASSIFIER_S", "PREPARE_SLEEP",
                        "PREPARE_EXIT")}
    env.update(PATH=f"{tmp_path / 'bin'}{os.pathsep}{env.get('PATH', '')}", HOME=str(home), ALLOW_CPU="1",
               PYTHON=str(tmp_path / "bin" / "python"), GB_LOG=str(tmp_path / "gb.log"),
               GANBENCH_DATA=str(tmp_path / "data"), CARRIED_CACHE=str(tmp_path / "carried"),
               PACK_DIR=str(tmp_path / "pack"), **knobs)
    out = tmp_path / "out"
    r = subprocess.run(["bash", str(repo / "benchmarks" / "gpu_reproduce.sh"), str(out)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return ((out / "timing.txt").read_text(), (tmp_path / "gb.log").read_text().splitlines(),
            (tmp_path / "pack" / "timing.txt").read_text())


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
@pytest.mark.parametrize("classifier", [None, "cache", "carried"])
def test_the_classifier_is_not_trained_when_deadline_s_leaves_too_little(tmp_path, classifier):
    """No classifier in the cache and 100 s left, under CLASSIFIER_S (default 180): skipped before training, in
    one line of the packed timing.txt. With one (in the cache, or carried), it is prepared and the study runs."""
    timing, commands, packed = _reproduce(tmp_path, classifier, DEADLINE_S="100")
    assert commands[0].startswith("-m ganbench study run presets/pacgan-2d.yaml")
    prepared = [c for c in commands if c.startswith("-m ganbench data prepare stacked-mnist")]
    studied = [c for c in commands if c.startswith("-m ganbench study run presets/pacgan-stacked-mnist.yaml")]
    skipped = [line for line in timing.splitlines() if line.startswith("pacgan-stacked-mnist: skipped")]
    if classifier is None:
        assert prepared == [] and studied == []
        assert len(skipped) == 1 and "no mode classifier" in skipped[0]
        assert "100 s left before DEADLINE_S, under the 180 s (CLASSIFIER_S)" in skipped[0]
        assert skipped[0] in packed.splitlines()
    else:
        assert len(prepared) == 1 and len(studied) == 1 and skipped == []
        assert "mode classifier ready in 0 s" in timing


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_a_classifier_step_past_deadline_s_is_stopped(tmp_path):
    """A classifier step that outlasts the time left (11 s here; it would take 40) is stopped at DEADLINE_S."""
    timing, commands, packed = _reproduce(tmp_path, "cache", DEADLINE_S="11", PREPARE_SLEEP="40")
    assert any(c.startswith("-m ganbench data prepare stacked-mnist") for c in commands)
    assert not any(c.startswith("-m ganbench study run presets/pacgan-stacked-mnist.yaml") for c in commands)
    line = "pacgan-stacked-mnist: skipped, mode classifier not ready after 0 s (exit 124, stopped at DEADLINE_S)"
    assert line in timing.splitlines() and line in packed.splitlines()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_a_failed_classifier_step_is_one_line_and_the_pack_is_written(tmp_path):
    timing, commands, packed = _reproduce(tmp_path, None, PREPARE_EXIT="3")
    assert not any(c.startswith("-m ganbench study run presets/pacgan-stacked-mnist.yaml") for c in commands)
    line = "pacgan-stacked-mnist: skipped, mode classifier not ready after 0 s (exit 3)"
    assert line in timing.splitlines() and line in packed.splitlines()
