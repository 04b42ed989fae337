"""A budget in seconds is equal training only on one machine: a study whose runs spent it on several (resumed,
extended or run by Ray elsewhere) says so above its verdicts, naming which runs each machine trained."""

import json
import sqlite3

from ganbench.cli import main
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

from .test_runner import TINY

ELSEWHERE = "Another CPU (64 logical cores)"


def _elsewhere(study, where: str) -> None:
    """The runs ``where`` selects as if trained on another machine (a resume there records it so)."""
    with sqlite3.connect(study / "study.sqlite") as db:
        for run_id, software in db.execute(f"SELECT run_id, software FROM runs WHERE {where}").fetchall():
            db.execute("UPDATE runs SET software=? WHERE run_id=?",
                       (json.dumps({**json.loads(software), "machine": ELSEWHERE}), run_id))


def _report(study) -> str:
    assert main(["study", "report", str(study)]) == 0
    return (study / "report.html").read_text()


def test_seconds_spent_on_two_machines_are_a_warning_and_steps_are_not(tmp_path):
    eval_ = {"n": 200, "every": 20, "metrics": ["modes"]}
    timed = tmp_path / "timed"
    run_study(timed, StudySpec(**{**TINY, "budget": {"seconds": 30.0, "steps": 20}, "eval": eval_}), InProcess(),
              progress=False)
    assert "A budget in seconds, spent on more than one machine" not in _report(timed)
    _elsewhere(timed, "variant='loss=hinge' AND seed=1")
    html = _report(timed)
    assert "A budget in seconds, spent on more than one machine" in html
    assert "Every run got 30 training seconds, but they were spent on 2 machines" in html
    assert f"{ELSEWHERE}: ring8/loss=hinge seed 1 — " in html and "ring8/loss=ns seeds 0, 1." in html
    stepped = tmp_path / "stepped"
    run_study(stepped, StudySpec(**{**TINY, "name": "stepped", "budget": {"steps": 20}, "eval": eval_}), InProcess(),
              progress=False)
    _elsewhere(stepped, "variant='loss=hinge' AND seed=1")
    assert "A budget in seconds" not in _report(stepped)  # equal steps: the machine changes no budget
