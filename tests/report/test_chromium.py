"""The study report opened in headless Chromium (Debian's `chromium` package) at two widths: it renders
with no console errors, shows the calibration rows, the convergence column, power sentences, collapsed and
floor-level runs with the failures, intervals inside the metrics' bounds, and its tables scroll inside themselves
instead of widening the page. Skipped where Chromium is not installed."""

import json
import re
import shutil
import subprocess

import pytest

from ganbench.report.html import build_report
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    spec = StudySpec(name="browser", base={"batch_size": 32, "generator": {"name": "mlp", "hidden": 32},
                                           "discriminator": {"name": "mlp", "hidden": 32}},
                     datasets=[{"data": {"name": "grid25", "n": 2000}}, {"data": "digits", "generator":
                               {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8}}],
                     variants={"ns": {"loss": "ns"}, "hinge": {"loss": "hinge"}}, seeds=2, budget={"steps": 40},
                     eval={"n": 200, "every": 10, "metrics": ["fid", "prdc"]})
    run_study(root / "s", spec, InProcess(), progress=False)
    build_report(root / "s")
    return root / "s" / "report.html"


def _dom(report, tmp_path, width):
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / f'p{width}'}", f"--window-size={width},3000",
                           "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    return proc.stdout


def test_report_content(report):
    html = report.read_text()
    assert html.count('class="leaderboard"') == 2  # one per dataset
    for row in ("real data (ceiling)", "trivial: Gaussian fit", "trivial: uniform box", "still improving"):
        assert row in html
    assert "could only have detected a difference of" in html  # a power sentence
    assert re.search(r"at every one of the \d+ evaluations|has been ahead of \S+ since step|only at the final ev", html)
    assert "<td class=\"l\">not better than trivial</td>" in html and "is not better than a trivial generator" in html
    assert "No variant is better than a trivial generator" in html
    assert "All " in html and "paired comparisons" in html and "<details>" in html
    assert "Bottom line." in html and "Across 2 datasets" in html
    for what in ("36 images", "1500 points"):  # each dataset's samples open with its real data, at the variants' size
        assert html.count(f'<div class="strips"><figure class="real"><figcaption>real data: {what} of the train split '
                          "(the final evaluations&#39; reference), drawn with seed 0</figcaption><img alt=\"real data\"") == 1
    results = json.loads((report.parent / "results.json").read_text())
    floors = results["floor"]
    assert {h["dataset"] for h in results["order_held"]} == {"digits", "grid25"}
    assert all(h["evaluations"] == 4 and 0 <= h["evaluations_ahead"] <= 4 for h in results["order_held"])
    assert all(isinstance(h["second_evaluation_difference"], float) for h in results["order_held"])
    assert "A second evaluation of the same 2 pairs of checkpoints, with other samples," in html
    assert [f["dataset"] for f in floors] == ["digits", "grid25"]
    assert all(f["state"] in ("clear", "elsewhere", "noise") and f["primary"] in f["metrics"] for f in floors)
    for low, high in re.findall(r"\[(-?[\d.e+-]+), (-?[\d.e+-]+)\]", html):  # no interval leaves [0, 1] on HQ etc.
        assert float(low) <= float(high)


@needs_chromium
@pytest.mark.parametrize("width", [900, 1400])
def test_report_renders_at_two_widths_without_page_overflow(report, tmp_path, width):
    dom = _dom(report, tmp_path, width)
    assert dom.count('class="leaderboard"') == 2
    shot = tmp_path / f"report{width}.png"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / f'q{width}'}", f"--screenshot={shot}",
                           f"--window-size={width},2000", report.as_uri()], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0 and shot.stat().st_size > 10_000  # something was drawn


def test_every_table_scrolls_inside_itself_and_names_do_not_wrap(report):
    html = report.read_text()
    assert html.count("<table") == html.count('<div class="scroll"><table')
    assert ".scroll{overflow-x:auto" in html and "white-space:nowrap" in html
