"""A scaled-down presets/pacgan-2d.yaml end to end (recipe, packs, simultaneous updates, reference block),
and its report's published-numbers tables rendered in headless Chromium."""

import csv
import html as htmllib
import json
import shutil
import subprocess

import pytest
import yaml

from ganbench.report.html import build_report
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import Budget, expand, load_spec

from .test_chromium import CHROMIUM, FLAGS

VARIANTS = ("gan", "pacgan2")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    spec = load_spec("presets/pacgan-2d.yaml")
    ref = spec.reference.model_copy(update={"values": {
        ds: {v: m for v, m in by_variant.items() if v in VARIANTS} for ds, by_variant in spec.reference.values.items()}})
    # the preset's recipe and protocol as they are; in CI time: fewer points, variants, seeds and steps
    datasets = [{"data": {**entry["data"], "n": 5000}} for entry in spec.datasets]
    small = spec.model_copy(update={
        "name": "pacgan-2d-ci", "datasets": datasets, "variants": {v: spec.variants[v] for v in VARIANTS},
        "seeds": [0, 1], "budget": Budget(steps=6), "eval": spec.eval.model_copy(update={"every": 3, "n": 200}),
        "reference": ref})
    runs = expand(small)
    assert {r.config["update"] for r in runs} == {"simultaneous"} and runs[0].config["batch_unit"] == "packs"
    root = tmp_path_factory.mktemp("pacgan") / "s"
    run_study(root, small, InProcess(), progress=False)
    build_report(root)
    return root


def test_pacgan_2d_study_end_to_end_carries_the_reference(study):
    results = json.loads((study / "results.json").read_text())
    assert {r["status"] for r in results["runs"]} == {"done"} and len(results["runs"]) == 2 * 2 * 2
    ref = results["reference"]
    assert len(ref) == 2 * 2 * 3  # datasets x variants x (modes_covered, high_quality, reverse_kl)
    assert all(r["ours_n"] == 2 and r["consistent"] in (True, False) for r in ref)
    gan = next(r for r in ref if (r["dataset"], r["variant"], r["metric"]) == ("grid25", "gan", "modes_covered"))
    assert gan["published_mean"] == 17.3 and gan["published_spread"] == 0.8 and gan["spread_kind"] == "se"
    # the preset's reference states the paper's 400,000 steps; these runs trained 6 of them, with 2 seeds of 10
    assert all((r["budget_unit"], r["published_budget"], r["ours_budget"]) == ("steps", 400000, 6) for r in ref)
    with (study / "reference.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["consistent"] for r in rows} <= {"True", "False"}
    assert {(r["budget_unit"], r["published_budget"], r["ours_budget"]) for r in rows} == {("steps", "400000", "6")}
    html = (study / "report.html").read_text()
    assert html.count('class="reference"') == 2 and html.count("data-consistent=") == 12
    text = htmllib.unescape(html)
    assert text.count("These runs trained 6 steps, 0.0015 % of the 400,000 steps behind the published numbers: "
                      "a ✗ may be the budget, and a ✓ does not show the paper's result holds at its budget.") == 2
    assert text.count("These runs have 2 seeds per variant, fewer than the 10 runs behind each published") == 2
    assert "(se, n=10, 400,000 steps)" in text and "n=2, 6 steps)" in text  # each side's training, per cell


@pytest.mark.parametrize("budget, n, says, warns, in_csv", [
    ({"steps": 6}, 2, "These runs trained 6 steps each, as the published numbers did.", False, ("6", "6")),
    ({"steps": 3}, 2, "These runs trained 6 steps, 200 % of the 3 steps behind the published numbers: "
                      "the marks compare runs of different lengths.", True, ("3", "6")),
    (None, 2, "The training budget behind the published numbers is not stated (reference.budget), so whether "
              "these runs trained as long is unknown.", False, ("", "")),
    ({"seconds": 60}, 2, "The published numbers come from 60 s per run; these runs were budgeted in another unit",
     True, ("60.0", "")),  # step-budgeted runs have no time to compare
    ({"steps": 6}, 5, "These runs have 2 seeds per variant, fewer than the 5 runs behind each published", True,
     ("6", "6")),
])
def test_reference_section_says_how_our_budget_and_seeds_compare(study, tmp_path, budget, n, says, warns, in_csv):
    """The reference is not part of the study's identity, so it is edited in place and the report rebuilt."""
    copy = tmp_path / "s"
    shutil.copytree(study, copy)
    tree = yaml.safe_load((copy / "spec.yaml").read_text())
    tree["reference"].pop("budget")
    tree["reference"].update({"n": n, **({"budget": budget} if budget else {})})
    (copy / "spec.yaml").write_text(yaml.safe_dump(tree, sort_keys=False))
    build_report(copy)
    text = htmllib.unescape((copy / "report.html").read_text())
    assert text.count(says) == 2  # once per dataset
    assert ("fewer than the" in text) == (n > 2)
    scope = text.split('<div class="scope">')[1].split("</div>")[0]
    assert ('<p class="warn">' in scope) == warns
    with (copy / "reference.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {(r["published_budget"], r["ours_budget"]) for r in rows} == {in_csv}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_reference_tables_render_with_marks_in_headless_chromium(study, tmp_path):
    report = study / "report.html"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           report.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert dom.count('<table class="reference"') == 2
    marks = dom.count('<td class="mark">✓</td>') + dom.count('<td class="mark">✗</td>')
    assert marks == 12  # every published number judged
    assert "Published numbers (final checkpoint)" in dom and "t(0.975, n−1)" in dom
    assert dom.count('<div class="scope">') == 2 and "0.0015 % of the 400,000 steps" in dom
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []



def test_results_json_carries_the_reference_rows_and_the_still_improving_flags_the_leaderboard_shows(study):
    import math

    import numpy as np
    from scipy import stats

    results = json.loads((study / "results.json").read_text())
    groups = {}
    for c in results["calibration"]:
        if c["value"] is not None:
            groups.setdefault((c["dataset"], c["row"], c["checkpoint"], c["metric"]), []).append(c["value"])
    rows = {(r["dataset"], r["row"], r["checkpoint"], r["metric"]): r for r in results["reference_rows"]}
    assert set(rows) == set(groups) and any(k[1] == "real data" for k in rows)
    for key, values in groups.items():
        x = np.array(values)
        assert rows[key]["n"] == len(x) and rows[key]["mean"] == pytest.approx(x.mean(), rel=1e-12, abs=1e-15)
        if len(x) >= 2 and x.std(ddof=1) > 0 and not rows[key]["clipped"]:
            half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
            assert rows[key]["ci_high"] - rows[key]["mean"] == pytest.approx(half, rel=1e-9)
    assert set(results["still_improving"]) == {r["run_id"] for r in results["runs"]}
    assert set(results["still_improving"].values()) <= {True, False, None}


def test_results_csv_carries_the_reference_rows_beside_the_variants(study):
    """A number without its floor and ceiling is not a result: results.csv has them too, marked by `row`."""
    with (study / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    results = json.loads((study / "results.json").read_text())
    assert [r for r in rows if r["row"] == "variant"] and len(rows) == len(results["leaderboard"]) + len(
        results["reference_rows"])
    kinds = {r["variant"]: r["row"] for r in rows if r["row"] != "variant"}
    assert kinds == {"real data": "ceiling", "trivial: Gaussian fit": "trivial generator",
                     "trivial: uniform box": "trivial generator"}
    for ref in results["reference_rows"]:
        (line,) = [r for r in rows if (r["dataset"], r["variant"], r["checkpoint"], r["metric"])
                   == (ref["dataset"], ref["row"], ref["checkpoint"], ref["metric"])]
        assert line["rank"] == "" and float(line["mean"]) == pytest.approx(ref["mean"], rel=1e-12, abs=1e-300)


def test_our_side_shows_every_seed_instead_of_a_zero_width_interval():
    """Three seeds that all covered 8 modes have no interval (stats.mean_ci): the row says so, not [8, 8]."""
    from types import SimpleNamespace

    from ganbench.report.reference_table import _cells
    from ganbench.study.reference import reference_rows
    from ganbench.study.stats import mean_ci

    spec = load_spec("presets/pacgan-2d.yaml")
    board = [{"dataset": "ring8", "variant": "pacgan2", "metric": "modes_covered", "checkpoint": "final",
              **mean_ci([8.0, 8.0, 8.0])},
             {"dataset": "ring8", "variant": "gan", "metric": "modes_covered", "checkpoint": "final",
              **mean_ci([8.0, 5.0, 7.0])}]
    rows = {r["variant"]: r for r in reference_rows(spec.reference, board, "ring8") if r["metric"] == "modes_covered"}
    shown = {v: _cells({**r, "published_budget": None, "ours_budget": None, "budget_unit": ""},
                      SimpleNamespace(reference=spec.reference))
             for v, r in rows.items()}
    assert shown["pacgan2"]["ours"] == "8 (every seed, n=3)"
    assert shown["gan"]["ours"].startswith("6.667 [") and "every seed" not in shown["gan"]["ours"]


def test_the_same_store_reported_twice_in_other_time_zones_gives_the_same_files(study, tmp_path, monkeypatch):
    """A report is a function of its store: it used to stamp its own local time ("generated ..."), so no two
    renderings of one study matched. It states the store's newest finish in UTC, and the thread count."""
    import time

    from ganbench.study.store import Store

    written = {}
    for zone in ("UTC0", "JST-9"):  # POSIX zones, no tz database needed
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        build_report(study, out=tmp_path / zone)
        written[zone] = {p.name: p.read_bytes() for p in sorted((tmp_path / zone).iterdir())}
    monkeypatch.delenv("TZ")
    time.tzset()
    assert set(written["UTC0"]) >= {"report.html", "results.csv", "results.json", "reference.csv"}
    assert written["UTC0"] == written["JST-9"]
    finished = max(r["finished"] for r in Store(study / "study.sqlite").runs())
    text = written["UTC0"]["report.html"].decode()
    assert f"last run finished {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(finished))}" in text
    threads = Store(study / "study.sqlite").get_meta("cpu_threads")
    assert f"CPU runs trained and evaluated with {threads} torch thread" in text
