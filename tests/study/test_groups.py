"""Studies with runs trained together as member-stacked models give the table they give without."""

import math

from ganbench.config import make_config
from ganbench.study.executors import InProcess
from ganbench.study.groups import plan_groups
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec, expand
from ganbench.study.store import Store

SPEC = {"name": "grp", "base": {"batch_size": 32, "log_every": 20, "generator": {"name": "mlp", "hidden": 32},
                                "discriminator": {"name": "mlp", "hidden": 32}, "device": "cpu"},
        "datasets": [{"data": {"name": "ring8", "n": 2000}}],
        "grid": {"loss": ["ns", "hinge"], "lr_d": [2e-4, 1e-4]}, "seeds": 2,
        "budget": {"steps": 40}, "eval": {"n": 200, "every": 20, "metrics": ["modes", "wasserstein"]}}


def test_groups_follow_network_shapes_and_size_limit():
    runs = expand(StudySpec(**SPEC))
    groups = plan_groups(runs, "on", 16)
    # loss differs between groups; seeds and lr_d vary inside them
    assert sorted(len(g) for g in groups) == [4, 4]
    assert all(len({make_config(r.config).loss["name"] for r in g}) == 1 for g in groups)
    assert sorted(len(g) for g in plan_groups(runs, "on", 3)) == [1, 1, 3, 3]
    assert all(len(g) == 1 for g in plan_groups(runs, "off", 16))
    assert all(len(g) == 1 for g in plan_groups(runs, "auto", 16))  # CPU: auto does not group


def test_grouped_study_gives_the_same_table(tmp_path):
    """Same statuses and steps; metric values within 1e-3 relative (float32 stacks round differently:
    weights agree to ~1e-6, and the metrics are smooth in them at this sample size)."""
    spec = StudySpec(**SPEC)
    run_study(tmp_path / "alone", spec, InProcess(), progress=False, ensemble=("off", 16))
    run_study(tmp_path / "together", spec, InProcess(), progress=False, ensemble=("on", 16))
    a, b = Store(tmp_path / "alone" / "study.sqlite"), Store(tmp_path / "together" / "study.sqlite")
    ta, tb = a.results_table(), b.results_table()
    assert len(ta) == len(tb) > 8
    for x, y in zip(ta, tb):
        assert x[:-1] == y[:-1]
        if isinstance(x[-1], float) and isinstance(y[-1], float):
            assert math.isclose(x[-1], y[-1], rel_tol=1e-3, abs_tol=1e-3), (x, y)
        else:
            assert x[-1] == y[-1]
    together = {r["run_id"]: r["trained_with"] for r in b.runs()}
    assert all(len(v) == 4 and k in v for k, v in together.items())
    assert all(r["trained_with"] is None for r in a.runs())
