"""Fault family: stored JSON that is no JSON as ganbench writes it. Every file or column ganbench reads JSON from
(status.json, eval.json, result.json, checkpoint sidecars, metrics.jsonl lines, the study store's JSON columns
and extensions record, the classifier and FLOPs caches) goes through one parser (confine.parse_json, and
confine.json_row for a log line), so each kind of bad input has one outcome: the site's "not valid" answer
(one line naming the file or row, an empty status, no saved result, a skipped line), never a traceback and
never a silently chosen value. NaN and Infinity are read as floats: ganbench's own json.dumps writes them."""

import json
import math
import shutil
import sqlite3
from contextlib import closing

import pytest

from ganbench.errors import UserError

from .conftest import cli

BAD = {  # each kind of bad input, as bytes a stranger's file may hold
    "an int of 5,000 digits": b'{"step": ' + b"9" * 5_000 + b', "status": "done", "config": {}}',
    "bytes that are no UTF-8": b'{"step": 1, "status": "d\xffne", "config": {}}',
    "UTF-16": '{"step": 1, "status": "done", "config": {}}'.encode("utf-16"),
    "a byte order mark": b'\xef\xbb\xbf{"step": 1, "status": "done", "config": {}}',
    "text cut short": b'{"step": 1, "status": "done", "config": {',
    "nesting too deep": b"[" * 100_000,
    "a key given twice": b'{"step": 1, "status": "done", "status": "running", "config": {}}',
}


def test_parse_json_gives_one_error_for_each_kind_of_bad_input():
    from ganbench.confine import BadJSON, parse_json

    for kind, data in BAD.items():
        for given in (data, data.decode("utf-8", errors="strict")) if kind in (
                "an int of 5,000 digits", "text cut short", "nesting too deep", "a key given twice") else (data,):
            with pytest.raises(BadJSON) as info:
                parse_json(given)
            assert isinstance(info.value, ValueError) and str(info.value) and "\n" not in str(info.value), kind
    with pytest.raises(BadJSON, match="'status' appears twice"):
        parse_json(BAD["a key given twice"])


def test_parse_json_reads_what_json_dumps_writes():
    from ganbench.confine import json_row, parse_json

    value = {"d_loss": math.nan, "fid": math.inf, "low": -math.inf, "rows": [1, 2.5, None, True, "caf\u00e9"],
             "nested": {"a": {"b": []}}}
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        for given in (text, text.encode()):
            found = parse_json(given)
            assert math.isnan(found.pop("d_loss")) and found == {k: v for k, v in value.items() if k != "d_loss"}
    assert parse_json(b"[1]") == [1] and parse_json(" 5 \n") == 5  # the caller checks the type it needs
    assert json_row(b'{"step": 3, "g_loss": NaN}\n')["step"] == 3
    for line in [*BAD.values(), b"[1]", b"", b"\n", "5"]:
        assert json_row(line) is None, line


def _status(tmp_path, data):
    from ganbench.training.rundir import RunDir

    (tmp_path / "status.json").write_bytes(data)
    return RunDir(tmp_path).status()


def _evaluations(tmp_path, data):
    from ganbench.evaluate import read_evaluations

    (tmp_path / "eval.json").write_bytes(data.replace(b'"config": {}', b'"evaluations": {}'))
    return read_evaluations(tmp_path)


def _sidecar(tmp_path, data):
    from ganbench.training.checkpoint import read_record

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "step_1.json").write_bytes(data)
    return read_record(tmp_path / "checkpoints" / "step_1.json")


def _result(tmp_path, data):
    from ganbench.study.rebuild import _saved

    (tmp_path / "runs" / "r").mkdir(parents=True)
    (tmp_path / "runs" / "r" / "result.json").write_bytes(data)
    return _saved(tmp_path / "runs" / "r")


def _flops(tmp_path, data):
    from ganbench.study.worker import _cached_flops

    (tmp_path / "f.json").write_bytes(data.replace(b'"config": {}', b'"pattern": [1], "phases": {}'))
    return _cached_flops(tmp_path / "f.json")


def _column(tmp_path, data):
    from ganbench.study.store import _column

    return _column(tmp_path / "study.sqlite", {"config": data}, "config", "the run r", dict, "a mapping")


def _protocol(tmp_path, data):
    from ganbench.study.store import _protocol

    keys = b'"checkpoint": "c", "split": "test", "seed": 0, "n_real": 1, "n_fake": 1, "extractor": "x"'
    return _protocol(tmp_path / "study.sqlite", data.replace(b'"config": {}', keys), "the protocol of r")


def _extensions(tmp_path, data):
    from ganbench.study.extend import _records

    record = (b'[{"at": "x", "runs_before": 1, "runs_before": 2, "finished_before": 0, "runs_after": 2, '
              b'"seeds_before": [0], "seeds_after": [0, 1], "variants_added": [], "datasets_added": [], '
              b'"seeds_added_to": []}]')  # a key twice is the kind this record can show alone
    return _records(record if b"running" in data else data, tmp_path / "study.sqlite")


# site -> what it answers for stored JSON that is no such JSON
SITES = {"status.json": (_status, "empty"), "eval.json": (_evaluations, "refused"),
         "a checkpoint sidecar": (_sidecar, "refused"), "result.json": (_result, "none"),
         "the FLOPs cache": (_flops, "none"), "a runs column": (_column, "refused"),
         "a protocol column": (_protocol, "refused"), "the extensions record": (_extensions, "refused")}


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("kind", BAD)
def test_each_site_gives_its_one_answer_for_each_kind_of_bad_json(tmp_path, site, kind):
    """Before: a key given twice was read (the last value won: a status 'running' over 'done', a sidecar's
    second step); UTF-16 and a BOM were read from files but refused in store columns; nesting too deep was a
    RecursionError traceback of the FLOPs cache."""
    read, answer = SITES[site]
    data = BAD[kind]
    if answer == "refused":
        with pytest.raises(UserError) as info:
            read(tmp_path, data)
        assert "\n" not in str(info.value)
    else:
        assert read(tmp_path, data) == ({} if answer == "empty" else None)


def test_a_log_line_that_is_no_utf8_is_skipped_by_the_report_as_by_eval(tmp_path):
    """The report's loss curves decoded the whole log with errors='replace' and kept a row whose text held
    bytes that are no UTF-8; `eval`'s step timing (the same log, line by line) skipped it."""
    from ganbench.report.figures import _losses

    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_bytes(b'{"step": 2, "d_loss": 1.0, "g_loss": 2.0}\n'
                                        b'{"step": 4, "d_loss": 1.5, "g_loss": 2.5, "note": "\xff"}\n'
                                        b'{"step": 6, "d_loss": 1.0, "g_loss": NaN, "g_loss": 3.0}\n')
    assert list(_losses(run)) == [(2, 1.0, 2.0)]


def test_a_log_line_that_is_no_utf8_is_dropped_by_resume_not_rewritten(tmp_path):
    """`train --resume` cut the log with its lines decoded errors='replace': a row holding bytes that are no
    UTF-8 was kept, rewritten with U+FFFD, and so became a row that every later reader took."""
    from ganbench.training.rundir import RunDir

    run = RunDir(tmp_path)
    run.log_file.write_bytes(b'{"step": 2}\n{"step": 3, "note": "\xff"}\r\n{"step": 3, "step": 1}\n{"step": 4}\r\n'
                             b'{"step": 9}\n{"step": 1')
    run.truncate_log(4)
    assert run.log_file.read_bytes() == b'{"step": 2}\n{"step": 4}\n'
    # a boolean is no step (Python counts True as the int 1, so it was kept as step 1)
    run.log_file.write_bytes(b'{"step": 2}\n{"step": true}\n{"step": 2.0}\n')
    run.truncate_log(4)
    assert run.log_file.read_bytes() == b'{"step": 2}\n'


@pytest.mark.parametrize("text", ["[1]", "[" * 100_000, '{"name": "p", "name": "q"}'])
def test_a_stored_spec_that_is_no_mapping_falls_back_to_comparing_runs(capsys, tiny_study, tmp_path, text):
    """The store's copy of the spec was decoded with json.loads and spread into StudySpec(**...): a list was
    a TypeError traceback of `study resume`, nesting too deep a RecursionError. Like a spec another version
    kept, it now counts as no stored spec: the runs themselves are compared, and resume goes on."""
    study = tmp_path / "s"
    shutil.copytree(tiny_study, study)
    with closing(sqlite3.connect(study / "study.sqlite")) as db, db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'spec'", (text,))
    code, _, err = cli(capsys, "study", "resume", study, "--executor", "inprocess", "--no-progress")
    assert code == 0, err


def _lenet_entry(tmp_path, monkeypatch):
    from ganbench.data import load_dataset
    from ganbench.metrics.features import lenet

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(lenet, "train_classifier", lambda *a, **k: pytest.fail("trained"))
    base, _ = lenet.cache_base({"name": "digits"}, load_dataset({"name": "digits"}, "train"),
                               load_dataset({"name": "digits"}, "test"))
    base.with_suffix(".safetensors").write_bytes(b"not read")
    return lenet, base


@pytest.mark.parametrize("kind", ["an int of 5,000 digits", "text cut short", "nesting too deep", "list"])
def test_a_damaged_classifier_record_is_named_in_one_line(tmp_path, monkeypatch, kind):
    """The cached LeNet's record was read with json.loads unguarded: a 5,000-digit int, a list or nesting too
    deep was a traceback, text cut short a line naming no file."""
    lenet, base = _lenet_entry(tmp_path, monkeypatch)
    base.with_suffix(".json").write_bytes(b'[{"key": "k"}]' if kind == "list" else BAD[kind])
    with pytest.raises(UserError, match="not a ganbench classifier record") as info:
        lenet.LeNetFeatures({"name": "digits"}, progress=False)
    assert str(info.value).startswith(str(base.with_suffix(".json")))


def test_a_carried_classifier_record_nested_too_deep_is_passed_over(tmp_path, monkeypatch):
    """Records of other torch versions are tried in turn; one nested too deep was a RecursionError traceback."""
    lenet, base = _lenet_entry(tmp_path, monkeypatch)
    base.with_suffix(".safetensors").unlink()
    other = base.with_name(base.name[:-3] + "zzz")
    other.with_suffix(".json").write_bytes(BAD["nesting too deep"])
    other.with_suffix(".safetensors").write_bytes(b"")
    assert lenet._carried({"name": "digits"}, {}) is None
