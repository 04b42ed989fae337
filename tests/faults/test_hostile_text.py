"""Fault family: text from a stranger's files on the terminal. A run or study directory, a data folder or a
store may hold names and messages with escape sequences, carriage returns, bidi overrides, NULs, or be
100,000 characters long; none of it reaches stdout or stderr raw (textsafe.py), and the errors stay one
line with exit code 2."""

import json

import pytest
import yaml

from ganbench.textsafe import LINE_LIMIT, lines, one_line, shown

from .conftest import cli, refused

# what a hostile file may hold: retitle the terminal, clear it, colour it, overwrite a line, reorder text, NUL
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rfake\u202eevil\u2066x\u2069\x00\x9b2J\u2028end"
LONG = "n" * 100_000


def clean(text: str) -> None:
    """Nothing in ``text`` drives a terminal or reorders what it shows."""
    for bad in ("\x1b", "\r", "\x00", "\x07", "\x9b", "\u202e", "\u2066", "\u2069", "\u2028"):
        assert bad not in text, (bad, text[:300])


def test_the_helpers_make_any_text_printable_and_bounded():
    for f in (shown, one_line, lines):
        clean(f(HOSTILE))
    assert one_line("a\nb\r\nc") == "a b c"  # no fake line of its own
    assert lines("plan\n  row\x1b[2J") == "plan\n  row?[2J"  # indentation and real line breaks kept
    long = one_line(LONG + " hint: do this")
    assert len(long) <= LINE_LIMIT and long.endswith("hint: do this") and "characters cut" in long
    assert shown("café ✖ ▽") == "café ✖ ▽"  # printable text is left as it is
    assert len(shown(LONG)) == 160


def _config(run, **fields):
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.update(fields)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    for sidecar in (run / "checkpoints").glob("step_*.json"):
        record = json.loads(sidecar.read_text())
        record["config"].update(fields)
        sidecar.write_text(json.dumps(record))


@pytest.mark.parametrize("value", [HOSTILE, LONG + HOSTILE], ids=["escapes", "100k"])
@pytest.mark.parametrize("command", ["sample", "eval"])
def test_a_run_whose_config_names_a_hostile_dataset_is_one_clean_line(capsys, run, tmp_path, value, command):
    _config(run, data={"name": value})
    extra = ["--out", tmp_path / "s.png"] if command == "sample" else ["--n", "50"]
    line = refused(capsys, command, run, *extra)
    clean(line)
    assert len(line) <= LINE_LIMIT + 20


def test_a_hostile_sidecar_value_is_one_clean_line(capsys, run, tmp_path):
    for sidecar in (run / "checkpoints").glob("step_*.json"):
        record = json.loads(sidecar.read_text())
        record["num_classes"] = HOSTILE
        sidecar.write_text(json.dumps(record))
    clean(refused(capsys, "sample", run, "--out", tmp_path / "s.npz", says="class count"))
