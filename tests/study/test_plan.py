"""`ganbench study plan`: the checks of `study run`, the runs, the verdicts' reach, and an estimate from a
probe of each recipe, with nothing written outside a temporary folder."""

import json
import math

import pytest
import yaml

from ganbench.cli import main
from ganbench.study.plan import _estimate, _per_run, duration
from ganbench.study.power import min_detectable

from .test_runner import TINY

SPEC = {**TINY, "budget": {"steps": 120}, "eval": {"n": 200, "every": 40, "metrics": ["modes"],
                                                   "primary": {"ring8": "reverse_kl"}}}  # per dataset, as run has it


class _Run:
    def __init__(self, **config):
        self.config = {"steps": 1000, "ckpt_every": 100, **config}


def test_the_arithmetic_of_one_run():
    cost = {"s_per_step": 0.01, "s_per_eval": 2.0, "checkpoint_bytes": 1000}
    r = _per_run([_Run(), _Run()], cost)
    assert (r["runs"], r["steps"], r["train_s"], r["evaluations"]) == (2, 1000, 10.0, 12)  # 10 checkpoints + 2
    assert r["eval_s"] == 24.0 and r["disk_bytes"] == 10_000
    capped = _per_run([_Run(time_budget_s=4.0, keep_checkpoints=2)], cost)
    assert capped["train_s"] == 4.0 and capped["steps"] == 400 and capped["evaluations"] == 6
    assert capped["disk_bytes"] == 2000  # keep_checkpoints: only the newest 2 stay
    plan = {"recipes": [{"dataset": "a", "variant": "x", **r}, {"dataset": "a", "variant": "y", **capped}],
            "reference_s_per_seed": {"a": 3.0}, "workers": 2}
    e = _estimate(plan, n_seeds=3)
    assert e["work_s"] == 2 * (10 + 24) + (4 + 12) + 9 and e["wall_s"] == e["work_s"] / 2
    assert _estimate({**plan, "workers": 100}, 3)["wall_s"] == 34.0  # never below the longest run
    assert duration(3725) == "1 h 02 min" and duration(65) == "1 min 05 s"


def test_plan_probes_every_recipe_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPEC))
    assert main(["study", "plan", "s.yaml", "--probe-steps", "5", "--workers", "2", "--out", "plan.json"]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "s.yaml"]  # no study, no run
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["runs"] == 4 and [r["variant"] for r in plan["recipes"]] == ["loss=hinge", "loss=ns"]
    for r in plan["recipes"]:
        assert r["s_per_step"] > 0 and r["s_per_eval"] > 0 and r["evaluations"] == 3 + 2
        assert 10_000 < r["checkpoint_bytes"] < 10_000_000 and r["train_s"] == pytest.approx(120 * r["s_per_step"])
    assert plan["estimate"]["work_s"] == pytest.approx(
        sum(r["runs"] * (r["train_s"] + r["eval_s"]) for r in plan["recipes"])
        + 2 * plan["reference_s_per_seed"]["ring8"])
    assert plan["detectable_in_sd"] == pytest.approx(min_detectable(2, 1.0, 0.05))
    assert plan["detectable_by_seeds"]["10"] == pytest.approx(min_detectable(10, 1.0, 0.05))  # one pair: no Holm
    assert plan["primary"] == {"ring8": "reverse_kl"}
    assert "checks passed" in out and "estimate:" in out and "loss=hinge" in out and "with 2 worker(s)" in out


def test_plan_without_probe_and_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**SPEC, "seeds": 1}))
    assert main(["study", "plan", "s.yaml", "--no-probe"]) == 0
    out = capsys.readouterr().out
    assert "estimate" not in out and "no paired test is possible with one seed" in out
    for bad, says in ((["--probe-steps", "0"], "--probe-steps must be at least 1"),
                      (["--out", "plan.txt"], "name a .json file"), (["--workers", "0"], "--workers must be")):
        assert main(["study", "plan", "s.yaml", *bad]) == 2
        assert says in capsys.readouterr().err
    small = {**SPEC, "datasets": [{"data": {"name": "ring8", "n": 5}}], "eval": {"n": 200, "every": 40, "metrics": ["prdc"]}}
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(small))
    assert main(["study", "plan", "small.yaml", "--no-probe"]) == 2  # the check `study run` makes first
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "prdc" in err
    assert not math.isnan(min_detectable(3, 1.0, 0.01))


def test_plan_states_the_reach_of_the_report_s_own_holm_family(tmp_path, monkeypatch, capsys):
    """The report tests every pair of variants, Holm over all k(k-1)/2 of them (stats.summarize): the plan's
    reach is at that level, not at the k-1 comparisons with the leader (3 variants: 3 pairs, not 2)."""
    from ganbench.study.stats import summarize

    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**SPEC, "seeds": 3, "grid": {"loss": ["ns", "hinge", "lsgan"]}}))
    assert main(["study", "plan", "s.yaml", "--no-probe", "--out", "plan.json"]) == 0
    plan = json.loads((tmp_path / "plan.json").read_text())
    evals = [{"dataset": "ring8", "metric": "high_quality", "variant": v, "seed": s, "tags": ["final"],
              "value": 0.1 * i + 0.01 * s * (i + 1)} for i, v in enumerate(("a", "b", "c")) for s in range(3)]
    tested = {p["pairs_tested"] for p in summarize(evals, ("final",))["pairs"]}
    assert tested == {3} and plan["comparisons_per_dataset"] == 3
    assert plan["detectable_in_sd"] == pytest.approx(min_detectable(3, 1.0, 0.05 / 3))
    assert "Holm over 3 pair(s) of variants" in capsys.readouterr().out


def test_stacked_groups_are_tasks_that_train_at_the_stack_s_member_step():
    """A stacked group is one task, and its members train at the stack's measured seconds per member-step,
    not at the single run's: on a GPU a stack of k costs about one run, and the plan must not say k."""
    cost = {"s_per_step": 0.01, "s_per_eval": 2.0, "checkpoint_bytes": 1000}
    r = {"dataset": "d", "variant": "a", **_per_run([_Run(), _Run(), _Run()], cost)}
    plan = {"recipes": [r], "reference_s_per_seed": {"d": 0.0}, "workers": 2,
            "tasks": [[["d", "a"], ["d", "a"]], [["d", "a"]]],
            "stacks": [{"members": [["d", "a"], ["d", "a"]], "s_per_member_step": 0.001}]}
    e = _estimate(plan, n_seeds=3)
    # the stack: 2 members x 1000 steps x 1 ms; the run alone: 1000 x 10 ms; 12 evaluations of 2 s per run
    assert e["train_s"] == pytest.approx(2 + 10) and e["eval_s"] == 3 * 24
    assert e["wall_s"] == pytest.approx(max((12 + 72) / 2, 2 + 48, 10 + 24))  # the stack is the longest task
    alone = _estimate({k: v for k, v in plan.items() if k not in ("tasks", "stacks")}, 3)
    assert alone["train_s"] == pytest.approx(30) and alone["wall_s"] == pytest.approx((30 + 72) / 2)


def test_plan_probes_the_stacks_a_study_would_train(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPEC))
    assert main(["study", "plan", "s.yaml", "--probe-steps", "3", "--ensemble", "on", "--out", "on.json"]) == 0
    out = capsys.readouterr().out
    plan = json.loads((tmp_path / "on.json").read_text())
    # the loss differs between the variants (another group), the seeds do not: 2 groups of 2 seeds
    assert plan["ensemble"] == {"mode": "on", "max_size": 16, "stacked_groups": 2} and len(plan["tasks"]) == 2
    assert sorted(tuple(s["members"][0]) for s in plan["stacks"]) == [("ring8", "loss=hinge"), ("ring8", "loss=ns")]
    assert all(len(s["members"]) == 2 and s["s_per_member_step"] > 0 for s in plan["stacks"])
    assert plan["estimate"]["train_s"] == pytest.approx(sum(2 * 120 * s["s_per_member_step"] for s in plan["stacks"]))
    assert "4 runs train as 2 tasks, 2 of them member-stacked groups" in out and "ms per member-step" in out
    assert main(["study", "plan", "s.yaml", "--no-probe", "--ensemble-size", "1", "--ensemble", "on",
                 "--out", "one.json"]) == 0
    single = json.loads((tmp_path / "one.json").read_text())
    assert single["ensemble"]["stacked_groups"] == 0 and len(single["tasks"]) == 4 and "member-stacked" not in \
        capsys.readouterr().out
    assert main(["study", "plan", "s.yaml", "--no-probe", "--ensemble-size", "0"]) == 2
