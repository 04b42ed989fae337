"""The study report opened in headless Chromium (Debian's `chromium` package): it renders, shows the
leaderboard, and logs no console errors. Skipped where Chromium is not installed."""

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


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    spec = StudySpec(name="browser", base={"batch_size": 32, "generator": {"name": "mlp", "hidden": 32},
                                           "discriminator": {"name": "mlp", "hidden": 32}},
                     datasets=[{"data": {"name": "grid25", "n": 2000}}, {"data": "digits", "generator":
                               {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8}}],
                     variants={"ns": {"loss": "ns"}, "hinge": {"loss": "hinge"}}, seeds=2, budget={"steps": 40},
                     eval={"n": 200, "every": 20, "metrics": ["fid", "prdc"]})
    run_study(root / "s", spec, InProcess(), progress=False)
    build_report(root / "s")
    return root / "s" / "report.html"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           report.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert dom.count('class="leaderboard"') == 2  # one per dataset
    assert "<td class=\"l\">ns</td>" in dom and "<td class=\"l\">hinge</td>" in dom
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    shot = tmp_path / "report.png"
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", f"--screenshot={shot}",
                           "--window-size=1200,2000", report.as_uri()], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0 and shot.stat().st_size > 10_000  # something was drawn
