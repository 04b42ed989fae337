"""compile: an option that never breaks training: invalid modes refused, failures fall back in one line."""

import logging

import pytest
import torch
from safetensors.torch import load_file

from ganbench import cli
from ganbench.config import make_config
from ganbench.errors import UserError
from ganbench.training import capture, loop
from ganbench.training import checkpoint as ckpt

BASE = {"data": {"name": "ring8", "n": 500}, "generator": {"name": "mlp", "hidden": 16},
        "discriminator": {"name": "mlp", "hidden": 16}, "batch_size": 16, "steps": 6, "log_every": 3,
        "ckpt_every": 6, "device": "cpu"}


def _cfgs():
    return [make_config({**BASE, "seed": s, "lr_d": 1e-4 * (1 + s)}) for s in range(2)]


def _final(run_dir):
    last = ckpt.list_checkpoints(run_dir / "checkpoints")[-1]
    return load_file(str(last.with_suffix(".safetensors")))


def test_cli_and_study_modes_match():
    import typing

    from ganbench.study.spec import StudySpec

    assert cli.CAPTURE_MODES == capture.MODES
    assert typing.get_args(StudySpec.model_fields["compile"].annotation) == capture.MODES


def test_unknown_mode_refused(tmp_path):
    with pytest.raises(UserError, match="compile must be one of"):
        loop.train_group(_cfgs(), [tmp_path / "a", tmp_path / "b"], progress=False, compile="fastest")


def test_failed_capture_falls_back_in_one_line(tmp_path, monkeypatch, caplog):
    """torch.compile's result raising on its first call -> one warning, then the exact eager step."""
    calls = []

    def broken_compile(fn, mode=None):
        def run(*args, **kwargs):
            calls.append(mode)
            raise RuntimeError("no compiler here\nsecond line")
        return run

    loop.train_group(_cfgs(), [tmp_path / "e0", tmp_path / "e1"], progress=False)
    monkeypatch.setattr(torch, "compile", broken_compile)
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        results = loop.train_group(_cfgs(), [tmp_path / "c0", tmp_path / "c1"], progress=False, compile="default")
    assert [r.status for r in results] == ["done", "done"]
    assert calls == ["default"]  # after the first failure nothing compiled is called again
    lines = [r.getMessage() for r in caplog.records if r.name == "ganbench"]
    assert len(lines) == 1 and "compile=default" in lines[0] and "no compiler here" in lines[0]
    assert "second line" not in lines[0]
    for i in range(2):
        eager, fell_back = _final(tmp_path / f"e{i}"), _final(tmp_path / f"c{i}")
        assert all(torch.equal(eager[k], fell_back[k]) for k in eager)


def test_compile_refused_at_wrap_time_falls_back(tmp_path, monkeypatch, caplog):
    def refuse(fn, mode=None):
        raise RuntimeError("Dynamo is not supported on this Python")

    monkeypatch.setattr(torch, "compile", refuse)
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        result = loop.train(_cfgs()[0], tmp_path / "r", progress=False, compile="reduce-overhead")
    assert result.status == "done"
    assert sum(r.name == "ganbench" for r in caplog.records) == 1



def _worst_rel(a, b):
    """Largest per-tensor relative difference (L2 norms) over the networks' weights, buffers and EMA."""
    return max(((a[k].double() - b[k].double()).norm() / b[k].double().norm().clamp_min(1e-30)).item()
               for k in a if k.startswith(("G.", "D.", "G_ema.")) and a[k].is_floating_point())


COMPILED = {**BASE, "discriminator": {"name": "mlp", "hidden": 16, "norm": "spectral"}, "steps": 5, "log_every": 5,
            "ckpt_every": 5, "regularizers": [{"name": "gp"}], "ema": 0.99, "ema_rampup": 0.05}



@pytest.fixture
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def test_compiled_step_matches_eager(tmp_path, monkeypatch, float64):
    """compile=default (inductor on the CPU) against the exact eager step for a 2-member stack with
    spectral norm, a gradient penalty (through D's eager pass) and a ramped-up EMA: every part of the
    step is compiled once and replayed. In float64, so that a wrong update (a stale bias correction, a
    missed ramp-up) would show far above rounding: measured 3e-16 after 5 steps; asserted at 1e-10.
    (float32: 2e-7 on an MLP, 7e-4 on a DCGAN with batch norm, as eager stacks vs single runs.)
    Inductor writes scalar C++ loops here (cpp.vec_isa_ok off): the same graphs, fusions and wiring, without
    building a probe program per SIMD instruction set and compiling SIMD code (the CPU test's slowest part:
    a fresh inductor cache, ~78 s -> ~33 s). What is checked is ganbench's wiring, not inductor's SIMD."""
    import torch._inductor.config

    monkeypatch.setattr(torch._inductor.config.cpp, "vec_isa_ok", False)
    cfgs = [make_config({**COMPILED, "seed": s, "lr_d": 1e-4 * (1 + s), "ema": 0.9 + 0.05 * s}) for s in range(2)]
    eager = loop.train_group(cfgs, [tmp_path / f"e{i}" for i in range(2)], progress=False)
    comp = loop.train_group(cfgs, [tmp_path / f"c{i}" for i in range(2)], progress=False, compile="default")
    assert [r.compiled for r in eager] == ["none"] * 2 and [r.compiled for r in comp] == ["default"] * 2
    for i in range(2):
        assert _worst_rel(_final(tmp_path / f"c{i}"), _final(tmp_path / f"e{i}")) < 1e-10


def test_compiled_single_run_is_a_one_member_stack(tmp_path, monkeypatch, float64):
    """A compiled single run takes the stacked step with device-tensor step scalars (here with a
    pass-through "compiler", so the wiring is checked without compiling) and writes a single run's
    directory, which an eager run resumes."""
    compiled = []

    def passthrough(fn, mode=None):
        compiled.append(getattr(fn, "__name__", "?"))
        return fn

    monkeypatch.setattr(torch, "compile", passthrough)
    cfg = make_config({**COMPILED, "steps": 8, "ckpt_every": 4, "log_every": 4})
    eager = loop.train(cfg, tmp_path / "e", progress=False)
    comp = loop.train(cfg, tmp_path / "c", progress=False, compile="reduce-overhead")
    assert eager.compiled == "none" and comp.compiled == "reduce-overhead"
    assert sorted(compiled) == ["average", "forward", "forward", "per_member", "update", "update"]
    assert _worst_rel(_final(tmp_path / "c"), _final(tmp_path / "e")) < 1e-12  # a*b/c vs addcdiv rounding
    assert (tmp_path / "c" / "config.yaml").read_text() == (tmp_path / "e" / "config.yaml").read_text()
    longer = make_config({**COMPILED, "steps": 12, "ckpt_every": 4, "log_every": 4})
    assert loop.train(longer, tmp_path / "c", resume=True, progress=False).step == 12


def test_run_that_cannot_stack_trains_eagerly_and_says_why(tmp_path, caplog):
    cfg = make_config({**BASE, "time_budget_s": 600})
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        result = loop.train(cfg, tmp_path / "r", progress=False, compile="default")
    assert result.status == "done" and result.compiled.startswith("default (fell back to eager")
    assert "member-stacked" in result.compiled and sum(r.name == "ganbench" for r in caplog.records) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_reduce_overhead_matches_eager(tmp_path):
    """CUDA graphs (reduce-overhead) over the whole captured step: no fall-back, and float32 weights
    close to the eager stack's (the measured gap is printed; asserted loosely, as float32 on a GPU)."""
    cfgs = [make_config({**COMPILED, "device": "cuda", "steps": 8, "ckpt_every": 8, "log_every": 4, "seed": s,
                         "lr_d": 1e-4 * (1 + s)}) for s in range(2)]
    loop.train_group(cfgs, [tmp_path / f"e{i}" for i in range(2)], progress=False)
    comp = loop.train_group(cfgs, [tmp_path / f"c{i}" for i in range(2)], progress=False, compile="reduce-overhead")
    assert [r.compiled for r in comp] == ["reduce-overhead"] * 2 and [r.status for r in comp] == ["done"] * 2
    worst = max(_worst_rel(_final(tmp_path / f"c{i}"), _final(tmp_path / f"e{i}")) for i in range(2))
    print(f"cuda reduce-overhead vs eager, worst relative difference after 8 steps: {worst:.3g}")
    assert worst < 1e-3


def test_failure_in_a_compiled_backward_undoes_the_step_and_trains_eagerly(tmp_path, monkeypatch, caplog, float64):
    """Autograd calls a compiled backward pass outside the wrappers; in the first steps a failure there
    undoes the step (weights, moments, EMA, step count) and takes it again eagerly: the run ends
    bit-identical to an eager one-member stack."""

    class Boom(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            raise RuntimeError("backward kernel failed to build")

    def compile_with_broken_backward(fn, mode=None):
        if getattr(fn, "__name__", "") != "per_member":
            return fn
        return lambda *args, **kwargs: Boom.apply(fn(*args, **kwargs))

    cfg = make_config({**COMPILED, "steps": 4, "ckpt_every": 4, "log_every": 2})
    loop.train_group([cfg], [tmp_path / "e"], progress=False, stacked=True)  # what a compiled single run is
    monkeypatch.setattr(torch, "compile", compile_with_broken_backward)
    with caplog.at_level(logging.WARNING, logger="ganbench"):
        result = loop.train(cfg, tmp_path / "c", progress=False, compile="default")
    assert result.status == "done" and "backward kernel failed to build" in result.compiled
    assert sum(r.name == "ganbench" for r in caplog.records) == 1
    eager, fell_back = _final(tmp_path / "e"), _final(tmp_path / "c")
    assert all(torch.equal(eager[k], fell_back[k]) for k in eager)
