"""Member-steps/s of a k-member stacked ensemble vs k sequential single runs, in the same process.

Cases: ring8 and grid25 MLP GANs (the library's default MLPs, batch 64; k = 1, 4, 16, 64) and the
28x28 DCGAN on mnist5k (width 64, batch 64; k = 1, 4, 8). Both sides run the library's own step
(``SCHEDULES[cfg.update]`` on a ``Trainer``) on the same configs (members differ in seed and lr), after
warm-up steps; the sequential side steps each of its k trainers in turn, as k runs one after the other
would. Prints member-steps/s for both and their ratio (ensemble / sequential). On CUDA it also reports
the share of wall time the GPU spends in kernels (torch.profiler) for one run and for the largest
ensemble.

With ``--compile MODE`` (torch.compile of G's and D's passes, training/capture.py) both sides run
compiled; ``--compile-compare MODE`` runs the ensemble side eager and compiled and prints their ratio too
(compilation happens in the warm-up steps and is not timed).

    python benchmarks/ensemble.py [--device cpu|cuda] [--steps 30] [--threads 1] [--cases ring8,grid25,dcgan]
                                  [--compile none|default|reduce-overhead|max-autotune] [--compile-compare MODE]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ganbench.config import make_config
from ganbench.training.build import build_parts, resolve_device
from ganbench.training.loop import Trainer
from ganbench.training.capture import MODES

CASES = {
    "ring8": ({"data": "ring8", "generator": "mlp", "discriminator": "mlp"}, (1, 4, 16, 64)),
    "grid25": ({"data": "grid25", "generator": "mlp", "discriminator": "mlp"}, (1, 4, 16, 64)),
    "dcgan": ({"data": "mnist5k", "generator": "dcgan", "discriminator": "dcgan"}, (1, 4, 8)),
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _configs(base: dict, k: int, device: str) -> list:
    return [make_config({**base, "batch_size": 64, "device": device, "seed": i, "lr_d": 2e-4 * (1 + 0.1 * i)})
            for i in range(k)]


def _trainers(cfgs, device, stacked: bool, compile: str = "none"):
    parts = []
    for cfg in cfgs:
        parts.append(build_parts(cfg, device, data=parts[0].data if parts else None))
    trainers = [Trainer.stacked(cfgs, parts, device)] if stacked else \
        [Trainer(cfg, p, device) for cfg, p in zip(cfgs, parts)]
    for trainer in trainers:
        trainer.capture(compile)
    return trainers


def _run(trainers, steps: int, start: int, device) -> float:
    _sync(device)
    t = time.perf_counter()
    for trainer in trainers:
        for step in range(start, start + steps):
            trainer.step(step)
    _sync(device)
    return time.perf_counter() - t


def member_steps_per_s(cfgs, device, stacked: bool, steps: int, warmup: int = 3, compile: str = "none") -> float:
    trainers = _trainers(cfgs, device, stacked, compile)
    _run(trainers, warmup, 0, device)
    return len(cfgs) * steps / _run(trainers, steps, warmup, device)


def kernel_share(cfgs, device, stacked: bool, steps: int, compile: str = "none") -> float:
    """Fraction of wall time covered by GPU kernels (union of their intervals), over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    trainers = _trainers(cfgs, device, stacked, compile)
    _run(trainers, 3, 0, device)
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        wall = _run(trainers, steps, 3, device)
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA)
    busy, end = 0.0, -1.0
    for s, e in spans:
        if e > end:
            busy += e - max(s, end)
            end = e
    return busy / 1e6 / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cases", default="ring8,grid25,dcgan")
    ap.add_argument("--ks", default=None, help="override the member counts, e.g. 1,4")
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--compile", default="none", choices=MODES, help="torch.compile mode for both sides")
    ap.add_argument("--compile-compare", default=None, choices=MODES[1:],
                    help="also time the ensemble compiled with this mode against eager")
    ap.add_argument("--no-kernel-share", action="store_true", help="skip the profiler pass on CUDA")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}; torch {torch.__version__}; {args.steps} timed steps after 3 warm-up steps; "
          f"compile={args.compile}")
    extra = f" {'compiled':>12} {'c/eager':>7}" if args.compile_compare else ""
    print(f"{'case':8} {'k':>3} {'sequential':>12} {'ensemble':>12} {'ratio':>7}{extra}   (member-steps/s)")
    rows = []
    for case in args.cases.split(","):
        base, ks = CASES[case]
        if args.ks:
            ks = tuple(int(k) for k in args.ks.split(","))
        for k in ks:
            cfgs = _configs(base, k, device.type)
            seq_steps = max(2, args.steps // k) if k > 8 else args.steps  # sequential side: fewer steps per run
            seq = member_steps_per_s(cfgs, device, False, seq_steps, compile=args.compile)
            ens = member_steps_per_s(cfgs, device, True, args.steps, compile=args.compile)
            row = {"case": case, "k": k, "sequential": seq, "ensemble": ens, "ratio": ens / seq, "device": name,
                   "compile": args.compile}
            print(f"{case:8} {k:>3} {seq:>12.1f} {ens:>12.1f} {ens / seq:>6.2f}x", end="", flush=True)
            if args.compile_compare:  # compiling may be slow: the eager figures are already printed
                comp = member_steps_per_s(cfgs, device, True, args.steps, warmup=5, compile=args.compile_compare)
                row.update(compiled=comp, compiled_mode=args.compile_compare, compiled_over_eager=comp / ens)
                print(f" {comp:>12.1f} {comp / ens:>6.2f}x", end="")
            rows.append(row)
            print(flush=True)
    if device.type == "cuda" and not args.no_kernel_share:
        for case in args.cases.split(","):
            base, ks = CASES[case]
            k = max(tuple(int(k) for k in args.ks.split(","))) if args.ks else max(ks)
            single = kernel_share(_configs(base, 1, "cuda"), device, False, args.steps, args.compile)
            stack = kernel_share(_configs(base, k, "cuda"), device, True, args.steps, args.compile)
            rows.append({"case": case, "kernel_share_single": single, f"kernel_share_k{k}": stack, "device": name})
            print(f"GPU busy in kernels, {case}: single run {single:.0%}, {k}-member ensemble {stack:.0%}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
