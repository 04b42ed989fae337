"""`study merge` of a source whose store was edited to look like the other's: its runs' own files say what
they were trained and measured with, and a run the merged spec does not describe is refused, not pooled; a
study whose store was edited to another eval.n is not grown with new runs of that n."""

import json
import sqlite3

import yaml

from ganbench import provenance
from ganbench.cli import main

from ganbench.study.spec import StudySpec, expand
from ganbench.study.store import Store

from .test_extend import RUN, TINY
from .test_merge import ONE, _study, merge


def _disguise(study, tree: dict) -> None:
    """Make ``study``'s spec.yaml and store say ``tree`` (spec, its digest, every run's config) while its run
    directories stay as they were trained: the edit a hand with sqlite3 can make."""
    spec = StudySpec(**tree)
    (study / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    db = sqlite3.connect(study / "study.sqlite")
    with db:
        kept = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        db.execute("UPDATE meta SET value=? WHERE key='spec'", (kept,))
        db.execute("UPDATE meta SET value=? WHERE key='spec_digest'", (spec.digest(),))
        for r in expand(spec):
            db.execute("UPDATE runs SET config=? WHERE run_id=?", (json.dumps(r.config), r.run_id))
    db.close()


def test_a_source_whose_store_hides_another_recipe_is_refused(tmp_path, capsys):
    first = _study(tmp_path / "first", name="first")
    other = _study(tmp_path / "other", name="other", seeds=[5], base={**TINY["base"], "lr_g": 0.001})
    _disguise(other, {**ONE, "name": "other", "seeds": [5]})  # its store now says first's recipe
    assert merge(first, other, "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "run 'ring8__loss=ns__s5' of 'other'" in err
    assert "trained with another config than its store and the merged spec give (lr_g (0.001 -> 0.0002)" in err
    assert not (tmp_path / "m").exists()


def test_a_source_whose_store_hides_another_evaluation_is_refused(tmp_path, capsys):
    first = _study(tmp_path / "first", name="first")
    other = _study(tmp_path / "other", name="other", seeds=[5], eval={**TINY["eval"], "n": 300})
    _disguise(other, {**ONE, "name": "other", "seeds": [5]})  # its store now says n 200, as first's
    assert merge(first, other, "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset 'ring8': run 'ring8__loss=ns__s0' of 'first'" in err
    assert "with n_fake 200 on the train split (selection), run 'ring8__loss=ns__s5' of 'other'" in err
    assert "with n_fake 300 on the train split; their numbers are not comparable" in err
    assert not (tmp_path / "m").exists()
    assert merge(first, _study(tmp_path / "third", name="third", seeds=[7]), "--out", tmp_path / "m") == 0


def test_a_study_whose_store_was_edited_to_another_n_is_not_grown_with_runs_of_that_n(tmp_path, capsys):
    study = _study(tmp_path / "s", name="s")  # n 200
    _disguise(study, {**ONE, "name": "s", "eval": {**TINY["eval"], "n": 300}})  # spec and store now say 300
    assert main(["study", "report", str(study)]) == 0
    before = {name: (study / name).read_bytes() for name in ("spec.yaml", "report.html", "results.csv")}
    runs_before = len(Store(study / "study.sqlite").runs())
    assert main(["study", "extend", str(study), "--seeds", "2", *RUN]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "dataset 'ring8': the study's run ring8__loss=ns__s0 was evaluated with n_fake 200, its spec gives new " \
        "runs 300" in err
    assert {e["protocol"]["n_fake"] for e in Store(study / "study.sqlite").evals()} == {200}  # nothing evaluated
    # refused before anything was written: no extension recorded, spec.yaml as it was, its report kept
    assert {name: (study / name).read_bytes() for name in before} == before
    assert len(Store(study / "study.sqlite").runs()) == runs_before


def test_runs_of_a_seconds_budget_trained_on_two_machines_are_not_merged(tmp_path, capsys, monkeypatch):
    timed = {"budget": {"seconds": 30.0, "steps": 20}}  # steps: at most, to stay cheap
    first = _study(tmp_path / "first", name="first", **timed)
    monkeypatch.setattr(provenance, "machine", lambda device="cpu": "Another CPU (2 logical cores)")
    other = _study(tmp_path / "other", name="other", seeds=[5], **timed)
    capsys.readouterr()
    assert merge(first, other, "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the budget is 30 training seconds per run and the sources' runs were trained on " \
        "2 machines (Another CPU (2 logical cores): 1 run (e.g. ring8__loss=ns__s5); " in err
    assert "a faster machine trains more steps in them" in err and not (tmp_path / "m").exists()
    third = _study(tmp_path / "third", name="third", seeds=[7], **timed)
    assert merge(other, third, "--out", tmp_path / "m") == 0  # one machine: equal budgets
