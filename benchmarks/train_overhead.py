"""Steps/s of ganbench's training loop vs a minimal hand-written loop, same model, loss and batch.

Model: DCGAN generator/discriminator at 28x28 (mnist5k), non-saturating loss, Adam, batch 64, no EMA,
no regularizer. Both loops run in this process, alternately, after a warm-up; we print the median
ratio ganbench / hand (target >= 0.97). ganbench is timed over its whole `train()` call, so run-directory
setup, logging and the final checkpoint count against it.

    python benchmarks/train_overhead.py [--steps 150] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F

from ganbench.api import train
from ganbench.config import make_config
from ganbench.data import load_dataset
from ganbench.nets.dcgan import DCGANDiscriminator, DCGANGenerator

CONFIG = {"data": "mnist5k", "generator": "dcgan", "discriminator": "dcgan", "loss": "ns", "batch_size": 64,
          "z_dim": 64, "ema": None, "device": "cpu", "log_every": 50}


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def hand_loop(steps: int, x: torch.Tensor, device: str) -> float:
    torch.manual_seed(0)
    G, D = DCGANGenerator((1, 28, 28), 64).to(device), DCGANDiscriminator((1, 28, 28)).to(device)
    x = x.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    _sync(device)
    t = time.perf_counter()
    perm = torch.randperm(len(x), device=device)
    for step in range(steps):
        i = (step * 64) % (len(x) - 64)
        real = x[perm[i:i + 64]]
        with torch.no_grad():
            fake = G(torch.randn(64, 64, device=device))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn(64, 64, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    d_loss.item(), g_loss.item()  # wait for the last step to finish
    return steps / (time.perf_counter() - t)


def ganbench_loop(steps: int, device: str) -> float:
    cfg = make_config({**CONFIG, "steps": steps, "ckpt_every": steps, "device": device})
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        train(cfg, out=tmp, progress=False)
        _sync(device)
        return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    x = load_dataset({"name": "mnist5k"}).x
    hand_loop(10, x, args.device), ganbench_loop(10, args.device)  # warm-up: allocator, data cache, imports
    ratios = []
    for r in range(args.repeats):
        h = hand_loop(args.steps, x, args.device)
        g = ganbench_loop(args.steps, args.device)
        ratios.append(g / h)
        print(f"repeat {r}: hand {h:.2f} steps/s, ganbench {g:.2f} steps/s, ratio {g / h:.3f}", flush=True)
    print(f"DCGAN-28 batch 64, {args.device}, {args.threads} threads: ganbench/hand median ratio {statistics.median(ratios):.3f} "
          f"(target >= 0.97)")


if __name__ == "__main__":
    main()
