"""Host-side work of one training step, counted: operations the step dispatches (each a kernel launch on
a GPU; a multi-tensor ``_foreach`` op counts once), for a single run and a k-member stack, whole step
and the optimizer/EMA part alone. Counts are exact and repeatable, unlike host timings on a shared CPU;
run it on two checkouts to compare them. View and allocation ops (no kernel) are not counted.

    python benchmarks/step_ops.py [--k 8] [--cases mlp,dcgan]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from ganbench.config import make_config
from ganbench.training.build import build_parts
from ganbench.training.loop import Trainer
from ganbench.training.schedule import SCHEDULES

NO_KERNEL = {"view", "_unsafe_view", "as_strided", "expand", "t", "transpose", "permute", "unsqueeze", "squeeze",
             "select", "slice", "split", "split_with_sizes", "detach", "alias", "reshape", "_reshape_alias",
             "unbind", "empty", "empty_strided", "lift_fresh"}
CASES = {
    "mlp": {"data": "ring8", "generator": "mlp", "discriminator": "mlp", "batch_size": 64, "ema": 0.999},
    "dcgan": {"data": "mnist5k", "generator": {"name": "dcgan", "width": 8},
              "discriminator": {"name": "dcgan", "width": 8}, "batch_size": 8, "ema": 0.999},
}


class Count(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.n += func.overloadpacket.__name__ not in NO_KERNEL
        return func(*args, **(kwargs or {}))


def counts(base: dict, k: int, steps: int = 5) -> tuple[float, float]:
    cfgs = [make_config({**base, "device": "cpu", "seed": i, "lr_d": 2e-4 * (1 + 0.1 * i), "ema": 0.999 - 0.001 * i})
            for i in range(k)]
    parts = []
    for cfg in cfgs:
        parts.append(build_parts(cfg, torch.device("cpu"), data=parts[0].data if parts else None))
    tr = Trainer.stacked(cfgs, parts, torch.device("cpu")) if k > 1 else Trainer(cfgs[0], parts[0], torch.device("cpu"))
    for s in range(3):
        SCHEDULES[tr.cfg.update](tr, s)
    whole, opt = Count(), Count()
    with whole:
        for s in range(3, 3 + steps):
            SCHEDULES[tr.cfg.update](tr, s)
    with opt:
        for s in range(3 + steps, 3 + 2 * steps):
            tr.opt_d.step()
            tr.opt_g.step()
            tr.ema.update(s)
    return whole.n / steps, opt.n / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--cases", default="mlp,dcgan")
    args = ap.parse_args()
    print(f"{'case':6} {'k':>3} {'ops/step':>9} {'of which Adam+EMA':>18}")
    for case in args.cases.split(","):
        for k in (1, args.k):
            whole, opt = counts(CASES[case], k)
            print(f"{case:6} {k:>3} {whole:>9.0f} {opt:>18.0f}", flush=True)


if __name__ == "__main__":
    main()
