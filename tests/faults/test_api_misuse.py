"""Fault family: the Python API called with values of the wrong kind. Each is one UserError naming the
argument (what the CLI's flags refuse), never an AttributeError deep inside nor a silent default: n=0 used
to evaluate 2,500 samples, as if n had not been given."""

import pytest

from ganbench.api import generate, load_generator, train
from ganbench.errors import UserError
from ganbench.evaluate import evaluate_run
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study

from .conftest import STUDY_SPEC


@pytest.mark.parametrize("kw,says", [
    ({"n": 0}, "n (fake samples) must be a whole number from 2"),
    ({"n": -5}, "n (fake samples)"),
    ({"n": "50"}, "got '50'"),
    ({"n": True}, "got True"),
    ({"seed": -1}, "seed must be a whole number from 0"),
    ({"split": "bogus"}, "split must be 'train' or 'test'"),
])
def test_evaluate_run_refuses_bad_arguments(run, kw, says):
    with pytest.raises(UserError) as exc:
        evaluate_run(run, progress=False, write=False, **{"n": 50, **kw})
    assert says in str(exc.value)


def test_evaluate_run_takes_one_metric_name_as_a_list_of_one(run):
    out = evaluate_run(run, metrics="wasserstein", n=50, progress=False, write=False)
    assert set(out["results"][-1]["metrics"]) == {"w1", "w2"}  # not 'w', 'a', 's', ... (unknown metric 'w')


@pytest.mark.parametrize("call,says", [
    (lambda run: load_generator(3), "needs a run directory or checkpoint path; got 3"),
    (lambda run: load_generator(run, ema="no"), "ema must be True or False"),
    (lambda run: load_generator(run, device="bogus"), "unknown device 'bogus'"),
    (lambda run: generate("st/A", 5), "needs a generator module"),
    (lambda run: generate(load_generator(run), 0), "n (samples) must be a whole number from 1"),
    (lambda run: generate(load_generator(run), "5"), "got '5'"),
    (lambda run: generate(load_generator(run), 5, seed=-3), "seed must be"),
    (lambda run: train({"steps": 2}, out=5), "out must be a directory path; got 5"),
    (lambda run: train({"steps": 2}, out=run / "config.yaml"), "is a file; choose another --out"),
    (lambda run: run_study(run.parent / "s", "spec.yaml", InProcess()), "run_study needs a StudySpec"),
    (lambda run: run_study(run.parent / "s", STUDY_SPEC, InProcess()), "got dict"),
])
def test_api_calls_with_values_of_the_wrong_kind(run, call, says):
    with pytest.raises(UserError) as exc:
        call(run)
    assert says in str(exc.value)
