"""Fault family: bad configs and specs. Each is refused before any work starts, in one line, exit 2,
and leaves nothing behind (no run or study directory)."""

import numpy as np
import pytest
import yaml

from .conftest import TINY, refused, set_data

DRY = ["--data", "ring8", "--steps", "2", "--device", "cpu", "--no-progress"]


@pytest.mark.parametrize("args,says", [
    (["--reg", "r1:every=-1"], "every"),  # would flip the penalty's sign
    (["--reg", "r1:every=0"], "every"),  # would divide by zero and leave the run 'running'
    (["--reg", "gp:weight=.nan"], "finite"),
    (["--reg", "gp:weight=-10"], "weight"),
    (["--reg", "gp:every=true"], "every"),
    (["--set", "steps=true"], "steps"),  # was one step
    (["--set", "generator.hidden=0"], "hidden"),
    (["--set", "generator.depth=-1"], "depth"),
    (["--set", "betas_g=[2,0.999]"], "betas_g"),
    (["--set", "lr_g=.inf"], "lr_g"),
    (["--set", "data.n=0"], "data.n"),
    (["--set", "data.n=-5"], "data.n"),
    (["--batch-size", "1e12"], "batch-size"),
    (["--set", "plugins=oops"], "plugins"),
    (["--seed", "-1"], "seed"),  # 64-bit seeds: -1 and 2**64 would draw what 2**64 - 1 and 0 draw
    (["--seed", str(2**64)], "seed"),
    (["--set", "data.n=100000000"], "less than or equal to 10000000"),  # 3.2 GB to draw, 10**9 filled the memory
    (["--data", "stacked-mnist", "--set", "data.n=2000000"], "less than or equal to 1000000"),  # 19 GB as float32
    (["--data", "stacked-mnist", "--set", f"data.seed={2**63}"], "data.seed"),  # overflowed torch's 64-bit seed
    (["--set", "steps=10000000000"], "less than or equal to 1000000000"),
    (["--batch-size", "1000000000"], "over the bound of 65536 samples"),  # was ended by the OOM killer, no word
    (["--batch-size", "20000", "--set", "pack=4", "--set", "batch_unit=packs"], "(80000 samples per batch)"),
])
def test_bad_run_option(capsys, tmp_path, args, says):
    refused(capsys, "train", *DRY, *args, "--out", tmp_path / "r", says=says)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("text,says", [
    (b"steps: 5\nsteps: 6\n", "duplicate key 'steps'"),
    (b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
     b"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", "aliases expand"),
    (b"steps: \xff\xfe5\n", "not UTF-8"),
    (b"steps: [1,\n", "not valid YAML"),
    (b"- 1\n- 2\n", "mapping"),
    (b"steps: " + b"9" * 5_000 + b"\n", "not valid YAML (exceeds the limit (4300 digits)"),  # int(str): ValueError
])
def test_bad_yaml_file(capsys, tmp_path, text, says):
    (tmp_path / "c.yaml").write_bytes(text)
    refused(capsys, "train", "--config", tmp_path / "c.yaml", *DRY, "--out", tmp_path / "r", says=says)
    assert not (tmp_path / "r").exists()


# budget.steps, not base.steps, sets how long a study's runs train (the default budget is 2000 steps)
SPEC = {"base": {"batch_size": 8}, "budget": {"steps": 2}, "seeds": 1}


@pytest.mark.parametrize("change,says", [
    ({"eval": {"metrics": ["fidd"]}}, "unknown metric 'fidd'"),
    ({"eval": {"extractor": "bogus"}}, "unknown extractor 'bogus'"),
    ({"seeds": 0}, "seeds"), ({"seeds": -3}, "seeds"), ({"seeds": []}, "seeds"), ({"seeds": True}, "seeds"),
    ({"seeds": [1, 1]}, "twice"),
    ({"seeds": [0, 2**64]}, "from 0 to 2**64 - 1"),
    ({"seeds": 10**9}, "at most 1000"),
    ({"eval": {"n": 10**12}}, "eval.n"),  # as `eval --n`: would fill the memory of every worker  # was built as a list of 10**9 runs
    ({"seeds": list(range(1001))}, "at most 1000"),
    ({"grid": {f"x{i}": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] for i in range(30)}}, "at most 20,000"),  # before the product
    ({"datasets": []}, "datasets"),
    ({"variants": {"a/b": {"loss": "hinge"}, "a_b": {"loss": "ns"}}}, "variant name 'a/b'"),
    ({"grid": {"data.path": ["x/y.npz", "x_y.npz"]}, "datasets": [{"data": "npz"}]}, "share one run directory"),
    ({"name": "../escaped"}, "study name"),
    ({"name": "/abs"}, "study name"),
    ({"base": {"steps": 2, "regularizers": [{"name": "r1", "every": 0}]}}, "every"),
    ({"frobnicate": 1}, "frobnicate"),
    ({"budget": {"flops": 1e30}}, "budget.flops 1e+30 would take"),  # its steps were set without validation
    ({"budget": {"steps": 2 * 10**9}}, "steps"),
])
def test_bad_study_spec(capsys, tmp_path, monkeypatch, change, says):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()
    for name in ("x/y.npz", "x_y.npz"):  # two real data files whose paths differ only by '/' vs '_'
        np.savez(tmp_path / name, x=np.random.default_rng(0).normal(size=(64, 2)))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**SPEC, **change}))
    refused(capsys, "study", "run", "s.yaml", "--executor", "inprocess", "--no-progress", says=says)
    assert not (tmp_path / "studies").exists() and not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("flags, says", [
    (["--workers", "0"], "--workers must be from 1 to 256; got 0"),  # was "one per core", silently
    (["--workers", "-3"], "got -3"),  # was 1, silently
    (["--workers", "100000"], "got 100000"),  # would start a process per run
    (["--executor", "ray", "--gpus-per-run", "-1"], "--gpus-per-run must be >= 0"),
])
def test_bad_executor_flags(capsys, tmp_path, flags, says):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPEC))
    refused(capsys, "study", "run", tmp_path / "s.yaml", "--dir", tmp_path / "d", *flags, says=says)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("args, says", [
    (["sample", "--n", str(10**12), "--out", "x.npz"], "more than 1,000,000 samples"),  # ran out of memory first
    (["eval", "--n", str(10**12)], "more than 1,000,000 samples"),
    (["eval", "--seed", "-1"], "a seed is from 0 to 2**64 - 1"),  # drew what seed 2**64 - 1 draws
    (["sample", "--seed", str(2**64), "--out", "x.npz"], "a seed is from 0 to 2**64 - 1"),  # drew what seed 0 draws
    (["eval", "--metrics", ""], "expected comma-separated names, got ''"),  # was every default metric
    (["eval", "--metrics", " , "], "expected comma-separated names"),
])
def test_bad_sampling_flags(capsys, tiny_run, tmp_path, monkeypatch, args, says):
    monkeypatch.chdir(tmp_path)
    command, *rest = args
    refused(capsys, command, tiny_run, *rest, says=says)
    assert not (tmp_path / "x.npz").exists()


def test_duplicate_variant_keys_are_refused_not_collapsed(capsys, tmp_path):
    (tmp_path / "s.yaml").write_text("variants:\n  a: {loss: ns}\n  a: {loss: hinge}\n")
    refused(capsys, "study", "run", tmp_path / "s.yaml", "--dir", tmp_path / "d", says="duplicate key 'a'")
    assert not (tmp_path / "d").exists()


def test_bad_spec_yaml_in_a_study_dir(capsys, tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "spec.yaml").write_text("name: [unclosed\n")
    refused(capsys, "study", "resume", tmp_path / "d", says="spec.yaml")
    (tmp_path / "d" / "spec.yaml").write_text("nmae: x\n")
    refused(capsys, "study", "resume", tmp_path / "d", says="nmae")


def test_a_study_dir_cannot_make_a_command_allocate_without_bound(capsys, tmp_path):
    """A stranger's spec.yaml asking for 10**9 seeds (or a confirmation or extension asking for them) is
    refused in one line by every command, before a seed list or grid is built: even `study report`
    expands the spec."""
    from ganbench.cli import main

    study, spec = tmp_path / "d", tmp_path / "s.yaml"
    small = {**SPEC, "eval": {"n": 100, "metrics": ["modes"]}}  # any finished study will do
    spec.write_text(yaml.safe_dump(small))
    assert main(["study", "run", str(spec), "--dir", str(study), "--executor", "inprocess", "--no-progress"]) == 0
    for command in ("extend", "confirm"):
        refused(capsys, "study", command, study, "--seeds", str(10**9), says="1000000000 seeds: a study has at most 1000")
    (study / "spec.yaml").write_text(yaml.safe_dump({**small, "seeds": 10**9}))
    for command in ("report", "resume", "confirm", "extend"):
        refused(capsys, "study", command, study, *(["--seeds", "5"] if command == "extend" else []),
                says="at most 1000")


def test_a_run_dir_cannot_make_eval_or_sample_build_a_huge_dataset(capsys, tiny_run, tmp_path):
    """A stranger's config.json asking for 10**9 ring8 points: eval and sample build the dataset it names
    (the reference data, the report's mode crosses) and would fill the memory. Refused when read."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    set_data(run, {"name": "ring8", "n": 10**9})
    refused(capsys, "eval", run, "--n", "100", says="data.n")
    refused(capsys, "sample", run, "--n", "10", "--out", tmp_path / "x.npz", says="data.n")
    assert not (tmp_path / "x.npz").exists()


def test_a_run_dir_cannot_make_eval_build_a_network_larger_than_its_checkpoint(capsys, tiny_run, tmp_path,
                                                                                 monkeypatch):
    """A config.json asking for hidden: 20000 (1.6 GB per layer) beside a checkpoint of a 256-unit MLP: the
    network is first built on the meta device, found not to fit, and never built for real."""
    import json
    import shutil

    import torch

    import ganbench.api
    import ganbench.training.build

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for sidecar in (run / "checkpoints").glob("step_*.json"):
        record = json.loads(sidecar.read_text())
        record["config"]["generator"]["hidden"] = 20000
        sidecar.write_text(json.dumps(record))
    built_on, build = [], ganbench.api.build_generator

    def watched(*args, **kwargs):
        built_on.append(torch.get_default_device().type)
        return build(*args, **kwargs)

    for module in (ganbench.api, ganbench.training.build):  # the real build, and the probe's
        monkeypatch.setattr(module, "build_generator", watched)
    refused(capsys, "eval", run, "--n", "100", says="size mismatch for")
    assert built_on == ["meta"]


def test_a_run_dir_cannot_make_resume_build_networks_larger_than_its_checkpoint(capsys, tiny_run, tmp_path,
                                                                                  monkeypatch):
    """`train --resume` trains with the run's stored config.yaml: one asking for 20000 hidden units beside a
    checkpoint of a small MLP is refused after a meta-device build, before data or networks are made."""
    import shutil

    import torch
    import yaml

    import ganbench.training.build as build

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["discriminator"]["hidden"] = 20000
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    built_on = []
    for name in ("build_generator", "build_discriminator"):
        def watched(*args, _build=getattr(build, name), **kwargs):
            built_on.append(torch.get_default_device().type)
            return _build(*args, **kwargs)

        monkeypatch.setattr(build, name, watched)
    refused(capsys, "train", "--out", run, "--resume", "--steps", "6", "--no-progress", says="size mismatch for")
    assert built_on and set(built_on) == {"meta"}
    assert yaml.safe_load((run / "config.yaml").read_text())["discriminator"]["hidden"] == 20000  # untouched


def test_debug_shows_the_traceback(tmp_path):
    from ganbench.cli import main
    from ganbench.errors import UserError

    with pytest.raises(UserError):
        main(["--debug", "train", *TINY, "--set", "steps=true", "--out", str(tmp_path / "r")])


def test_an_integer_of_thousands_of_digits_in_a_stored_yaml_or_a_flag_is_one_line(capsys, tiny_run, tmp_path):
    """YAML's int constructor calls int(str), which refuses more than 4,300 digits with a ValueError that
    load_yaml did not catch: a stranger's config.yaml or spec.yaml (and a --set value) was a traceback."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text.replace("seed: 0", "seed: " + "9" * 5_000))
    refused(capsys, "eval", run, "--n", "100", says="config.yaml: not valid YAML")
    refused(capsys, "train", *DRY, "--out", tmp_path / "r", "--set", "seed=" + "9" * 5_000, says="seed")


def test_a_spec_validators_own_refusal_names_the_spec_file(capsys, tmp_path):
    # 'seeds: 10**20' said "100000000000000000000 seeds: a study has at most 1000" without naming the file
    spec = tmp_path / "big.yaml"
    spec.write_text("name: big\ndatasets: [ring8]\nseeds: 100000000000000000000\nbudget: {steps: 10}\n")
    line = refused(capsys, "study", "plan", spec, "--no-probe", says="seeds: a study has at most 1000")
    assert f"{spec}: 100000000000000000000 seeds" in line
