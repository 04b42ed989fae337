"""Fault family: text from a stranger's files on the terminal. A run or study directory, a data folder or a
store may hold names and messages with escape sequences, carriage returns, bidi overrides, NULs, or be
100,000 characters long; none of it reaches stdout or stderr raw (textsafe.py), and the errors stay one
line with exit code 2."""

import json
import warnings

import numpy as np
import pytest
import yaml

from ganbench.textsafe import LINE_LIMIT, as_line, one_line, shown

from .conftest import cli, refused

# what a hostile file may hold: retitle the terminal, clear it, colour it, overwrite a line, reorder text, NUL
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rfake\u202eevil\u2066x\u2069\x00\x9b2J\u2028end"
LONG = "n" * 100_000


def clean(text: str) -> None:
    """Nothing in ``text`` drives a terminal or reorders what it shows."""
    for bad in ("\x1b", "\r", "\x00", "\x07", "\x9b", "\u202e", "\u2066", "\u2069", "\u2028"):
        assert bad not in text, (bad, text[:300])


def test_the_helpers_make_any_text_printable_and_bounded():
    for f in (shown, one_line, as_line):
        clean(f(HOSTILE))
    assert one_line("a\nb\r\nc") == "a b c"  # no fake line of its own
    assert as_line("  row\x1b[2J\nfake") == "  row?[2J?fake"  # indentation kept, no line of its own
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


def test_a_hostile_array_name_in_an_npz_is_said_bounded(capsys, tmp_path):
    """`metrics` names the array it took from an .npz without 'x': a 60,000-character name with escapes."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", **{"L" * 60_000 + HOSTILE: rng.normal(size=(200, 2)).astype(np.float32)})
    np.savez(tmp_path / "f.npz", x=rng.normal(size=(200, 2)).astype(np.float32))
    code, out, err = cli(capsys, "metrics", "--real", tmp_path / "r.npz", "--fake", tmp_path / "f.npz",
                         "--metrics", "wasserstein")
    assert code == 0, err
    clean(out + err)
    notice = [ln for ln in err.splitlines() if "has no array 'x'" in ln]
    assert len(notice) == 1 and len(notice[0]) <= LINE_LIMIT, len(err)


def test_a_data_folder_with_a_hostile_file_name_is_one_clean_line(capsys, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / f"a{HOSTILE.replace(chr(0), '')}.png").write_bytes(b"not an image")
    line = refused(capsys, "metrics", "--real", folder, "--fake", folder, says="not a readable image")
    clean(line)


def _grid_spec(tmp_path, hostile_name: str):
    """q.yaml: a 2-variant spec whose grid is over two .npz data paths, the second named ``hostile_name``."""
    rng = np.random.default_rng(0)
    plain, hostile = tmp_path / "f.npz", tmp_path / hostile_name
    for path in (plain, hostile):
        np.savez(path, x=rng.normal(size=(300, 2)).astype(np.float32))
    spec = {"name": "q", "datasets": [{"data": {"name": "npz", "path": str(plain)}}],
            "grid": {"data.path": [str(plain), str(hostile)]}, "seeds": 1, "budget": {"steps": 4},
            "base": {"batch_size": 8, "generator": {"name": "mlp", "hidden": 8},
                     "discriminator": {"name": "mlp", "hidden": 8}},
            "eval": {"n": 50, "metrics": ["wasserstein"]}}
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(spec))
    return plain, hostile


def test_a_study_whose_grid_values_hold_escapes_prints_them_harmlessly(capsys, tmp_path):
    """Study, variant and dataset names are restricted at load (spec.py, registry.py); a grid value is not
    (here a data path), and it becomes part of the variant's name and run ids: the runner's lines and the
    report's plotting warnings (matplotlib names a glyph it cannot draw) print it."""
    plain, hostile = _grid_spec(tmp_path, f"p{HOSTILE.replace(chr(0), '')}.npz")
    code, out, err = cli(capsys, "study", "run", tmp_path / "q.yaml", "--dir", tmp_path / "s", "--executor",
                         "inprocess")  # with the progress bar: its own "\r" is tqdm's, the rest must be clean
    assert code == 0, err
    clean((out + err).replace("\r", ""))
    assert "done npz__data.path=" in out and "p?]0;pwned" in out  # the line is there, defused
    with warnings.catch_warnings():  # shown as a user sees them, whatever pytest's -W says
        warnings.simplefilter("always")
        code, out, err = cli(capsys, "study", "report", tmp_path / "s", "--data-path", plain, "--data-path", hostile)
    assert code == 0, err
    clean(out + err)
    assert "Glyph 27 (?) missing" in err  # matplotlib's warning, its message defused


@pytest.mark.parametrize("spec", [{"name": "p\n"}, {"name": "p", "variants": {"a\n": {}}}], ids=["name", "variant"])
def test_a_name_with_a_trailing_line_break_is_refused(capsys, tmp_path, spec):
    """The patterns that restrict study and variant names to a safe charset ended in '$', which also
    matches before a final line break: 'p\\n' passed as a study name and named a directory."""
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**spec, "seeds": 1, "budget": {"steps": 4}}))
    clean(refused(capsys, "study", "plan", tmp_path / "s.yaml", "--no-probe", says="name"))


def test_a_merged_study_name_with_a_trailing_line_break_is_refused(capsys, tiny_study, tmp_path):
    import shutil

    other = shutil.copytree(tiny_study, tmp_path / "b")
    clean(refused(capsys, "study", "merge", tiny_study, other, "--out", tmp_path / "m", "--name", "m\n",
                  says="plain directory name"))


def test_a_carried_classifier_cache_with_a_hostile_record_is_printed_clean(capsys, tmp_path, monkeypatch):
    """`data prepare` prints the torch version a cached LeNet records; the cache may come from another
    machine (GANBENCH_CACHE carried over), so its record is a stranger's text."""
    from ganbench.metrics.features import lenet, memo

    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(lenet, "_epochs", lambda n: 1)
    code, _, err = cli(capsys, "data", "prepare", "digits")
    assert code == 0, err
    metas = [p for p in tmp_path.rglob("*.json") if "torch" in json.loads(p.read_text())]
    assert len(metas) == 1, list(tmp_path.rglob("*"))
    meta = json.loads(metas[0].read_text())
    metas[0].write_text(json.dumps({**meta, "torch": LONG + HOSTILE}))
    memo.forget()  # read the cache again, as another process (another machine) would
    code, out, err = cli(capsys, "data", "prepare", "digits")
    assert code == 0, err
    clean(out + err)
    assert "trained with torch nnn" in out and len(out) <= LINE_LIMIT + 1


def test_study_plan_prints_a_hostile_grid_value_on_its_own_line_defused(capsys, tmp_path):
    """`study plan` names each recipe it probes; a grid value (a data path here) may hold escapes and a
    line break, which must not start a line of its own."""
    _grid_spec(tmp_path, "p\nFAKE LINE\x1b[2J\u202e.npz")
    code, out, err = cli(capsys, "study", "plan", tmp_path / "q.yaml", "--probe-steps", "1", "--workers", "1")
    assert code == 0, err
    clean(out + err)
    assert "p?FAKE LINE?[2J?.npz" in out and not any(ln.startswith("FAKE") for ln in (out + err).splitlines())
