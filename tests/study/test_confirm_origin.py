"""A confirming study re-tests its origin's verdicts under the origin's recipe and evaluation: a confirmation
spec that differs from the spec its ``confirms:`` block names beyond the budget, seeds and name is refused."""

import pytest
import yaml

from ganbench.cli import main
from ganbench.errors import UserError
from ganbench.study.confirm import check_origin, confirmation_spec
from ganbench.study.executors import make_executor
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

from .test_confirm import TINY, _view

VIEW = _view({"loss=ns": [1.0, 2.0, 3.0], "loss=hinge": [1.5, 2.2, 3.9]}, name="ring8")


@pytest.mark.parametrize("budget_x", [3, 1.5, 1, 0.5, 0.3, 7.77, 1000])
@pytest.mark.parametrize("seeds", [2, [0, 4]])
@pytest.mark.parametrize("every", [20, 7, None])
def test_what_study_confirm_writes_is_its_origin_with_another_budget_and_seeds(budget_x, seeds, every):
    origin = StudySpec(**{**TINY, "seeds": seeds, "eval": {**TINY["eval"], "every": every}})
    check_origin(confirmation_spec(origin, [VIEW], budget_x))  # accepted
    flops = StudySpec(**{**TINY, "seeds": seeds, "budget": {"flops": 1e9}, "eval": {**TINY["eval"], "every": every}})
    check_origin(confirmation_spec(flops, [VIEW], budget_x, n_seeds=4))


@pytest.mark.parametrize("change", [
    {"eval": {**TINY["eval"], "n": 300}},  # another sample count
    {"eval": {**TINY["eval"], "metrics": ["fid"]}},
    {"eval": {**TINY["eval"], "extractor": "inception"}},
    {"datasets": [{"data": {"name": "ring8", "n": 4000}}]},  # another data option
    {"base": {**TINY["base"], "batch_size": 64}},  # another recipe
    {"grid": {"loss": ["ns", "hinge", "lsgan", "wgan"]}},
])
def test_a_confirmation_edited_beyond_budget_and_seeds_is_refused_before_any_run(tmp_path, change):
    made = confirmation_spec(StudySpec(**TINY), [VIEW], 3)
    edited = StudySpec.model_validate({**made.model_dump(), **change})
    with pytest.raises(UserError, match=r"confirms: this spec is not 'tiny' \(spec [0-9a-f]{16}\) with another budget"):
        check_origin(edited)
    with pytest.raises(UserError, match="confirms: this spec is not 'tiny'"):
        run_study(tmp_path / "c", edited, make_executor("inprocess"), progress=False)
    assert not (tmp_path / "c" / "study.sqlite").exists()  # refused before anything was written
    # an edited block (another budget kind) is refused too
    seconds = made.model_copy(update={"budget": made.budget.model_copy(update={"steps": None, "seconds": 60.0})})
    with pytest.raises(UserError, match="confirms: this study's budget is in seconds, that of 'tiny' in steps"):
        check_origin(seconds)


def test_the_verdicts_a_confirmation_re_tests_cannot_be_edited_after_it_ran(tmp_path, capsys):
    origin = StudySpec(**{**TINY, "grid": {"loss": ["ns", "hinge"]}})
    made = confirmation_spec(origin, [VIEW], 1, n_seeds=2).model_copy(update={"seeds": [2]})  # one seed: cheap
    study = tmp_path / "c"
    run_study(study, made, make_executor("inprocess"), progress=False)
    stored = (study / "spec.yaml").read_text()
    assert "significant: true" not in stored
    edited = stored.replace("significant: false", "significant: true")  # a verdict registered after the look
    (study / "spec.yaml").write_text(edited)
    for command in (["study", "report", str(study)], ["study", "resume", str(study), "--no-progress"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "the spec's confirms: block (the verdicts this study re-tests" in err
    (tmp_path / "edited.yaml").write_text(edited)
    for extra in ([], ["--extend"]):  # run again, or extended, with another block
        assert main(["study", "run", str(tmp_path / "edited.yaml"), "--dir", str(study), "--no-progress", *extra]) == 2
        assert "the spec's confirms: block" in capsys.readouterr().err
    grown = yaml.safe_load(edited)
    grown["seeds"] = [2, 3]
    (tmp_path / "grown.yaml").write_text(yaml.safe_dump(grown))
    (study / "spec.yaml").write_text(stored)
    assert main(["study", "run", str(tmp_path / "grown.yaml"), "--dir", str(study), "--no-progress", "--extend"]) == 2
    assert "the confirms: block differs from the study's; --extend only adds" in capsys.readouterr().err
    # the report reads the spec the study ran: a primary chosen after the look (it selected each run's "best") too
    (study / "spec.yaml").write_text(stored.replace("primary: fid", "primary: reverse_kl"))
    assert main(["study", "report", str(study)]) == 2
    assert "no longer matches the study's store" in capsys.readouterr().err
    (study / "spec.yaml").write_text(stored)
    assert main(["study", "report", str(study)]) == 0
