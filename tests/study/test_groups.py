"""Studies with runs trained together as member-stacked models give the table they give without."""

import math

from ganbench.config import make_config
from ganbench.study.executors import InProcess
from ganbench.study.groups import plan_groups, queue
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


def test_queue_starts_seed_major_and_keeps_the_groups():
    """Every variant's first seed, then every variant's second, ..., dataset by dataset: load that drifts
    during a study falls on all variants alike. Stacked groups keep the members (in their order) that
    plan_groups forms on the spec's variant-major order; they start in the order of their first run."""
    spec = StudySpec(**{**SPEC, "datasets": [{"data": {"name": "ring8", "n": 2000}}, {"data": {"name": "grid25"}}],
                        "grid": {"loss": ["ns", "hinge"]}, "seeds": 3})
    runs = expand(spec)
    variants = ("loss=ns", "loss=hinge")
    for mode in ("off", "auto"):  # one run per task on a CPU
        order = [(r.dataset, r.seed, r.variant) for [r] in queue(runs, mode, 16)]
        assert order == [(ds, s, v) for ds in ("ring8", "grid25") for s in (0, 1, 2) for v in variants]
    as_ids = lambda groups: [[r.run_id for r in g] for g in groups]  # noqa: E731
    queued, planned = as_ids(queue(runs, "on", 2)), as_ids(plan_groups(runs, "on", 2))
    assert sorted(queued) == sorted(planned) and queued != planned
    assert [q[0] for q in queued] == [f"{ds}__{v}__s{s}" for ds in ("ring8", "grid25") for s in (0, 2)
                                      for v in variants]  # groups of seeds 0+1, then of seed 2
    assert as_ids(queue(runs, "on", 16)) == as_ids(plan_groups(runs, "on", 16))  # one group per recipe


def test_a_study_starts_its_runs_interleaved(tmp_path):
    """The runner starts the runs in the queue's order."""
    order = []

    class Recording(InProcess):
        def run(self, fn, tasks, started=None):
            def note(key):
                order.extend(key)
                started(key)
            return super().run(fn, tasks, started=note)

    spec = StudySpec(**{**SPEC, "grid": {"loss": ["ns", "hinge"]}, "budget": {"steps": 10},
                        "eval": {"n": 100, "metrics": ["modes"]}})
    run_study(tmp_path / "s", spec, Recording(), progress=False)
    assert order == ["ring8__loss=ns__s0", "ring8__loss=hinge__s0", "ring8__loss=ns__s1", "ring8__loss=hinge__s1"]


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


def test_out_of_memory_group_is_split_and_goes_on(tmp_path, monkeypatch, capsys):
    import torch

    from ganbench.training import loop

    real = loop.train_group
    sizes = []

    def tight_memory(cfgs, outs, *a, **kw):
        sizes.append(len(cfgs))
        if len(cfgs) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(cfgs, outs, *a, **kw)

    monkeypatch.setattr(loop, "train_group", tight_memory)
    spec = StudySpec(**{**SPEC, "grid": {"lr_d": [2e-4, 1e-4]}, "budget": {"steps": 20},
                        "eval": {"n": 100, "metrics": ["modes"]}})
    run_study(tmp_path / "s", spec, InProcess(), progress=False, ensemble=("on", 16))
    assert sizes == [4, 2, 2]
    assert "split into 2 + 2" in capsys.readouterr().err
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert [r["status"] for r in runs] == ["done"] * 4
    assert all(len(r["trained_with"]) == 2 for r in runs)


def test_pool_executes_whole_groups(tmp_path):
    from ganbench.study.executors import Pool

    spec = StudySpec(**{**SPEC, "grid": {}, "budget": {"steps": 20}, "eval": {"n": 100, "metrics": ["modes"]}})
    run_study(tmp_path / "s", spec, Pool(1), progress=False, ensemble=("on", 16))
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert [r["status"] for r in runs] == ["done"] * 2
    assert all(sorted(r["trained_with"]) == sorted(x["run_id"] for x in runs) for r in runs)


def test_grouping_settings_do_not_change_the_study_identity():
    on = StudySpec(**{**SPEC, "ensemble": {"mode": "on", "max_size": 4}})
    assert on.digest() == StudySpec(**SPEC).digest()


def test_compile_is_a_runtime_setting_passed_to_every_task_and_recorded(tmp_path, monkeypatch):
    """compile changes neither the spec's nor the runs' identity; the runner hands it to the task (the
    arguments the pool and Ray executors ship too); each result and the report's protocol say it."""
    import torch

    from ganbench import cli
    from ganbench.report.html import _protocol_notes

    plain, compiled = StudySpec(**SPEC), StudySpec(**{**SPEC, "compile": "default"})
    assert plain.digest() == compiled.digest()
    assert [r.config for r in expand(plain)] == [r.config for r in expand(compiled)]
    monkeypatch.setattr(torch, "compile", lambda fn, mode=None: fn)  # wiring only: nothing really compiled
    shipped = []

    class Recording(InProcess):
        def run(self, fn, tasks, **options):
            shipped.extend(args[4] for _, args in tasks)  # (runs, study dir, evals, threads, compile, scope)
            return super().run(fn, tasks, **options)

    small = StudySpec(**{**SPEC, "grid": {}, "budget": {"steps": 10}, "eval": {"n": 100, "metrics": ["modes"]},
                         "compile": "default"})
    run_study(tmp_path / "s", small, Recording(), progress=False, ensemble=("on", 16), compile="reduce-overhead")
    assert shipped == ["reduce-overhead"]  # one group, the override winning over the spec
    runs = Store(tmp_path / "s" / "study.sqlite").runs()
    assert [r["compiled"] for r in runs] == ["reduce-overhead"] * 2
    notes = [n for n in _protocol_notes([], runs, []) if "torch.compile" in n]
    assert len(notes) == 1 and "mode reduce-overhead" in notes[0] and all(r["run_id"] in notes[0] for r in runs)
    shipped.clear()
    run_study(tmp_path / "t", small, Recording(), progress=False, ensemble=("off", 16))
    assert shipped == ["default", "default"]  # no override: the spec's mode, for each run alone
    # a study resumed with another mode is the same study (nothing left to run)
    assert cli.main(["study", "resume", str(tmp_path / "s"), "--executor", "inprocess", "--no-progress",
                     "--no-report", "--compile", "none"]) == 0
