"""`ganbench study confirm`: a study's verdicts re-tested on fresh seeds with a longer budget."""

import json
from types import SimpleNamespace

import pytest
import torch
import yaml
from jinja2 import Environment
from scipy import stats

from ganbench.cli import main
from ganbench.errors import UserError
from ganbench.report.confirmation import confirmation
from ganbench.report.template import SECTIONS
from ganbench.study.confirm import Confirms, confirmation_rows, confirmation_spec, one_sided, tally
from ganbench.study.spec import StudySpec, expand
from ganbench.study.stats import holm, p_text, summarize
from ganbench.study.store import Store

from .test_stats import _evals

TINY = {"name": "tiny", "base": {"batch_size": 32, "log_every": 20, "generator": {"name": "mlp", "hidden": 32},
                                 "discriminator": {"name": "mlp", "hidden": 32}},
        "datasets": [{"data": {"name": "ring8", "n": 2000}}], "grid": {"loss": ["ns", "hinge", "lsgan"]}, "seeds": 2,
        "budget": {"steps": 40}, "eval": {"n": 200, "every": 20, "metrics": ["modes", "fid"], "primary": "fid"}}


def _view(values: dict[str, list[float]], metric="fid", name="d"):
    return SimpleNamespace(name=name, primary=metric, pairs=summarize(_evals(values, metric), ("final",))["pairs"],
                           looked_again=[])


def test_the_confirming_spec_trains_longer_on_fresh_seeds_and_carries_the_verdicts():
    spec = StudySpec(**{**TINY, "seeds": [0, 4]})
    view = _view({"a": [1.0, 2.0], "b": [1.5, 2.2], "c": [1.0, 2.0]})  # a = c: no order, not carried
    new = confirmation_spec(spec, [view], 3)
    assert new.name == "tiny-confirm-x3" and new.budget.steps == 120 and new.eval.every == 60
    assert new.seed_list() == [5, 6]  # after the largest seed the first study used
    block = new.confirms
    assert (block.study, block.spec_digest, block.budget.steps, block.seeds) == ("tiny", spec.digest(), 40, [0, 4])
    assert {(v.a, v.b) for v in block.verdicts} == {("a", "b"), ("b", "c")}
    assert confirmation_spec(spec, [view], 2, n_seeds=5).seed_list() == [5, 6, 7, 8, 9]
    assert confirmation_spec(spec, [view], 2, first_seed=7).seed_list() == [7, 8]  # past an earlier confirmation's
    flops = StudySpec(**{**TINY, "budget": {"flops": 1e9}})
    assert confirmation_spec(flops, [view], 2.5).budget.flops == 2.5e9
    # the block changes no result: it is not part of the spec's identity
    assert new.model_copy(update={"confirms": None}).digest() == new.digest()


@pytest.mark.parametrize("kwargs, message", [
    ({"budget_x": 0}, r"--budget-x must be a number in \(0, 1000\]"),
    ({"budget_x": float("nan")}, "--budget-x must be a number in"),
    ({"budget_x": 1e308}, "--budget-x must be a number in"),  # overflowed the step count (a traceback)
    ({"budget_x": 1e12}, "--budget-x must be a number in"),  # named the study 'NAME-confirm-x1e+12', refused as a name
    ({"budget_x": 2, "n_seeds": 10**9}, "1000000000 seeds: a study has at most 1000"),
    ({"budget_x": 2, "n_seeds": 1}, "--seeds must be at least 2"),
    ({"budget_x": 2, "first_seed": 0}, "--first-seed 0: seed 0 was used by study 'tiny'"),
    ({"budget_x": 2, "first_seed": -1, "n_seeds": 3}, "--first-seed -1: seed 0 was used by"),
])
def test_bad_confirmation_options(kwargs, message):
    with pytest.raises(UserError, match=message):
        confirmation_spec(StudySpec(**TINY), [_view({"a": [1.0, 2.0], "b": [1.5, 2.2]})], **kwargs)


def test_a_study_without_any_order_has_nothing_to_confirm():
    with pytest.raises(UserError, match="has no verdict to confirm"):
        confirmation_spec(StudySpec(**TINY), [_view({"a": [1.0, 2.0], "b": [1.0, 2.0]})], 3)


@pytest.mark.parametrize("metric", ["fid", "precision"])
def test_rows_write_the_better_mean_first_and_judge_the_sign_in_that_orientation(metric):
    first = confirmation_spec(StudySpec(**TINY), [_view({"a": [0.1, 0.2, 0.3], "b": [0.2, 0.3, 0.4]}, metric)], 3)
    block = first.confirms
    # the confirming study: a still below b on two of three seeds, but the mean difference reversed
    pairs = _view({"a": [0.1, 0.2, 0.9], "b": [0.2, 0.3, 0.4]}, metric).pairs
    (row,) = confirmation_rows(block, "d", pairs)
    lower_better = metric == "fid"
    assert (row["first"], row["second"]) == (("a", "b") if lower_better else ("b", "a"))
    assert row["then"] == pytest.approx(-0.1 if lower_better else 0.1)
    assert row["now"] == pytest.approx(0.1 if lower_better else -0.1)
    assert row["kept"] is False and row["significant_now"] is False
    same = _view({"b": [0.2, 0.3, 0.4], "a": [0.15, 0.25, 0.3]}, metric).pairs
    assert confirmation_rows(block, "d", same)[0]["kept"] is True
    assert confirmation_rows(block, "d", [])[0]["kept"] is None  # no paired seeds in the confirming study
    assert confirmation_rows(block, "other dataset", pairs) == []


def test_tally_counts_kept_orders_and_confirmed_significant_verdicts():
    # confirmed: the pre-registered re-test; significant_now: the study's own two-sided test over all its pairs
    rows = [{"kept": True, "significant_then": True, "significant_now": True, "confirmed": True},
            {"kept": True, "significant_then": True, "significant_now": False, "confirmed": False},
            {"kept": False, "significant_then": False, "significant_now": False, "confirmed": False},
            {"kept": True, "significant_then": False, "significant_now": True, "confirmed": False},
            {"kept": None, "significant_then": True, "significant_now": False, "confirmed": False}]
    assert tally(rows) == {"orders": 4, "kept": 3, "significant": 2, "significant_kept": 2, "confirmed": 1,
                           "new_significant": 1, "missing": 1}


def test_the_re_test_is_one_sided_in_the_verdicts_direction_and_holm_over_the_verdicts_re_tested():
    # the first study: a < b and c < b significant (FID, lower is better); a vs c not significant
    first = {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.1, 4.0, 5.1], "c": [1.1, 2.0, 3.1, 4.0]}
    block = confirmation_spec(StudySpec(**TINY), [_view(first)], 3).confirms
    assert sorted((v.a, v.b) for v in block.verdicts if v.significant) == [("a", "b"), ("b", "c")]
    # the confirming study: a < b by less, in the same direction; c < b on 3 of 4 seeds
    here = {"a": [1.0, 2.0, 3.0, 4.0], "b": [1.6, 2.2, 3.9, 4.4], "c": [1.5, 2.1, 3.3, 4.5]}
    rows = {(r["first"], r["second"]): r for r in confirmation_rows(block, "d", _view(here).pairs)}
    ab, cb, ac = rows["a", "b"], rows["c", "b"], rows.get(("a", "c")) or rows.get(("c", "a"))
    # scipy's one-sided paired t-test in the predicted direction is the reference
    p_ab = stats.ttest_rel(here["a"], here["b"], alternative="less").pvalue
    p_cb = stats.ttest_rel(here["c"], here["b"], alternative="less").pvalue
    assert ab["p_one"] == pytest.approx(p_ab, rel=1e-9) and cb["p_one"] == pytest.approx(p_cb, rel=1e-9)
    # Holm over the two significant verdicts re-tested, not over the study's three pairs
    assert [ab["p_retest"], cb["p_retest"]] == pytest.approx(holm([p_ab, p_cb]), rel=1e-9)
    assert ac["p_one"] is None and ac["p_retest"] is None and ac["confirmed"] is False  # not a hypothesis
    assert ab["confirmed"] and ab["p_retest"] < 0.05
    # the study's own two-sided Holm over all its pairs would not have called it: the old rule's loss of power
    assert not ab["significant_now"] and ab["p_now"] > 0.05
    assert tally(list(rows.values()))["confirmed"] == ab["confirmed"] + cb["confirmed"]


def test_one_sided_p_from_a_symmetric_two_sided_test():
    x, y = [1.0, 2.5, 3.0, 4.2], [1.5, 2.9, 3.1, 4.0]
    two = stats.ttest_rel(x, y).pvalue
    assert one_sided(two, True) == pytest.approx(stats.ttest_rel(x, y, alternative="less").pvalue, rel=1e-12)
    assert one_sided(two, False) == pytest.approx(stats.ttest_rel(x, y, alternative="greater").pvalue, rel=1e-12)
    # the exact sign test: every one of 5 seeds one way is 0.5^5 one-sided (scipy's binomial test agrees)
    assert one_sided(2 * 0.5 ** 5, True) == pytest.approx(stats.binomtest(5, 5, 0.5, alternative="greater").pvalue)
    assert one_sided(float("nan"), True) is None


def test_a_sign_test_verdict_is_confirmed_one_sided_where_two_sided_it_could_not_be():
    # 8 vs 7 modes on every seed: the exact sign test; at 5 seeds two-sided p = 0.0625, one-sided 0.03125
    first = confirmation_spec(StudySpec(**TINY), [_view({"a": [8.0] * 6, "b": [7.0] * 6}, "modes_covered")], 3)
    assert first.confirms.verdicts[0].significant  # 6 seeds: two-sided 0.03125
    (row,) = confirmation_rows(first.confirms, "d", _view({"a": [8.0] * 5, "b": [7.0] * 5}, "modes_covered").pairs)
    assert row["p_now"] == pytest.approx(0.0625) and not row["significant_now"]
    assert row["p_retest"] == pytest.approx(0.03125) and row["confirmed"]


def test_a_sign_test_reversed_on_every_seed_has_one_sided_p_1_not_1_minus_half_its_two_sided_p():
    # every one of 5 seeds the other way: no outcome is less favourable to the verdict, so the exact one-sided
    # p is 1 (scipy's binomial test: 0 of 5 the predicted way); 1 - 0.0625 / 2 = 0.969 is the t-test's conversion
    first = confirmation_spec(StudySpec(**TINY), [_view({"a": [8.0] * 6, "b": [7.0] * 6}, "modes_covered")], 3)
    (row,) = confirmation_rows(first.confirms, "d", _view({"a": [7.0] * 5, "b": [8.0] * 5}, "modes_covered").pairs)
    assert row["kept"] is False and row["p_now"] == pytest.approx(0.0625)
    assert row["p_one"] == stats.binomtest(0, 5, 0.5, alternative="greater").pvalue == 1.0
    assert row["p_retest"] == 1.0 and not row["confirmed"]


def test_the_report_section_counts_kept_orders_and_confirmed_wins():
    spec = StudySpec(**TINY)
    first = confirmation_spec(spec, [_view({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0, 5.1]})], 3)
    assert first.confirms.verdicts[0].significant

    def section(b_values):
        view = _view({"a": [1.0, 2.0, 3.0, 4.0], "b": b_values})
        view.confirming = {"block": first.confirms, "budget": first.budget, "seeds": first.seed_list()}
        return confirmation(view)

    again = section([2.0, 3.0, 4.0, 5.05])
    assert again["summary"] == ("Of tiny's 1 order of two variants on fid (40 steps, seeds 0, 1), the sign held for 1 "
                                "here (120 steps, seeds 2, 3): 100% (between two equal variants the sign holds by chance at "
                                "most half the time; less where tied values give a difference of exactly 0). Of its 1 significant verdict, the sign held for 1, "
                                "and 1 is confirmed here (each re-tested one-sided in its direction, Holm over the 1 verdict).")
    assert [(r["order"], r["then"], r["now"], r["mark"]) for r in again["rows"]] == [("a − b", "-1.02", "-1.01", "✓")]
    assert again["trained"] == "trained longer"  # the note: "This study is tiny ... trained longer on seeds ..."
    # the note names the Holm family: the dataset's verdicts (two datasets of equal variants confirm something on
    # one of them ~10 % of the time, not 5 %)
    note = " ".join(Environment(autoescape=True).from_string(SECTIONS["confirmation"]).render(s=again).split())
    assert "Holm-adjusted over all this dataset's significant verdicts" in note and "(two: up to about 10 %)" in note
    for x, said in ((1, "trained as long"), (0.5, "trained for less")):  # `confirm --budget-x 1` re-tests on fresh seeds
        view = _view({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0, 5.05]})
        view.confirming = {"block": first.confirms, "budget": first.confirms.budget.times(x), "seeds": first.seed_list()}
        assert confirmation(view)["trained"] == said
    reversed_ = section([0.5, 2.5, 2.0, 3.0])
    assert "the sign held for 0 here" in reversed_["summary"]
    assert reversed_["summary"].endswith("Of its 1 significant verdict, the sign held for 0, and none is confirmed here "
                                         "(each re-tested one-sided in its direction, Holm over the 1 verdict).")
    assert reversed_["rows"][0]["p_retest"] != "–" and not reversed_["rows"][0]["confirmed"]
    assert reversed_["rows"][0]["mark"] == "✗"



def test_a_significant_verdict_with_one_paired_seed_here_is_said_to_be_not_re_tested():
    # its sign is judged on one seed, but no test exists: the summary says why it is not confirmed
    first = confirmation_spec(StudySpec(**TINY), [_view({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0, 5.1]})], 3)
    view = _view({"a": [1.0, 2.0], "b": [2.0, float("nan")]})
    view.confirming = {"block": first.confirms, "budget": first.budget, "seeds": first.seed_list()}
    section = confirmation(view)
    assert section["rows"][0]["mark"] == "✓" and section["rows"][0]["p_retest"] == "–"
    assert section["summary"].endswith("Of its 1 significant verdict, the sign held for 1, and none is confirmed here "
                                       "(each re-tested one-sided in its direction, Holm over the 1 verdict; 1 without "
                                       "two paired seeds here could not be tested and count as not confirmed).")

def test_a_block_naming_a_variant_the_study_lacks_is_refused_before_any_run():
    block = Confirms(study="x", spec_digest="0", budget={"steps": 1}, seeds=[0, 1], verdicts=[
        {"dataset": "ring8", "metric": "fid", "a": "loss=ns", "b": "loss=wgan", "mean_diff": 1.0, "significant": False,
         "n": 2}])
    with pytest.raises(UserError, match="confirms: variant 'loss=wgan' is not in this study"):
        expand(StudySpec(**{**TINY, "confirms": block}))
    block.verdicts[0].dataset = "grid25"
    with pytest.raises(UserError, match="confirms: dataset 'grid25' is not in this study"):
        expand(StudySpec(**{**TINY, "confirms": block}))
    block.verdicts[0].dataset = "ring8"
    block.verdicts[0].b = "loss=hinge"
    expand(StudySpec(**{**TINY, "seeds": [2, 3], "confirms": block}))  # fresh seeds: accepted
    # the seeds that chose the verdicts cannot re-test them (the report would say "seeds it did not use")
    with pytest.raises(UserError, match=r"confirms: seed 1 of this study chose the verdicts of 'x' it re-tests; .*"
                                        r"\(it used 0, 1\)"):
        expand(StudySpec(**{**TINY, "seeds": [1, 2], "confirms": block}))


def test_confirm_from_the_cli(tmp_path, capsys):
    spec_path = tmp_path / "tiny.yaml"
    spec_path.write_text(yaml.safe_dump(TINY))
    first = tmp_path / "tiny"
    assert main(["study", "run", str(spec_path), "--dir", str(first), "--executor", "inprocess", "--no-progress"]) == 0
    capsys.readouterr()
    other = torch.get_num_threads() + 1  # as if the study had trained with another count than in-process uses
    Store(first / "study.sqlite").set_meta(cpu_threads=str(other))
    assert main(["study", "confirm", str(first), "--budget-x", "1.5", "--executor", "inprocess", "--no-progress"]) == 0
    out = capsys.readouterr().out
    second = tmp_path / "tiny-confirm-x1.5"
    # the same recipe: the confirmation's CPU runs train with the confirmed study's thread count, not the executor's
    assert Store(second / "study.sqlite").get_meta("cpu_threads") == str(other)
    assert f"confirming 3 verdicts of study 'tiny' in {second}" in out and "seeds [2, 3]" in out
    assert "ring8: Of tiny's 3 orders of two variants on fid (40 steps, seeds 0, 1), the sign held for " in out
    stored = yaml.safe_load((second / "spec.yaml").read_text())
    assert stored["budget"]["steps"] == 60 and stored["seeds"] == [2, 3] and stored["confirms"]["study"] == "tiny"
    results = json.loads((second / "results.json").read_text())
    assert len(results["confirmation"]) == 3 and all(r["kept"] in (True, False) for r in results["confirmation"])
    html = (second / "report.html").read_text()
    assert "Confirmation of tiny's verdicts on fid" in html and 'class="confirmation"' in html
    assert "Confirmation of" not in (first / "report.html").read_text()
    assert main(["study", "confirm", str(first), "--out", str(first), "--force-new"]) == 2
    assert "is the study being confirmed" in capsys.readouterr().err
    assert main(["study", "confirm", str(first), "--budget-x", "2", "--out", str(second)]) == 2  # not a resume of it
    found = capsys.readouterr()
    assert f"{second} holds another study; a confirmation is a new study" in found.err and "confirming" not in found.out
    # the new study is a study like any other: resuming it has nothing left to run
    assert main(["study", "resume", str(second), "--executor", "inprocess", "--no-progress"]) == 0
    assert "0 of 6 runs executed" in capsys.readouterr().out


def test_confirm_bad_input_from_the_cli(tmp_path, capsys):
    assert main(["study", "confirm", str(tmp_path / "nowhere")]) == 2
    assert "holds no study" in capsys.readouterr().err


def test_a_verdict_reversed_significantly_is_not_reported_as_not_significant():
    spec = StudySpec(**TINY)
    first = confirmation_spec(spec, [_view({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0, 5.1]})], 3)
    view = _view({"a": [1.0, 2.0, 3.0, 4.0], "b": [0.0, 1.0, 2.0, 2.9]})  # now b has the lower FID on every seed
    view.confirming = {"block": first.confirms, "budget": first.budget, "seeds": first.seed_list()}
    (pair,) = [p for p in view.pairs if p["checkpoint"] == "final"]
    a, b = [1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 2.9]
    assert pair["p_holm"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12) and pair["significant"]
    section = confirmation(view)
    (row,) = section["rows"]
    assert row["mark"] == "✗" and row["sig_now"] is True  # the p printed beside it is significant
    assert section["summary"].endswith("Of its 1 significant verdict, the sign held for 0, and none is confirmed "
                                       "here (each re-tested one-sided in its direction, Holm over the 1 verdict). "
                                       "Significant here in the other direction (any order): 1.")
    # its one-sided p in the predicted direction (a below b) is 1 - p/2, as scipy's alternative='less' gives
    assert section["rows"][0]["p_retest"] == p_text(stats.ttest_rel(a, b, alternative='less').pvalue)


def test_a_confirmation_given_seeds_after_its_results_says_it_was_not_fixed_before_a_look():
    # `study extend` of a confirming study: 'confirmed' after a second look is optional stopping, not the
    # pre-registered test (two equal variants, confirmed at 3 or else at 6 seeds: 8.3 % +- 0.3 %, not 5.0 %; 10,000 sims)
    first = confirmation_spec(StudySpec(**TINY), [_view({"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.0, 4.0, 5.1]})], 3)
    view = _view({"a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "b": [2.0, 3.0, 4.0, 5.05, 6.1, 7.0]})
    view.confirming = {"block": first.confirms, "budget": first.budget, "seeds": [2, 3, 4, 5, 6, 7]}
    clean = confirmation(view)["summary"]
    assert "1 is confirmed here" in clean and "optional stopping" not in clean
    view.looked_again = [{"seeds_before": [2, 3, 4], "seeds_after": [2, 3, 4, 5, 6, 7], "by": "extend",
                          "at": "today", "source": ""}]
    grown = confirmation(view)["summary"]
    assert grown.startswith(clean)
    assert grown.endswith(" But seeds were added to this study after it had results (3, then 6 seeds): if its first "
                          "results prompted that, a verdict confirmed here is optimistic (optional stopping), not a "
                          "test fixed before any look.")


def test_a_verdict_that_cannot_be_tested_here_stays_in_the_holm_family_as_not_confirmed():
    # two verdicts registered (a < b, c < b, FID); here c's runs failed but one: c vs b has one paired seed, no
    # test. Dropping it would re-test a vs b alone (Holm over 1); pre-registered, the family stays at 2
    first = {"a": [1.0, 2.0, 3.0, 4.0], "b": [2.0, 3.1, 4.0, 5.1], "c": [1.1, 2.0, 3.1, 4.0]}
    block = confirmation_spec(StudySpec(**TINY), [_view(first)], 3).confirms
    here = {"a": [1.0, 2.0, 3.0, 4.0], "b": [1.6, 2.2, 3.9, 4.4], "c": [1.5] + [float("nan")] * 3}
    rows = {(r["first"], r["second"]): r for r in confirmation_rows(block, "d", _view(here).pairs)}
    ab, cb = rows["a", "b"], rows["c", "b"]
    p_ab = stats.ttest_rel(here["a"], here["b"], alternative="less").pvalue
    assert cb["kept"] is True and cb["p_one"] is None and cb["p_retest"] is None and not cb["confirmed"]
    assert ab["p_retest"] == pytest.approx(holm([p_ab, 1.0])[0], rel=1e-9) == pytest.approx(2 * p_ab, rel=1e-9)
