"""Joining studies (`ganbench study merge`): seeds trained apart equal one study with all of them, variants
studied apart are compared in one report, and whatever one spec cannot hold is refused in one line."""

import html as markup
import json
import os
import shutil
from types import SimpleNamespace

import pytest
import yaml

from ganbench.cli import main
from ganbench.report.sections import _looks_sentence
from ganbench.study.executors import InProcess
from ganbench.study.merge import _history
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec, expand
from ganbench.study.store import Store

from .test_extend import RUN, TINY, _contents

ONE = {**TINY, "grid": {"loss": ["ns"]}, "seeds": [0]}  # one run: the cheapest source


def _study(path, **change):
    run_study(path, StudySpec(**{**ONE, **change}), InProcess(), progress=False)
    return path


def merge(*args):
    return main(["study", "merge", *map(str, args)])


def test_seeds_trained_apart_give_the_study_trained_with_all_of_them(tmp_path, capsys):
    a = _study(tmp_path / "a", name="a", grid=TINY["grid"], seeds=[0])
    b = _study(tmp_path / "b", name="b", grid=TINY["grid"], seeds=[1])
    assert merge(a, b, "--out", tmp_path / "m") == 0
    out = capsys.readouterr().out
    assert "4 finished runs taken, 0 of 4 to train" in out and "wrote " in out
    whole = tmp_path / "whole"
    run_study(whole, StudySpec(**{**TINY, "seeds": 2}), InProcess(), progress=False)
    assert _contents(tmp_path / "m")[:2] == _contents(whole)[:2]  # every result and reference row
    spec = yaml.safe_load((tmp_path / "m" / "spec.yaml").read_text())
    assert (spec["name"], spec["seeds"], spec["grid"]) == ("m", 2, {"loss": ["ns", "hinge"]})
    record, = json.loads((tmp_path / "m" / "results.json").read_text())["extensions"]
    assert record["by"] == "merge" and record["seeds_added_to"] == ["ring8"]
    assert record["sources"] == ["a (2 runs, 2 finished)", "b (2 runs, 2 finished)"]
    html = markup.unescape((tmp_path / "m" / "report.html").read_text())
    # a variant's seeds from two studies: a second look, if b's seeds were chosen after a's results
    assert "Seeds were added to this study after it had results (1, then 2 seeds; merged " in html
    assert "from 2 studies with `ganbench study merge`: a (2 runs, 2 finished); b (2 runs, 2 finished)" in html
    assert main(["study", "resume", str(tmp_path / "m"), *RUN]) == 0  # a study like any other
    assert "0 of 4 runs executed" in capsys.readouterr().out
    assert main(["study", "rebuild", str(tmp_path / "m")]) == 0  # its runs' own files describe it
    assert "4 finished runs recovered, 0 queued" in capsys.readouterr().out


def test_variants_studied_apart_meet_in_one_study_and_the_missing_runs_are_queued(tmp_path, capsys):
    a = _study(tmp_path / "a", name="a")
    assert main(["study", "extend", str(a), "--seeds", "2", *RUN]) == 0  # a's own second look, kept by the merge
    b = _study(tmp_path / "b", name="b", grid={"loss": ["hinge"]})
    capsys.readouterr()
    assert merge(a, b, "--out", tmp_path / "m", "--name", "both", "--link") == 0
    out = capsys.readouterr().out
    assert "3 finished runs taken, 1 of 4 to train" in out and "1 run not in any source: ganbench study resume" in out
    ckpt = next((a / "runs").glob("*s1/checkpoints/*.safetensors"))
    twin = tmp_path / "m" / "runs" / ckpt.parent.parent.name / "checkpoints" / ckpt.name
    assert os.stat(twin).st_ino == os.stat(ckpt).st_ino  # --link: the same file, no copy
    assert main(["study", "report", str(tmp_path / "m")]) == 0  # a first look before the queued run is trained
    assert "seeds per variant: 2 in the spec, 1–2 with results (the rest queued" in markup.unescape((tmp_path / "m" / "report.html").read_text())
    assert main(["study", "resume", str(tmp_path / "m"), *RUN]) == 0
    assert "1 of 4 runs executed" in capsys.readouterr().out  # hinge, seed 1
    extended, merged = json.loads((tmp_path / "m" / "results.json").read_text())["extensions"]
    assert (extended["source"], extended["seeds_before"], extended["seeds_after"]) == ("a", [0], [0, 1])
    # hinge's seed 1 is b's seed 0 plus one trained after its result existed: what `extend` would flag
    assert merged["seeds_added_to"] == ["ring8"] and merged["variants_added"] == ["loss=hinge"]
    html = markup.unescape((tmp_path / "m" / "report.html").read_text())
    assert "seeds per variant: 2 &middot;" in (tmp_path / "m" / "report.html").read_text()  # all finished now
    assert "Seeds were added to study 'a' (merged into this one) after it had results (1, then 2 seeds" in html
    assert "Seeds were added to this study after it had results" in html
    assert "In study 'a', before it was merged: extended on" in html


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    return _study(tmp_path_factory.mktemp("merge") / "first", name="first")


@pytest.mark.parametrize("change, says", [
    ({"eval": {**TINY["eval"], "n": 300}}, "differs from 'first'"),
    ({"base": {**TINY["base"], "lr_g": 0.001}}, "in base.lr_g (None -> 0.001); only studies with the same recipe"),
    ({"datasets": [{"data": {"name": "ring8", "n": 3000}}]}, "dataset 'ring8' is set up differently"),
    ({"grid": {"lr_d": [0.001]}}, "merged grids need the same axes"),
])
def test_studies_one_spec_cannot_hold_are_refused(first, tmp_path, capsys, change, says):
    other = _study(tmp_path / "other", name="other", seeds=[5], **change)
    assert merge(first, other, "--out", tmp_path / "m") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.merging-*"))


def test_a_run_in_two_sources_a_link_and_bad_directories_are_refused(first, tmp_path, capsys):
    twin = tmp_path / "twin"
    shutil.copytree(first, twin)
    assert merge(first, twin, "--out", tmp_path / "m") == 2
    assert "is finished in both" in capsys.readouterr().err  # merging would have to choose one result
    other = _study(tmp_path / "other", name="other", seeds=[1])
    run_dir = other / "runs" / "ring8__loss=ns__s1"
    (run_dir / "notes.txt").symlink_to("/etc/hostname")
    assert merge(first, other, "--out", tmp_path / "m") == 2
    assert "not a plain file or folder" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and not list(tmp_path.glob(".m.merging-*"))  # nothing half-written
    (run_dir / "notes.txt").unlink()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    for args, says in (([first, other, "--out", tmp_path / "full"], "is not empty"),
                       ([first, "--out", tmp_path / "m"], "at least two"),
                       ([first, first, "--out", tmp_path / "m"], "named twice"),
                       ([first, tmp_path / "nowhere", "--out", tmp_path / "m"], "holds no study"),
                       ([first, other, "--out", tmp_path / "m", "--name", "../up"], "plain directory name")):
        assert merge(*args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err
    confirming = tmp_path / "confirming"  # a confirmation study: its spec names the verdicts it re-tests
    shutil.copytree(other, confirming)
    spec = yaml.safe_load((confirming / "spec.yaml").read_text())
    spec["confirms"] = {"study": "origin", "spec_digest": "0" * 16, "budget": {"steps": 40}, "seeds": [0], "verdicts": [
        {"dataset": "ring8", "metric": "fid", "a": "loss=ns", "b": "loss=hinge", "mean_diff": 0.1, "significant": True,
         "n": 3}]}
    (confirming / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert merge(first, confirming, "--out", tmp_path / "m") == 2  # judged against its origin's verdicts
    assert "a confirmation study (it re-tests 'origin')" in capsys.readouterr().err
    (other / "spec.yaml").write_text(yaml.safe_dump({**ONE, "name": "other", "seeds": [1, 2]}))
    assert merge(first, other, "--out", tmp_path / "m") == 2  # a spec.yaml edited by hand
    assert "no longer matches the study's store" in capsys.readouterr().err


def test_published_numbers_are_joined_when_they_cite_one_source():
    """Each source may only publish numbers for its own variants; the merged spec holds them all."""
    from types import SimpleNamespace

    from ganbench.errors import UserError
    from ganbench.study.merge import merged_spec

    spec = {"base": {"batch_size": 16}, "datasets": [{"data": {"name": "ring8", "n": 500}}], "seeds": 2,
            "budget": {"steps": 10}, "eval": {"metrics": ["modes"], "n": 100}}
    ref = {"source": "paper, Table 1", "spread": "se", "n": 10}

    def source(name, variant, values, **head):
        reference = {**ref, **head, "values": {"ring8": {variant: values}}}
        variants = {variant: {"pack": int(variant[-1])}}
        return SimpleNamespace(name=name, spec=StudySpec(**spec, name=name, variants=variants, reference=reference))

    gan, pac = source("gan", "gan1", {"reverse_kl": 0.45}), source("pac", "pac2", {"reverse_kl": 0.07})
    merged = merged_spec([gan, pac], "both")
    assert list(merged.variants) == ["gan1", "pac2"] and merged.seeds == 2
    published = merged.reference.values["ring8"]
    assert {v: m["reverse_kl"].mean for v, m in published.items()} == {"gan1": 0.45, "pac2": 0.07}
    with pytest.raises(UserError, match="cite different sources or spreads"):
        merged_spec([gan, source("pac", "pac2", {"reverse_kl": 0.07}, source="another paper")], "both")
    with pytest.raises(UserError, match="publish different numbers for ring8.gan1.reverse_kl"):
        merged_spec([gan, source("gan2", "gan1", {"reverse_kl": 0.5})], "both")
    with pytest.raises(UserError, match="variant 'gan1' means different settings"):
        twin = source("twin", "gan1", {"reverse_kl": 0.45})
        twin.spec.variants["gan1"] = {"pack": 3}
        merged_spec([gan, twin], "both")


def test_seeds_from_two_sources_of_one_name_still_get_the_caveat(tmp_path, capsys):
    """The same spec run on two machines: both sources are named 'tiny', and are still two looks."""
    a = _study(tmp_path / "a", seeds=[0])
    b = _study(tmp_path / "b", seeds=[1])
    assert merge(a, b, "--out", tmp_path / "m") == 0
    record, = json.loads((tmp_path / "m" / "results.json").read_text())["extensions"]
    assert record["seeds_added_to"] == ["ring8"]
    assert "Seeds were added to this study after it had results" in (tmp_path / "m" / "report.html").read_text()


def test_seeds_the_merge_adds_to_a_variant_with_results_get_the_caveat(tmp_path, capsys):
    """ns on seed 0 and hinge on seed 1: the merged spec gives each the other's seed, trained after its own
    results existed, as `study extend` would (and flags)."""
    a = _study(tmp_path / "a", name="a", seeds=[0])
    b = _study(tmp_path / "b", name="b", grid={"loss": ["hinge"]}, seeds=[1])
    assert merge(a, b, "--out", tmp_path / "m") == 0
    assert "2 of 4 to train" in capsys.readouterr().out
    assert main(["study", "resume", str(tmp_path / "m"), *RUN]) == 0
    record, = json.loads((tmp_path / "m" / "results.json").read_text())["extensions"]
    assert record["seeds_added_to"] == ["ring8"]
    assert "Seeds were added to this study after it had results" in (tmp_path / "m" / "report.html").read_text()


def test_a_source_whose_history_was_lost_keeps_it_unknown_in_the_merge(tmp_path, capsys):
    a = _study(tmp_path / "a", name="a")
    (a / "study.sqlite").unlink()
    assert main(["study", "rebuild", str(a)]) == 0  # no store: whether a grew after a look is unknown
    b = _study(tmp_path / "b", name="b", seeds=[1])
    assert merge(a, b, "--out", tmp_path / "m") == 0
    assert main(["study", "resume", str(tmp_path / "m"), *RUN]) == 0  # a's reference rows were not in its files
    tables = json.loads((tmp_path / "m" / "results.json").read_text())
    assert tables["extensions_unknown"].startswith("a: rebuilt on ") and "study.sqlite (missing)" in tables[
        "extensions_unknown"]
    assert "whether seeds were added after the first results is unknown" in (tmp_path / "m" / "report.html").read_text()


def test_the_merged_study_keeps_the_sources_common_thread_count(tmp_path, capfd, monkeypatch):
    """A merged study's queued runs train with the torch thread count its sources' CPU runs trained with
    (study/threads.py); sources that differ give none, said on stderr, never one of them silently."""
    a = _study(tmp_path / "a", name="a", seeds=[0])
    b = _study(tmp_path / "b", name="b", seeds=[1])
    count = Store(a / "study.sqlite", readonly=True).get_meta("cpu_threads")
    assert count is not None and Store(b / "study.sqlite", readonly=True).get_meta("cpu_threads") == count
    assert merge(a, b, "--out", tmp_path / "m", "--name", "m") == 0
    assert Store(tmp_path / "m" / "study.sqlite", readonly=True).get_meta("cpu_threads") == count
    assert "thread counts" not in capfd.readouterr().err
    other = str(int(count) + 1)
    store = Store(b / "study.sqlite")
    store.set_meta(cpu_threads=other)
    store.close()
    assert merge(a, b, "--out", tmp_path / "n", "--name", "n") == 0
    assert Store(tmp_path / "n" / "study.sqlite", readonly=True).get_meta("cpu_threads") is None
    err = capfd.readouterr().err
    assert f"different torch thread counts ('a' ({a}): {count}, 'b' ({b}): {other})" in err
    # a merge that fails after the counts were compared says only why it failed
    from ganbench.errors import UserError
    from ganbench.study import merge as merge_mod

    def fail(*args):
        raise UserError("the history could not be joined")

    monkeypatch.setattr(merge_mod, "_history", fail)
    assert merge(a, b, "--out", tmp_path / "o", "--name", "o") == 2
    err = capfd.readouterr().err
    assert "the history could not be joined" in err and "thread counts" not in err
    assert not (tmp_path / "o").exists()


class _Source(SimpleNamespace):
    __hash__ = object.__hash__  # _history keys its sources by identity, as merge_studies' Source objects are


def _source(name, loss, seeds):
    spec = StudySpec(**{**ONE, "name": name, "grid": {"loss": [loss]}, "seeds": seeds})
    runs = expand(spec)
    return _Source(spec=spec, runs=runs, extensions=[], finished={r.run_id: None for r in runs})


@pytest.mark.parametrize("ns_seeds, looks", [([0, 1, 2], "2, then 3 seeds"), ([0, 1, 2, 3, 4], "2, then 5 seeds")])
def test_the_caveat_counts_the_seeds_of_the_joined_variant_whatever_the_order_of_the_sources(ns_seeds, looks):
    """ns on 3 (or 5) seeds in a, hinge on seeds 0-1 in b: the merge gives hinge the rest after its results, a look
    at 2 seeds then at all; the sentence named a's count first when a was given first ('3, then 3 seeds')."""
    a, b = _source("a", "ns", ns_seeds), _source("b", "hinge", [0, 1])
    merged = StudySpec(**{**ONE, "name": "m", "grid": {"loss": ["ns", "hinge"]}, "seeds": len(ns_seeds)})
    runs = expand(merged)
    sentences = set()
    for order in ([a, b], [b, a]):
        record = _history(order, merged, runs, {r.run_id: s for s in order for r in s.runs})[-1]
        assert record["seeds_added_to"] == ["ring8"]
        sentences.add(_looks_sentence("", [record]))
    (sentence,) = sentences
    assert f"after it had results ({looks}; merged " in sentence
    tested = looks.replace(", then ", " and ").replace(" seeds", "")
    assert f"run at {tested} seeds finds a difference " in sentence
    assert record["first_look"] == 2  # kept in the store's record (extend.Extension), so a rebuild keeps it


def _source_on(name, dataset, loss, seeds):
    spec = StudySpec(**{**ONE, "name": name, "datasets": [{"data": {"name": dataset, "n": 2000}}],
                        "grid": {"loss": [loss]}, "seeds": seeds})
    runs = expand(spec)
    return _Source(spec=spec, runs=runs, extensions=[], finished={r.run_id: None for r in runs})


def test_each_dataset_s_caveat_counts_its_own_first_look():
    """ring8's hinge came from a source with 1 seed, grid25's from one with 2: ring8's sentence says '1, then 4',
    grid25's '2, then 4' (it said 1 for both: one count, the fewest over the datasets, kept for the merge)."""
    from ganbench.report.html import _of_dataset

    sources = [_source_on("a", "ring8", "ns", [0, 1, 2, 3]), _source_on("b", "ring8", "hinge", [0]),
               _source_on("c", "grid25", "ns", [0, 1, 2, 3]), _source_on("d", "grid25", "hinge", [0, 1])]
    merged = StudySpec(**{**ONE, "name": "m", "datasets": [{"data": {"name": d, "n": 2000}} for d in ("ring8", "grid25")],
                          "grid": {"loss": ["ns", "hinge"]}, "seeds": 4})
    runs = expand(merged)
    record = _history(sources, merged, runs, {r.run_id: s for s in sources for r in s.runs})[-1]
    assert record["seeds_added_to"] == ["grid25", "ring8"]
    assert record["first_looks"] == {"ring8": 1, "grid25": 2} and record["first_look"] == 1
    assert "(1, then 4 seeds; merged " in _looks_sentence("", [_of_dataset(record, "ring8")])
    assert "(2, then 4 seeds; merged " in _looks_sentence("", [_of_dataset(record, "grid25")])
    old = {k: v for k, v in record.items() if k != "first_looks"}  # a merge recorded before per-dataset counts
    sentence = _looks_sentence("", [_of_dataset(old, "grid25")])
    assert "(1, then 4 seeds (the first: the fewest over the merged datasets" in sentence
    from ganbench.study.extend import _records

    assert _records(json.dumps([old]), "store")[0]["first_looks"] == {}  # an old store's record still loads
