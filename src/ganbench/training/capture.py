"""Optional capture of the networks' passes with ``torch.compile``, against small-step overhead on a GPU.

A small GAN's step is a few hundred tiny kernels; launching them from Python costs more than running
them. ``compile`` (run option / ``ganbench train|ensemble --compile``) compiles the forward pass of G
and D (AOTAutograd compiles their backward with it): ``default`` fuses elementwise kernels,
``reduce-overhead`` also replays them as CUDA graphs, ``max-autotune`` searches kernel configurations.
The default is ``none`` (eager), which is also the only mode under the exactness guarantees (a member
equal to its single run to 1e-10 in float64): compiled kernels round differently. Draws, losses,
Adam and the EMA stay eager.

Capture fails soft: where compiling is not possible (no compiler, an unsupported Python, an operation
dynamo cannot trace) the first failure is reported in one line on stderr and every captured part runs
eagerly from then on.
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
        self.mode, self.failed = mode, False

    def fail(self, exc: BaseException) -> None:
        if not self.failed:
            first = (str(exc).strip().splitlines() or [""])[0][:200]
            log.warning("ganbench: compile=%s not possible here (%s: %s); training eagerly", self.mode,
                        type(exc).__name__, first)
        self.failed = True

    def wrap(self, fn):
        try:
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

    def begin_step(self) -> None:
        """CUDA graph trees reuse their output memory from one step to the next: say a step begins."""
        if self.mode == "reduce-overhead" and not self.failed:
            torch.compiler.cudagraph_mark_step_begin()


def capture(trainer, mode: str) -> Capture | None:
    """Compile the trainer's G and D forward passes as ``mode`` says (None for ``none``)."""
    if mode == "none":
        Capture(mode)  # validates
        return None
    cap = Capture(mode)
    for net in (trainer.G, trainer.D):
        net.forward = cap.wrap(net.forward)  # the instance attribute: state dicts keep their keys
    return cap
