"""Growing a study in place: more seeds (`ganbench study extend`), variants or datasets (`study run --extend`)."""

import json
import math

import pytest
import yaml

from ganbench.cli import main
from ganbench.errors import UserError
from ganbench.study.executors import InProcess
from ganbench.study.extend import check_extension, extensions, false_positive_rate, more_seeds
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec, expand
from ganbench.study.store import Store

TINY = {"name": "tiny", "base": {"batch_size": 32, "log_every": 20, "generator": {"name": "mlp", "hidden": 32},
                                 "discriminator": {"name": "mlp", "hidden": 32}},
        "datasets": [{"data": {"name": "ring8", "n": 2000}}], "grid": {"loss": ["ns", "hinge"]}, "seeds": 2,
        "budget": {"steps": 40}, "eval": {"n": 200, "every": 20, "metrics": ["modes", "fid"], "primary": "fid"}}
RUN = ["--executor", "inprocess", "--no-progress"]


def _contents(path):
    store = Store(path / "study.sqlite")
    try:
        return store.results_table(), [(c["dataset"], c["row"], c["checkpoint"], c["seed"], c["metric"], c["value"])
                                       for c in store.calibration()], {r["run_id"]: r["finished"] for r in store.runs()}
    finally:
        store.close()


def test_a_study_given_more_seeds_keeps_its_runs_and_equals_one_run_with_them(tmp_path, capsys):
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump(TINY))
    grown = tmp_path / "grown"
    assert main(["study", "run", str(spec_path), "--dir", str(grown), *RUN]) == 0
    _, _, finished_before = _contents(grown)
    capsys.readouterr()
    assert main(["study", "extend", str(grown), "--seeds", "3", *RUN]) == 0
    out = capsys.readouterr().out
    assert "adds seed 2 (4 -> 6 runs; 4 finished runs kept as they are)" in out and "2 of 6 runs executed" in out
    table, calibration, finished = _contents(grown)
    assert all(finished[k] == v for k, v in finished_before.items())  # the first four were not run again
    # the same results table, reference rows included, as the 3-seed study run in one go
    whole = tmp_path / "whole"
    run_study(whole, StudySpec(**{**TINY, "seeds": 3}), InProcess(), progress=False)
    table_whole, calibration_whole, _ = _contents(whole)
    assert table == table_whole and calibration == calibration_whole
    assert yaml.safe_load((grown / "spec.yaml").read_text())["seeds"] == 3
    capsys.readouterr()
    assert main(["study", "extend", str(grown), "--seeds", "3", *RUN]) == 0  # again (after a Ctrl-C): a resume
    assert "0 of 6 runs executed" in capsys.readouterr().out
    record, = json.loads((grown / "results.json").read_text())["extensions"]
    assert (record["runs_before"], record["finished_before"], record["runs_after"]) == (4, 4, 6)
    assert (record["seeds_before"], record["seeds_after"], record["seeds_added_to"]) == ([0, 1], [0, 1, 2], ["ring8"])
    html = (grown / "report.html").read_text()
    assert "Seeds were added to this study after it had results (2, then 3 seeds; extended " in html
    assert "run at 2 and 3 seeds finds a difference 9 % of the time, not 5 %" in html and "when 4 of its 4 runs had finished: added seed 2 (6 runs in all)" in html


def test_a_variant_added_with_extend_runs_alone_and_needs_no_caveat(tmp_path, capsys):
    spec_path = tmp_path / "tiny.yaml"
    spec = {**TINY, "seeds": 1}
    spec_path.write_text(yaml.safe_dump(spec))
    study = tmp_path / "s"
    assert main(["study", "run", str(spec_path), "--dir", str(study), *RUN]) == 0
    spec_path.write_text(yaml.safe_dump({**spec, "grid": {"loss": ["ns", "hinge", "lsgan"]}}))
    capsys.readouterr()
    assert main(["study", "run", str(spec_path), "--dir", str(study), *RUN]) == 2
    assert "--extend to add its new runs" in capsys.readouterr().err
    assert main(["study", "run", str(spec_path), "--dir", str(study), "--extend", *RUN]) == 0
    out = capsys.readouterr().out
    assert "adds variant loss=lsgan (2 -> 3 runs" in out and "1 of 3 runs executed" in out
    record, = json.loads((study / "results.json").read_text())["extensions"]
    assert record["variants_added"] == ["loss=lsgan"] and record["seeds_added_to"] == []
    html = (study / "report.html").read_text()
    assert "added variant loss=lsgan (3 runs in all)" in html and "Seeds were added" not in html
    # run again with the same spec: nothing to extend, nothing run, no second record
    assert main(["study", "run", str(spec_path), "--dir", str(study), "--extend", *RUN]) == 0
    assert len(json.loads((study / "results.json").read_text())["extensions"]) == 1
    # a refused extension is refused before anything is announced or recorded
    spec_path.write_text(yaml.safe_dump({**spec, "grid": {"loss": ["ns", "hinge", "lsgan", "minimax"]},
                                         "base": {**TINY["base"], "lr_g": 0.001}}))
    capsys.readouterr()
    assert main(["study", "run", str(spec_path), "--dir", str(study), "--extend", *RUN]) == 2
    out, err = capsys.readouterr()
    assert "extending" not in out and "differs from the study's in lr_g" in err
    store = Store(study / "study.sqlite")
    assert len(extensions(store)) == 1
    store.close()


class Killed(Exception):
    pass


@pytest.mark.parametrize("where", ["before spec.yaml", "before the store's spec"])
def test_an_extension_killed_half_way_is_finished_by_the_same_command_with_one_record(tmp_path, monkeypatch, where):
    study = tmp_path / "s"
    one, two = StudySpec(**{**TINY, "seeds": 1}), StudySpec(**TINY)
    run_study(study, one, InProcess(), progress=False)
    real_set_meta = Store.set_meta

    def kill(*args, **items):
        if where == "before spec.yaml" or "spec_digest" in items:
            raise Killed
        return real_set_meta(*args, **items)

    if where == "before spec.yaml":
        monkeypatch.setattr("ganbench.study.runner.atomic_write_text", kill)
    else:
        monkeypatch.setattr(Store, "set_meta", kill)
    with pytest.raises(Killed):
        run_study(study, two, InProcess(), progress=False, extend=True)
    monkeypatch.undo()
    store = Store(study / "study.sqlite")
    assert len(extensions(store, done=False)) == 1 and extensions(store) == []  # recorded, not yet done
    store.close()
    summary = run_study(study, two, InProcess(), progress=False, extend=True)  # the same command again
    assert summary["executed"] == 2 and summary["status"] == {"done": 4}
    store = Store(study / "study.sqlite")
    record, = extensions(store)
    store.close()
    assert (record["seeds_before"], record["seeds_after"], record["spec_digest"]) == ([0], [0, 1], two.digest())


@pytest.mark.parametrize("change, message", [
    ({"base": {**TINY["base"], "lr_g": 0.001}}, r"run 'ring8__loss=ns__s0' differs from the study's in lr_g "
                                                r"\(0.0002 -> 0.001\); --extend only adds"),
    ({"grid": {"loss": ["ns"]}}, "the spec drops run 'ring8__loss=hinge__s0' of the study"),
    ({"seeds": [0, 2]}, "the spec drops run 'ring8__loss=ns__s1'"),
    ({"budget": {"steps": 80}}, "differs from the study's in steps"),
    ({"eval": {**TINY["eval"], "n": 400}}, r"the evaluation differs from the study's in eval.n \(200 -> 400\)"),
    ({"eval": {**TINY["eval"], "primary": "modes_covered"}}, "ranked on modes_covered by the spec but on fid by the study"),
])
def test_a_spec_that_changes_the_study_is_not_an_extension(change, message):
    old = StudySpec(**TINY)
    new = StudySpec(**{**TINY, **change})
    with pytest.raises(UserError, match=message):
        check_extension(old, new, expand(old), expand(new))


def test_looking_again_after_more_seeds_raises_the_false_positive_rate():
    # one look is the test's level; a second look at more seeds nearly doubles it (200,000 draws: 3 -> 6
    # seeds gave 9.0 %, 5 -> 10 gave 8.7 %); the estimate's own error at 20,000 draws is about 0.2 %
    assert false_positive_rate([3]) == pytest.approx(0.05, abs=0.008)
    assert false_positive_rate([3, 6]) == pytest.approx(0.090, abs=0.008)
    assert false_positive_rate([3, 6, 10]) > false_positive_rate([3, 6])
    assert false_positive_rate([1, 3]) == false_positive_rate([3])  # one seed has no p-value to look at
    assert math.isnan(false_positive_rate([3, 10**6]))  # a stored record cannot make the report simulate forever


def test_a_damaged_extension_record_is_refused_in_one_line(tmp_path):
    store = Store(tmp_path / "study.sqlite")
    store.set_meta(extensions=json.dumps([{"at": "x", "runs_before": "many"}]))
    with pytest.raises(UserError, match="the record of the study's extensions is damaged"):
        extensions(store)
    store.close()


def test_more_seeds_follow_the_largest_and_never_shrink():
    assert more_seeds(StudySpec(**TINY), 5).seeds == 5
    assert more_seeds(StudySpec(**{**TINY, "seeds": [3, 7]}), 4).seeds == [3, 7, 8, 9]
    assert more_seeds(StudySpec(**TINY), 2).digest() == StudySpec(**TINY).digest()  # the same command resumes
    with pytest.raises(UserError, match="has 2 seeds already; an extension never removes runs"):
        more_seeds(StudySpec(**TINY), 1)


def test_extend_bad_input_from_the_cli(tmp_path, capsys):
    assert main(["study", "extend", str(tmp_path / "nowhere"), "--seeds", "4"]) == 2
    assert "holds no study" in capsys.readouterr().err
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump(TINY))
    assert main(["study", "run", str(spec_path), "--dir", str(tmp_path / "s"), "--extend", "--force-new", *RUN]) == 2
    assert "choose one" in capsys.readouterr().err


def test_a_half_finished_extension_is_named_by_report_and_confirm_and_finished_by_resume(tmp_path, monkeypatch,
                                                                                          capsys):
    """Killed after spec.yaml, before the store took the new spec: report and confirm used to say the store
    lost runs and point to `study rebuild`; the way out is to finish the extension."""
    study = tmp_path / "s"
    run_study(study, StudySpec(**{**TINY, "seeds": 1}), InProcess(), progress=False)
    real_set_meta = Store.set_meta

    def kill(*args, **items):
        if "spec_digest" in items:
            raise Killed
        return real_set_meta(*args, **items)

    monkeypatch.setattr(Store, "set_meta", kill)
    with pytest.raises(Killed):
        run_study(study, StudySpec(**TINY), InProcess(), progress=False, extend=True)
    monkeypatch.undo()
    capsys.readouterr()
    for command in (["study", "report", str(study)], ["study", "confirm", str(study), *RUN]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "its last extension (seed 1; 2 -> 4 runs) was interrupted" in err
        assert f"finish it with `ganbench study resume {study}`" in err and "rebuild" not in err
    assert main(["study", "resume", str(study), *RUN]) == 0
    assert "2 of 4 runs executed" in capsys.readouterr().out
    record, = json.loads((study / "results.json").read_text())["extensions"]
    assert (record["runs_before"], record["finished_before"], record["runs_after"]) == (2, 2, 4)
    assert main(["study", "report", str(study)]) == 0


def test_rebuild_keeps_the_record_of_seeds_added_after_results(tmp_path, capsys):
    """The optional-stopping caveat rests on the store's record of extensions: a rebuilt store keeps it."""
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump({**TINY, "grid": {"loss": ["ns"]}}))
    study = tmp_path / "s"
    assert main(["study", "run", str(spec_path), "--dir", str(study), *RUN, "--no-report"]) == 0
    assert main(["study", "extend", str(study), "--seeds", "3", *RUN]) == 0
    before = json.loads((study / "results.json").read_text())["extensions"]
    assert main(["study", "rebuild", str(study)]) == 0
    assert main(["study", "report", str(study)]) == 0
    assert json.loads((study / "results.json").read_text())["extensions"] == before and before
    assert "Seeds were added to this study after it had results" in (study / "report.html").read_text()


def test_rebuild_without_the_store_says_the_extension_history_is_unknown(tmp_path, capsys):
    """With study.sqlite deleted, nothing on disk records that seeds were added after a look: the rebuild
    says so on stderr, and the report says the history is unknown instead of showing no caveat as if the
    study had never grown. A later rebuild of that store keeps saying it."""
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump({**TINY, "grid": {"loss": ["ns"]}}))
    study = tmp_path / "s"
    assert main(["study", "run", str(spec_path), "--dir", str(study), *RUN, "--no-report"]) == 0
    assert main(["study", "extend", str(study), "--seeds", "3", *RUN]) == 0
    for name in ("study.sqlite", "study.sqlite-wal", "study.sqlite-shm"):
        (study / name).unlink(missing_ok=True)
    capsys.readouterr()
    assert main(["study", "rebuild", str(study)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "extension" in ln]
    assert len(lines) == 1 and "unknown" in lines[0], err
    for _ in range(2):  # the rebuilt store remembers it did not know, through another rebuild
        assert main(["study", "report", str(study)]) == 0
        tables = json.loads((study / "results.json").read_text())
        assert tables["extensions"] == [] and "study.sqlite" in tables["extensions_unknown"]
        assert "whether seeds were added after the first results is unknown" in (study / "report.html").read_text()
        assert main(["study", "rebuild", str(study)]) == 0
    capsys.readouterr()
    # a study rebuilt from a sound store that never grew knows it did not: no note
    plain = tmp_path / "plain"
    assert main(["study", "run", str(spec_path), "--dir", str(plain), *RUN, "--no-report"]) == 0
    assert main(["study", "rebuild", str(plain)]) == 0
    assert "extension" not in capsys.readouterr().err
    assert main(["study", "report", str(plain)]) == 0
    tables = json.loads((plain / "results.json").read_text())
    assert tables["extensions"] == [] and tables["extensions_unknown"] is None
    assert "unknown" not in (plain / "report.html").read_text()

