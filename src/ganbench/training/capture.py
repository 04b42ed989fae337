"""Optional capture of the training step with ``torch.compile``, against small-step overhead on a GPU.

A small GAN's step is a few hundred tiny kernels; launching them from Python costs more than running
them. ``compile`` (run option, ``ganbench train|ensemble|study run --compile``) compiles every part of
the step that is pure tensor arithmetic:

* G's and D's forward passes (AOTAutograd compiles their backward with them);
* the per-member loss reductions (``Trainer.per_member``: the loss and AC-GAN terms);
* the optimizer update (the stacked Adam's moment and parameter arithmetic);
* the EMA update of G's weights.

``default`` fuses elementwise kernels, ``reduce-overhead`` also replays each compiled part as a CUDA
graph, ``max-autotune`` searches kernel configurations. Step-dependent numbers (Adam's bias
corrections, the EMA ramp-up) reach a compiled part as persistent device tensors, so it is neither
recompiled for a new float nor fed from the host. What stays eager: the seeded draws (one generator
per member), the real-batch gather, the regularizers' penalties (they differentiate D twice, which
compiled passes do not support, so they call D's eager forward) and autograd's bookkeeping.

The default is ``none`` (eager), the only mode under the exactness guarantees (a member equal to its
single run to 1e-10 in float64): compiled kernels round differently (tests/training/test_capture.py
states the measured gap). On the CPU ``none`` is also the faster choice for single runs and DCGANs
(benchmarks/ensemble.py, README); on a GPU the choice waits for benchmarks/gpu_check.sh. Capture fails
soft: where compiling is not possible (no compiler, an unsupported Python, an operation dynamo cannot
trace) the first failure is reported in one line on stderr and every captured part runs eagerly from
then on; ``describe()`` says what happened, for the study's protocol. A compiled backward pass is
called by autograd, outside these wrappers: in the first steps (where compiling and CUDA-graph
recording happen) the state is kept, so a step failing there is undone and taken again eagerly.
"""

from __future__ import annotations

import logging

import torch

from ..errors import UserError

MODES = ("none", "default", "reduce-overhead", "max-autotune")
log = logging.getLogger("ganbench")


class Capture:
    """Compiled callables sharing one fall-back: after any failure, all of them run eagerly."""

    def __init__(self, mode: str):
        if mode not in MODES:
            raise UserError(f"compile must be one of {', '.join(MODES)}; got {mode!r}")
        self.mode, self.failed, self.reason, self.trials = mode, False, "", 0

    def fail(self, exc: BaseException) -> None:
        if not self.failed:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            self.reason = f"{type(exc).__name__}: {first}"
            log.warning("ganbench: compile=%s not possible here (%s); training eagerly", self.mode, self.reason)
        self.failed = True

    def describe(self) -> str:
        """What the run trained with: the mode, or the mode and why it fell back to eager."""
        return f"{self.mode} (fell back to eager: {self.reason})" if self.failed else self.mode

    def wrap(self, fn):
        try:
            # dynamo keeps 8 compiled versions per function, then runs it eagerly without a word; a study
            # worker trains many groups in one process (network shapes, grad modes): allow more
            if hasattr(torch._dynamo.config, "recompile_limit"):
                torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            compiled = torch.compile(fn, mode=self.mode)
        except Exception as exc:  # e.g. dynamo refuses this Python version
            self.fail(exc)
            compiled = None

        def call(*args, **kwargs):
            if not self.failed:
                try:
                    return compiled(*args, **kwargs)
                except torch.OutOfMemoryError:
                    raise  # the group runner splits the group; eager would run out of memory too
                except Exception as exc:
                    self.fail(exc)
            return fn(*args, **kwargs)

        return call

    def static(self, tensors) -> None:
        """CUDA graphs copy every input whose address may change into the graph on each replay; the
        weights, optimizer state and EMA shadows live as long as the run, so say so."""
        if self.mode != "reduce-overhead" or self.failed:
            return
        try:
            for t in tensors:
                if t.device.type == "cuda":
                    torch._dynamo.mark_static_address(t)
        except Exception as exc:  # a private helper: if it moves, capture still works, with copies
            log.debug("mark_static_address unavailable: %s", exc)

    def begin_step(self) -> None:
        """CUDA graph trees reuse their output memory from one step to the next: say a step begins."""
        if self.mode == "reduce-overhead" and not self.failed:
            torch.compiler.cudagraph_mark_step_begin()

    TRIAL_STEPS = 3  # compiling, and recording CUDA graphs, happen within the first steps

    def step(self, run, trainer):
        """``run()`` (one training step) with the fall-back extended to the compiled backward passes,
        which autograd calls outside the wrappers: in the first steps the state is kept, and a step
        that fails is undone and taken again eagerly (a genuine error then surfaces from eager code)."""
        self.begin_step()
        if self.failed or self.trials >= self.TRIAL_STEPS:
            return run()
        state = _persistent(trainer)
        saved, counts = [t.clone() for t in state], [opt.steps for opt in (trainer.opt_g, trainer.opt_d)]
        try:
            out = run()
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:
            self.fail(exc)
            with torch.no_grad():
                for t, s in zip(state, saved):
                    t.copy_(s)
            for opt, n in zip((trainer.opt_g, trainer.opt_d), counts):
                opt.steps = n
                opt.zero_grad()
            return run()
        self.trials += 1
        return out


def _persistent(trainer) -> list:
    """The tensors that live as long as the run (weights, buffers, optimizer and EMA state)."""
    out = [t for net in (trainer.G, trainer.D) for t in net.tensors().values()]
    if trainer.ema is not None:
        out += list(trainer.ema.shadow.tensors().values())
    for opt in (trainer.opt_g, trainer.opt_d):
        out += [*opt.flat, opt.member_of, opt.active, opt.one_minus_b1, opt.b2, opt.one_minus_b2]
    return [t for t in out if torch.is_tensor(t)]  # per-member constants that agree are floats


def capture(trainer, mode: str) -> Capture | None:
    """Compile a member-stacked trainer's passes, loss reductions, optimizer updates and EMA as ``mode``
    says (None for ``none``). Each compiled callable replaces an instance attribute, so state dicts
    keep their keys. A single run is captured as a one-member stack (``loop.make_trainer``): compiling
    a plain module's spectral norm, whose power iteration writes its vectors in place, breaks autograd
    when D runs twice before the backward pass; through ``functional_call`` it does not."""
    cap = Capture(mode)  # validates
    if mode == "none":
        return None
    if not trainer.is_stacked:
        cap.fail(UserError("compiling needs the member-stacked step, which this run cannot take "
                           "(fp16 loss scaling or a time budget)"))
        return cap
    trainer.D_eager = trainer.D.forward  # penalties differentiate D twice, which compiled passes cannot
    for net in (trainer.G, trainer.D):
        net.forward = cap.wrap(net.forward)
    trainer.per_member = cap.wrap(trainer.per_member)
    for opt in (trainer.opt_g, trainer.opt_d):
        opt.update, opt.captured = cap.wrap(opt.update), cap
    if trainer.ema is not None:
        trainer.ema.average, trainer.ema.captured = cap.wrap(trainer.ema.average), cap
    cap.static(_persistent(trainer))
    return cap
