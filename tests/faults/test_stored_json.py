"""Fault family: stored JSON that is no JSON as ganbench writes it. Every file or column ganbench reads JSON from
(status.json, eval.json, result.json, checkpoint sidecars, metrics.jsonl lines, the study store's JSON columns
and extensions record, the classifier and FLOPs caches) goes through one parser (confine.parse_json, and
confine.json_row for a log line), so each kind of bad input has one outcome: the site's "not valid" answer
(one line naming the file or row, an empty status, no saved result, a skipped line), never a traceback and
never a silently chosen value. NaN and Infinity are read as floats: ganbench's own json.dumps writes them."""

import json
import math

import pytest

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
