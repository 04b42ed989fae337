"""A scaled-down presets/pacgan-2d.yaml end to end (recipe, packs, simultaneous updates, reference block),
and its report's published-numbers tables rendered in headless Chromium."""

import csv
import json
import subprocess

import pytest

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
    with (study / "reference.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and {r["consistent"] for r in rows} <= {"True", "False"}
    html = (study / "report.html").read_text()
    assert html.count('class="reference"') == 2 and html.count("data-consistent=") == 12


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
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []

