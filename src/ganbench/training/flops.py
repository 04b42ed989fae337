"""Training cost in FLOPs: every phase of a real training step counted with ``torch.utils.flop_counter``.

The counter sees matrix products and convolutions, forward and backward (so D's and G's passes, n_dis,
n_gen, packing, and the extra forward/backward passes of gradient penalties are all in). Lazy regularizers fire
on some steps only; their pattern repeats every ``lcm(every)`` training steps, so those steps are
measured once, on a throwaway copy of the run's parts, and the pattern is summed over the budget.
Elementwise work (optimizer updates, activations) is not counted; the EMA of G's weights is added as
2 FLOPs per parameter per step (one multiply, one add).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import RunConfig
from ..errors import UserError


@dataclass(frozen=True)
class StepFlops:
    pattern: tuple[float, ...]  # FLOPs of training steps 0, 1, ..., period-1 (then it repeats)
    phases: dict  # mean FLOPs per step of each phase: d (all n_dis updates), g (all n_gen), ema (or step, for joint schedules)

    def total(self, steps: int) -> float:
        """FLOPs of the first ``steps`` training steps."""
        full, rest = divmod(steps, len(self.pattern))
        return full * sum(self.pattern) + sum(self.pattern[:rest])

    def steps_for(self, budget: float) -> int:
        """The first step count whose FLOPs reach ``budget`` (a run stops at the first step past it)."""
        if budget < self.pattern[0]:
            raise UserError(f"a FLOPs budget of {budget:.3g} is smaller than one training step "
                            f"({self.pattern[0]:.3g} FLOPs)")
        period = sum(self.pattern)
        full = max(int(budget // period) - 1, 0)
        steps, spent = full * len(self.pattern), full * period
        while spent < budget:
            spent += self.pattern[steps % len(self.pattern)]
            steps += 1
        return steps


class _NoModules:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks break torch.autograd.grad
    on leaf inputs (gradient penalties); we need the global total only."""

    parents = ("Global",)

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def _count(fn) -> float:
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModules()
    with counter:
        fn()
    return float(counter.get_total_flops())


def step_flops(cfg: RunConfig) -> StepFlops:
    """Measure the FLOPs of one period of training steps of ``cfg`` on the CPU (weights are thrown away)."""
    from .build import build_parts
    from .loop import Trainer
    from .schedule import SCHEDULES

    cfg = cfg.model_copy(update={"device": "cpu", "amp": "none"})
    device = torch.device("cpu")
    trainer = Trainer(cfg, build_parts(cfg, device), device)
    period = math.lcm(*[reg.every for reg in trainer.p.regularizers]) if trainer.p.regularizers else 1
    ema = 2.0 * sum(p.numel() for p in trainer.p.G.parameters()) if cfg.ema is not None else 0.0
    pattern, sums = [], {}
    for step in range(period):
        if cfg.update == "alternating":  # D and G counted apart, to show where the cost goes
            phases = {"d": sum(_count(lambda k=k: trainer.d_step(step * cfg.n_dis + k)) for k in range(cfg.n_dis)),
                      "g": sum(_count(lambda: trainer.g_step(step)) for _ in range(cfg.n_gen))}
        else:
            phases = {"step": _count(lambda: SCHEDULES[cfg.update](trainer, step))}
        phases["ema"] = ema
        pattern.append(sum(phases.values()))
        for k, v in phases.items():
            sums[k] = sums.get(k, 0.0) + v
    return StepFlops(tuple(pattern), {k: v / period for k, v in sums.items()})
