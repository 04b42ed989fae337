"""The page header's seed count promises only seeds the tables hold."""

from types import SimpleNamespace

from ganbench.report.html import _seeds_per_variant

SPEC = SimpleNamespace(seed_list=lambda: [0, 1, 2])


def _runs(statuses: dict[str, list[str]]) -> list[dict]:
    return [{"dataset": "d", "variant": v, "status": s} for v, states in statuses.items() for s in states]


def test_every_seed_done_is_the_spec_count():
    assert _seeds_per_variant(SPEC, _runs({"a": ["done"] * 3, "b": ["done"] * 3})) == "3"


def test_failed_and_diverged_runs_are_not_counted_as_seeds_with_results():
    # they finished, but carry no evaluation: the tables hold 2 seeds of a and 1 of b
    text = _seeds_per_variant(SPEC, _runs({"a": ["done", "done", "failed"], "b": ["done", "diverged", "failed"]}))
    assert text == "3 in the spec, 1–2 with results (some failed or diverged: see below)"


def test_queued_and_failed_runs_are_both_named():
    text = _seeds_per_variant(SPEC, _runs({"a": ["done", "queued", "failed"], "b": ["done"] * 3}))
    assert text == ("3 in the spec, 1–3 with results (some failed or diverged: see below; the rest queued: "
                    "`ganbench study resume`)")


def test_an_equal_step_budget_is_not_presented_as_equal_compute():
    from ganbench.report.html import _budget
    from ganbench.study.budget import Budget

    text = _budget(SimpleNamespace(budget=Budget(steps=1200)))
    assert text.startswith("1200 training steps per run (a step: n_dis D and n_gen G updates; its FLOPs differ by "
                           "variant")
    assert _budget(SimpleNamespace(budget=Budget(flops=3e11))).startswith("3e+11 training FLOPs per run")
