"""Reference blocks: parsing, validation before any run, the agreement rule, and --scale."""

import math

import pytest
import yaml
from scipy import stats

from ganbench.cli import main
from ganbench.errors import UserError
from ganbench.study.reference import Reference, agreement, reference_rows, run_budget, standard_error
from ganbench.study.spec import StudySpec, expand, load_spec, scaled

SPEC = {"name": "ref", "base": {"batch_size": 16}, "datasets": [{"data": {"name": "ring8", "n": 500}}],
        "variants": {"gan": {"pack": 1}, "pacgan2": {"pack": 2}}, "seeds": 2, "budget": {"steps": 10},
        "eval": {"metrics": ["modes"], "n": 100}}
REF = {"source": "paper, Table 1", "spread": "se", "n": 10,
       "values": {"ring8": {"gan": {"modes_covered": [6.3, 0.5], "reverse_kl": 0.45},
                            "pacgan2": {"high_quality": {"mean": 0.956, "spread": 0.02, "kind": "ci95"}}}}}


def test_reference_block_parses_shorthands_and_mappings():
    ref = StudySpec(**SPEC, reference=REF).reference
    gan = ref.values["ring8"]["gan"]
    assert (gan["modes_covered"].mean, gan["modes_covered"].spread) == (6.3, 0.5)
    assert (gan["reverse_kl"].mean, gan["reverse_kl"].spread) == (0.45, 0.0)
    assert ref.values["ring8"]["pacgan2"]["high_quality"].kind == "ci95"
    expand(StudySpec(**SPEC, reference=REF))  # a valid block passes validation


@pytest.mark.parametrize("values, message", [
    ({"ring9": {"gan": {"reverse_kl": 1}}}, "reference: unknown dataset 'ring9' (did you mean ring8?)"),
    ({"ring8": {"pacgan3": {"reverse_kl": 1}}}, "reference: unknown variant 'pacgan3' for dataset 'ring8'"),
    ({"ring8": {"gan": {"fid": 1}}}, "reference: metric 'fid' (ring8, gan) is not reported for 'ring8'"),
    ({"ring8": {"gan": {"reverse_kll": 1}}}, "(did you mean reverse_kl?)"),
])
def test_reference_naming_what_the_study_lacks_is_refused_before_any_run(values, message):
    with pytest.raises(UserError) as exc:
        expand(StudySpec(**SPEC, reference={**REF, "values": values}))
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_bad_reference_via_the_cli_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "reference": {**REF, "values": {"ring8": {"gan": {"fid": 3}}}}}))
    assert main(["study", "run", str(path), "--dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "metric 'fid'" in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()  # refused before anything was written
    path.write_text(yaml.safe_dump({**SPEC, "reference": {**REF, "spread": "sd", "n": None}}))
    assert main(["study", "run", str(path), "--dir", str(tmp_path / "s")]) == 2
    assert "a published sd needs n" in capsys.readouterr().err


@pytest.mark.parametrize("budget, unit, amount", [
    ({"steps": 400000}, "steps", 400000), ({"seconds": 90.5}, "seconds", 90.5), ({"flops": 1e15}, "FLOPs", 1e15)])
def test_reference_budget_states_the_published_training_in_one_unit(budget, unit, amount):
    ref = StudySpec(**SPEC, reference={**REF, "budget": budget}).reference
    assert (ref.budget.kind(), ref.budget.amount()) == (unit, amount)
    assert StudySpec(**SPEC, reference=REF).reference.budget is None  # optional: the report says it is unknown
    for preset, steps in (("pacgan-2d", 400_000), ("pacgan-stacked-mnist", 100_000)):  # as their budget: lines
        spec = load_spec(f"presets/{preset}.yaml")
        assert spec.reference.budget.steps == steps == spec.budget.steps


@pytest.mark.parametrize("budget, message", [
    ({}, "bad value for 'reference.budget': value error, give one of steps, seconds or flops"),
    ({"steps": 10, "seconds": 5}, "give one of steps, seconds or flops"),
    ({"epochs": 400}, "give one of steps, seconds or flops"),
    ({"steps": 0}, "'reference.budget.steps': input should be greater than or equal to 1"),
    ({"steps": 1.5}, "'reference.budget.steps': input should be a valid integer"),
    ({"seconds": -1}, "'reference.budget.seconds': input should be greater than 0"),
    (400000, "'reference.budget': input should be a valid dictionary"),
])
def test_bad_reference_budget_is_one_line_and_exit_2(tmp_path, capsys, budget, message):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, "reference": {**REF, "budget": budget}}))
    assert main(["study", "run", str(path), "--dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_run_budget_is_each_runs_training_in_the_published_unit():
    steps, timed = {"steps": 4000, "time_budget_s": None}, {"steps": 10**9, "time_budget_s": 60.0}
    assert (run_budget(steps, "steps", None), run_budget(steps, "seconds", None)) == (4000, None)
    assert (run_budget(timed, "steps", None), run_budget(timed, "seconds", None)) == (None, 60.0)  # cap, not steps
    assert run_budget(steps, "FLOPs", 2e12) == 2e12 and run_budget(steps, "FLOPs", None) is None


def test_spreads_become_standard_errors():
    ref = Reference(source="s", spread="sd", n=25, values={"d": {"v": {"m": [1.0, 0.5]}}})
    assert standard_error(ref.values["d"]["v"]["m"], ref) == pytest.approx(0.1)
    ref = Reference(source="s", spread="ci95", values={"d": {"v": {"m": [1.0, 1.96]}}})
    assert standard_error(ref.values["d"]["v"]["m"], ref) == pytest.approx(1.0)


def test_agreement_rule_against_a_direct_calculation():
    ours = {"n": 5, "mean": 7.0, "std": 1.0}
    margin = stats.t.ppf(0.975, 4) * math.sqrt((1.0 / math.sqrt(5)) ** 2 + 0.3 ** 2)  # 1.4949...
    assert agreement(ours, 7.0 - 0.99 * margin, 0.3)["consistent"] is True
    assert agreement(ours, 7.0 + 1.01 * margin, 0.3)["consistent"] is False
    assert agreement(ours, 6.0, 0.3)["margin"] == pytest.approx(margin)
    # exact constants agree (1000 of 1000 modes, both spreads 0); one seed cannot be judged
    assert agreement({"n": 3, "mean": 1000.0, "std": 0.0}, 1000.0, 0.0)["consistent"] is True
    assert agreement({"n": 3, "mean": 999.0, "std": 0.0}, 1000.0, 0.0)["consistent"] is False
    assert agreement({"n": 1, "mean": 5.0, "std": math.nan}, 5.0, 0.1)["consistent"] is None


def test_reference_rows_pair_published_and_ours():
    ref = Reference(**REF)
    board = [{"dataset": "ring8", "variant": "gan", "metric": "modes_covered", "checkpoint": "final", "n": 4,
              "mean": 6.0, "std": 0.8, "ci_low": 4.7, "ci_high": 7.3},
             {"dataset": "ring8", "variant": "gan", "metric": "modes_covered", "checkpoint": "best", "n": 4,
              "mean": 1.0, "std": 0.8, "ci_low": 0.0, "ci_high": 2.3}]
    rows = {(r["variant"], r["metric"]): r for r in reference_rows(ref, board, "ring8")}
    row = rows[("gan", "modes_covered")]
    assert row["ours_mean"] == 6.0 and row["published_mean"] == 6.3 and row["consistent"] is True  # final, not best
    assert rows[("gan", "reverse_kl")]["consistent"] is None  # nothing of ours to compare
    assert reference_rows(None, board, "ring8") == [] and reference_rows(ref, board, "grid25") == []


def test_reference_is_not_part_of_the_spec_identity():
    a, b = StudySpec(**SPEC), StudySpec(**SPEC, reference=REF)
    assert a.digest() == b.digest()


def test_scale_shrinks_budget_and_seeds():
    spec = load_spec("presets/pacgan-2d.yaml")
    small = scaled(spec, 0.01)
    assert small.name == "pacgan-2d-x0.01" and small.budget.steps == 4000 and small.eval.every == 200
    assert small.seed_list() == [0, 1, 2]  # at least 3 seeds
    assert scaled(spec, 0.5).seed_list() == [0, 1, 2, 3, 4]
    assert scaled(spec, 1.0).budget.steps == 400000 and len(scaled(spec, 1.0).seed_list()) == 10
    for bad in (0, -1, 1.5):
        with pytest.raises(UserError, match="--scale"):
            scaled(spec, bad)


def test_stacked_mnist_preset_expands_with_its_reference_and_the_official_nets():
    import torch

    from ganbench.config import make_config
    from ganbench.training.build import build_discriminator, build_generator

    runs = expand(load_spec("presets/pacgan-stacked-mnist.yaml"))  # reference validated here too
    assert len(runs) == 4 * 10 and {r.primary for r in runs} == {"class_kl_uniform"}
    cfg = make_config(next(r.config for r in runs if r.variant == "pacdcgan3"))
    G, D = build_generator(cfg, (3, 28, 28)), build_discriminator(cfg, (3, 28, 28))
    assert sum(p.numel() for p in G.parameters()) == 4_517_891  # the 5x5 TensorFlow DCGAN, 2x2x512 start
    assert D(G(torch.randn(6, 100))).shape == (2,)  # 6 samples = 2 packs of 3
    # the official code's training loop, latent, data and init (model.py:193,202-212,372,386; ops.py:57)
    assert (cfg.latent, cfg.n_gen, cfg.g_noise, cfg.g_call) == ("uniform", 2, "same_as_d", "per_pack_member")
    assert (cfg.data["digits"], cfg.data["pixel_range"]) == ("train+test", "0..1")
    assert cfg.discriminator["init"] == {"kind": "truncated_normal", "std": 0.02, "gain": 1.0, "linear": "normal"}
