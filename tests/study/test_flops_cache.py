"""The per-step FLOPs a study's runs share live in the user's cache, checked, never in the study directory
(a stranger's study held runs/.flops/KEY.json, trusted as it was: a forged one set the report's costs)."""

import json

from ganbench.cache import cache_dir
from ganbench.config import make_config
from ganbench.study import worker
from ganbench.training import flops


def test_flops_are_measured_once_cached_checked_and_measured_again_when_damaged(monkeypatch, tmp_path):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    cfg = make_config({"data": {"name": "ring8"}, "generator": {"name": "mlp", "hidden": 8, "depth": 1},
                       "discriminator": {"name": "mlp", "hidden": 8, "depth": 1}, "seed": 3})
    calls, measure = [], flops.step_flops
    monkeypatch.setattr(flops, "step_flops", lambda c: calls.append(c.seed) or measure(c))
    first = worker._training_flops(cfg, 10)
    assert calls == [3] and first["train_flops"] == measure(cfg).total(10) > 0
    assert worker._training_flops(cfg.model_copy(update={"seed": 4}), 10) == first  # seeds share it
    assert calls == [3]
    entries = list(cache_dir("flops").glob("*.json"))
    assert len(entries) == 1
    for damaged in ('{"pattern": [], "phases": {}}', '{"pattern": [-1e30], "phases": {"d": 1}}', "not json",
                    '{"pattern": ["1"], "phases": {"d": 1}}'):
        entries[-1].write_text(damaged)
        assert worker._training_flops(cfg, 10) == first
    assert calls == [3] * 5
    assert json.loads(entries[-1].read_text())["pattern"]  # rewritten whole
