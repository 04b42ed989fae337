"""examples/plugin_example.py, as the README points a newcomer to it: its loss, regularizer, networks,
dataset and metric train, evaluate and go through a study and its report with only ``--plugin``."""

import csv
import json
import sys
from pathlib import Path

import pytest

from ganbench import plugins
from ganbench.cli import main
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
