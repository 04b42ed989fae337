"""OpenMP's wait policy on shared cores: steps per second of one training (a pacgan-2d grid25 PacGAN3 MLP
pair, torch threads = usable cores) with OMP_WAIT_POLICY=ACTIVE (libgomp spins at barriers) against
PASSIVE (ganbench's default, waitpolicy.py), as the machine is and beside one more busy process per core
(run it on an idle machine for the idle figure). Each measurement runs in a fresh process, since libgomp
reads the policy once.

    python benchmarks/wait_policy.py [--steps 200] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

from ganbench.study.executors import usable_cores

CHILD = r"""
import json, sys, tempfile, time, torch, ganbench
torch.set_num_threads(int(sys.argv[2]))
cfg = {"data": {"name": "grid25", "n": 10000}, "generator": {"name": "mlp", "hidden": 400, "depth": 4, "norm": "batch"},
       "discriminator": {"name": "mlp", "hidden": 200, "depth": 3, "activation": "maxout", "pieces": 5},
       "pack": 3, "batch_size": 100, "batch_unit": "packs", "update": "simultaneous", "ema": None,
       "steps": int(sys.argv[1]), "log_every": 100000, "ckpt_every": 100000}
with tempfile.TemporaryDirectory() as out:
    ganbench.train(dict(cfg, steps=5), out=out + "/warm")  # imports, data, first allocations
    t = time.perf_counter()
    ganbench.train(cfg, out=out + "/run")
    print(json.dumps({"seconds": time.perf_counter() - t}))
"""


@contextmanager
def busy(n: int):
    """n processes spinning in Python: other work on the same cores."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def steps_per_second(policy: str, steps: int, threads: int) -> float:
    env = dict(os.environ, OMP_WAIT_POLICY=policy)
    out = subprocess.run([sys.executable, "-c", CHILD, str(steps), str(threads)], env=env, capture_output=True,
                         text=True, check=True).stdout
    return steps / json.loads(out.strip().splitlines()[-1])["seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cores = usable_cores()
    print(f"{cores} usable cores, torch threads {cores}, {args.steps} steps, best of {args.repeats}")
    for load in (0, cores):
        with busy(load):
            time.sleep(0.5 if load else 0)
            rate = {p: max(steps_per_second(p, args.steps, cores) for _ in range(args.repeats))
                    for p in ("ACTIVE", "PASSIVE")}
        print(f"{'as the machine is' if not load else f'+ {load} busy processes':>20}: ACTIVE {rate['ACTIVE']:7.1f} steps/s, "
              f"PASSIVE {rate['PASSIVE']:7.1f} steps/s, PASSIVE/ACTIVE {rate['PASSIVE'] / rate['ACTIVE']:.2f}x")


if __name__ == "__main__":
    main()
