"""examples/plugin_example.py, as the README points a newcomer to it: its loss, regularizer, networks,
dataset and metric train, evaluate and go through a study and its report with only ``--plugin``."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench import plugins
from ganbench.cli import main
from ganbench.config import read_yaml
from ganbench.metrics import declare, suite
from ganbench.registry import ALL

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def example(monkeypatch):
    """The example imported afresh into copies of the registries (the other tests see none of it)."""
    for registry in ALL.values():
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    monkeypatch.setattr(suite, "METRICS", dict(suite.METRICS))
    monkeypatch.setattr(declare, "VALUES", dict(declare.VALUES))
    monkeypatch.setattr(plugins, "_imported", [])
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "plugin_example", raising=False)
    yield ["--plugin", "plugin_example"]
    sys.modules.pop("plugin_example", None)


def test_example_plugin_trains_evaluates_and_reports(example, tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*example, "train", "--data", "spiral", "--generator", "silu-mlp", "--discriminator", "silu-mlp",
                 "--loss", "rsgan", "--reg", "drift:weight=0.01", "--steps", "20", "--out", str(run)]) == 0
    assert main([*example, "eval", str(run), "--metrics", "modes,mode_dist", "--n", "200"]) == 0
    text = (run / "eval.json").read_text()
    assert '"mode_dist"' in text and '"modes_covered"' in text
    spec = {"name": "ex", "base": {"generator": "silu-mlp", "discriminator": "silu-mlp", "batch_size": 32},
            "datasets": [{"data": {"name": "spiral", "n": 2000}}],
            "variants": {"rs": {"loss": "rsgan", "regularizers": [{"name": "drift"}]}, "ns": {"loss": "ns"}},
            "seeds": 2, "budget": {"steps": 20}, "eval": {"n": 200, "primary": "mode_dist",
                                                          "metrics": ["modes", "mode_dist"]}}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))  # JSON is YAML
    study = tmp_path / "study"
    assert main([*example, "study", "run", str(tmp_path / "spec.yaml"), "--dir", str(study), "--executor",
                 "inprocess", "--no-progress"]) == 0, capsys.readouterr().err
    rows = [r for r in csv.DictReader((study / "results.csv").open()) if r["metric"] == "mode_dist"]
    assert rows and {(r["direction"], r["kind"], r["unit"]) for r in rows} == {("lower", "quality", "data units")}
    assert not any(float(r["ci_low"]) < 0.0 for r in rows)  # clipped to the declared bound (2 seeds: t = 12.7)
    assert "mode_dist ↓" in (study / "report.html").read_text(encoding="utf-8")  # ranked lower-is-better
    # the study records its --plugin (as train does): read back without it, it names the flag instead of
    # 'unknown metric mode_dist'; a fresh process, since this one imported the plugin already
    assert read_yaml(study / "spec.yaml")["base"]["plugins"] == ["plugin_example"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), *sys.path])}
    for argv in (["study", "report", str(study)], ["eval", str(study / "runs" / os.listdir(study / "runs")[0])]):
        done = subprocess.run([sys.executable, "-m", "ganbench", *argv], env=env, capture_output=True, text=True)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "needs plugin module(s) plugin_example" in done.stderr and "--plugin plugin_example" in done.stderr


def test_a_spec_imports_the_plugins_its_base_lists_before_its_metrics_are_checked(example, tmp_path):
    """A caller's spec with base.plugins may name the plugin's metric in eval.metrics (no --plugin needed)."""
    from ganbench.study.spec import load_spec

    spec = {"name": "ex", "base": {"plugins": ["plugin_example"]}, "datasets": ["spiral"], "seeds": 1,
            "eval": {"metrics": ["mode_dist"]}}
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    assert "plugin_example" not in sys.modules
    assert load_spec(tmp_path / "spec.yaml").eval.metrics == ["mode_dist"]
