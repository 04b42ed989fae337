"""Member-steps/s of a k-member stacked ensemble vs k sequential single runs, eager and compiled, in one process.

Cases: ring8 and grid25 MLP GANs (the library's default MLPs, batch 64; k = 1, 4, 16, 64) and the
28x28 DCGAN on mnist5k (width 64, batch 64; k = 1, 4, 8). Both sides run the library's own step
(``Trainer.step`` from ``loop.make_trainer``) on the same configs (members differ in seed and lr), after
warm-up steps; the sequential side steps each of its k trainers in turn, as k runs one after the other
would. Prints member-steps/s for both and their ratio (ensemble / sequential).

``--compile MODE[,MODE]`` then times the ensemble with its step compiled (training/capture.py; k = 1 is
a compiled single run): compilation happens in the warm-up steps and is reported apart ("compile s":
warm-up time less the same number of steady steps), the steady-state member-steps/s against the eager
ensemble and the eager sequential runs. dynamo's cache is reset before each compiled case and, unless
``--warm-cache``, inductor compiles into a fresh cache directory, so every compile time is a cold one.

Robust to slow compiles: the eager figures of a case are printed (flushed) before its compiled ones,
and with ``--out FILE`` every measurement is appended to FILE as one JSON line as soon as it is done.
On CUDA the share of wall time the GPU spends in kernels (torch.profiler) is measured on the same
trainers for a single run and the largest k of each case, eager and compiled (``--no-kernel-share``
skips it).

    python benchmarks/ensemble.py [--device cpu|cuda] [--steps 30] [--warmup 3] [--threads 1]
                                  [--cases ring8,grid25,dcgan] [--ks 1,16,64] [--compile default]
                                  [--out rows.jsonl] [--warm-cache] [--no-kernel-share]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from ganbench.config import make_config
from ganbench.training.build import build_parts, resolve_device
from ganbench.training.capture import MODES
from ganbench.training.loop import make_trainer

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


def _trainers(cfgs, device, stacked: bool, compile: str = "none") -> list:
    parts = []
    for cfg in cfgs:
        parts.append(build_parts(cfg, device, data=parts[0].data if parts else None))
    if stacked:
        return [make_trainer(cfgs, parts, device, True, compile)]
    return [make_trainer([cfg], [p], device, False, compile) for cfg, p in zip(cfgs, parts)]


def _run(trainers, steps: int, start: int, device) -> float:
    _sync(device)
    t = time.perf_counter()
    for trainer in trainers:
        for step in range(start, start + steps):
            trainer.step(step)
    _sync(device)
    return time.perf_counter() - t


def measure(cfgs, device, stacked: bool, steps: int, warmup: int, compile: str = "none"):
    """(row, trainers): member-steps/s after ``warmup`` steps, and the warm-up's excess over steady steps."""
    trainers = _trainers(cfgs, device, stacked, compile)
    warm = _run(trainers, warmup, 0, device)
    timed = _run(trainers, steps, warmup, device)
    row = {"member_steps_s": len(cfgs) * steps / timed, "warmup_s": warm}
    captured = trainers[0].captured
    if captured is not None:
        row.update(compile_s=max(0.0, warm - warmup * timed / steps), compiled=captured.describe())
    return row, trainers


def kernel_share(trainers, device, steps: int, start: int) -> float:
    """Fraction of wall time covered by GPU kernels (union of their intervals), over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        wall = _run(trainers, steps, start, device)
    spans = sorted((e.time_range.start, e.time_range.end) for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA)
    busy, end = 0.0, -1.0
    for s, e in spans:
        if e > end:
            busy += e - max(s, end)
            end = e
    return busy / 1e6 / wall


class Rows:
    """Each measurement printed at once and, with --out, appended to a JSON-lines file (flushed)."""

    def __init__(self, path: str | None, common: dict):
        self.path, self.common = path, common

    def add(self, row: dict) -> dict:
        row = {**self.common, **row}
        if self.path:
            with open(self.path, "a") as fh:
                fh.write(json.dumps(row) + "\n")
        return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cases", default="ring8,grid25,dcgan")
    ap.add_argument("--ks", default=None, help="member counts for every case, e.g. 1,16,64 (default per case)")
    ap.add_argument("--compile", default="", help=f"compiled modes to time too, comma-separated: {', '.join(MODES[1:])}")
    ap.add_argument("--out", default=None, help="append every measurement to this JSON-lines file")
    ap.add_argument("--warm-cache", action="store_true", help="use inductor's usual cache (default: a fresh one)")
    ap.add_argument("--no-kernel-share", action="store_true", help="skip the profiler passes on CUDA")
    args = ap.parse_args()
    modes = [m for m in args.compile.split(",") if m]
    if any(m not in MODES[1:] for m in modes):
        ap.error(f"--compile takes {', '.join(MODES[1:])}")
    if modes and not args.warm_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="ganbench-inductor-")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    rows = Rows(args.out, {"device": name, "torch": torch.__version__})
    shares = device.type == "cuda" and not args.no_kernel_share
    print(f"device: {name}; torch {torch.__version__}; {args.steps} timed steps after {args.warmup} warm-up steps; "
          f"compiled modes: {', '.join(modes) or 'none'}", flush=True)
    print(f"{'case':8} {'k':>3} {'mode':>15} {'side':>10} {'m-steps/s':>10} {'vs seq':>7} {'vs eager':>8} "
          f"{'compile s':>9} {'GPU busy':>8}", flush=True)
    for case in args.cases.split(","):
        base, ks = CASES[case]
        ks = tuple(int(k) for k in args.ks.split(",")) if args.ks else ks
        for k in ks:
            cfgs = _configs(base, k, device.type)
            share_here = shares and k in (1, max(ks))
            seq_steps = max(2, args.steps // k) if k > 8 else args.steps  # sequential side: fewer steps per run
            seq, trainers = measure(cfgs, device, False, seq_steps, args.warmup)
            if share_here and k == 1:
                seq["kernel_share"] = kernel_share(trainers, device, args.steps, args.warmup + seq_steps)
            del trainers
            _show(rows.add({"case": case, "k": k, "mode": "none", "side": "sequential", **seq}))
            ens, trainers = measure(cfgs, device, True, args.steps, args.warmup)
            ens.update(vs_sequential=ens["member_steps_s"] / seq["member_steps_s"])
            if share_here:
                ens["kernel_share"] = kernel_share(trainers, device, args.steps, args.warmup + args.steps)
            del trainers
            _show(rows.add({"case": case, "k": k, "mode": "none", "side": "ensemble", **ens}))
            for mode in modes:  # compiling may be slow: the eager figures are already out
                torch._dynamo.reset()
                comp, trainers = measure(cfgs, device, True, args.steps, args.warmup, mode)
                comp.update(vs_sequential=comp["member_steps_s"] / seq["member_steps_s"],
                            vs_eager=comp["member_steps_s"] / ens["member_steps_s"])
                if share_here:
                    comp["kernel_share"] = kernel_share(trainers, device, args.steps, args.warmup + args.steps)
                del trainers
                _show(rows.add({"case": case, "k": k, "mode": mode, "side": "ensemble", **comp}))


def _show(row: dict) -> None:
    def f(key, fmt):
        return format(row[key], fmt) if key in row else "-"

    side = "single" if row["k"] == 1 and row["side"] == "ensemble" and row["mode"] != "none" else row["side"]
    note = f"  ({row['compiled']})" if "fell back" in row.get("compiled", "") else ""
    print(f"{row['case']:8} {row['k']:>3} {row['mode']:>15} {side:>10} {f('member_steps_s', '10.1f')} "
          f"{f('vs_sequential', '6.2f'):>7} {f('vs_eager', '7.2f'):>8} "
          f"{f('compile_s', '9.1f'):>9} {f('kernel_share', '8.0%'):>8}{note}",
          flush=True)


if __name__ == "__main__":
    main()
