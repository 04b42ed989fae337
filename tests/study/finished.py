"""A finished study that a test module runs once and each of its tests gets a copy of (tests that damage,
tamper with or resume it leave the others' copies alone)."""

import shutil
from pathlib import Path

from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec


def run_once(tmp_path_factory, spec: dict, name: str) -> Path:
    """``spec`` run in this process into a fresh folder named after ``name``."""
    path = tmp_path_factory.mktemp(name) / "s"
    run_study(path, StudySpec(**spec), InProcess(), progress=False)
    return path


def copy_of(finished: Path, tmp_path: Path) -> Path:
    shutil.copytree(finished, tmp_path / "s")
    return tmp_path / "s"
