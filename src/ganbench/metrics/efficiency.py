"""Efficiency of a trained GAN: size, compute per sample, sampling speed, training speed, memory."""

from __future__ import annotations

import math
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def flops_per_sample(G: nn.Module, z_dim: int, batch: int = 8) -> float:
    """Floating-point operations of one generator forward pass per sample (torch.utils.flop_counter;
    a multiply-add counts as 2)."""
    device = next(G.parameters()).device
    counter = FlopCounterMode(display=False)
    with counter:
        G(torch.zeros(batch, z_dim, device=device))
    return counter.get_total_flops() / batch


@torch.no_grad()
def sampling_throughput(G: nn.Module, z_dim: int, batch: int = 256, warmup: int = 2, repeats: int = 5) -> dict:
    """Samples per second at ``batch``, median over ``repeats`` timed batches after ``warmup`` ones."""
    device = next(G.parameters()).device
    z = torch.randn(batch, z_dim, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        G(z)
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        G(z)
        sync()
        times.append(time.perf_counter() - t)
    return {"samples_per_s": batch / statistics.median(times), "sampling_batch": batch}


def _seconds(row: dict, key: str) -> float | None:
    value = row.get(key)
    return value if type(value) in (int, float) and 0 <= value < math.inf else None


def train_step_time(run_dir: str | Path) -> dict:
    """Median seconds per generator step (including its n_dis D steps) from a run's metrics log, and the
    wall time of its last row that has one. The log is a stranger's data: read as a stored file (a FIFO, a
    link out of the run or a line past the bound is refused in one line); a line that is no row (a kill
    mid-line, an edit) and a value that is no finite number of seconds are skipped."""
    from ..confine import stored_lines
    from ..limits import MAX_STORED_LOG_LINE
    from ..training.rundir import log_rows

    run_dir = Path(run_dir)
    per_step, wall = [], None
    for row in log_rows(stored_lines(run_dir, run_dir / "metrics.jsonl", MAX_STORED_LOG_LINE)):
        if (step := _seconds(row, "sec_per_step")) is not None:
            per_step.append(step)
        if (seconds := _seconds(row, "wall_s")) is not None:
            wall = seconds
    return {"sec_per_step": statistics.median(per_step) if per_step else None, "train_wall_s": wall}


def peak_memory(device: torch.device | str = "cpu") -> dict:
    """Peak memory so far: torch.cuda.max_memory_allocated on a GPU, else this process's peak RSS."""
    if torch.device(device).type == "cuda":
        return {"peak_memory_bytes": int(torch.cuda.max_memory_allocated()), "peak_memory_kind": "cuda_allocated"}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_memory_bytes": int(rss if sys.platform == "darwin" else rss * 1024), "peak_memory_kind": "rss"}


def efficiency(G: nn.Module, D: nn.Module | None, z_dim: int, run_dir: str | Path | None = None) -> dict:
    out = {"g_params": parameter_count(G), "g_flops_per_sample": flops_per_sample(G, z_dim)}
    if D is not None:
        out["d_params"] = parameter_count(D)
    out.update(sampling_throughput(G, z_dim))
    if run_dir is not None:
        out.update(train_step_time(run_dir))
    out.update(peak_memory(next(G.parameters()).device))
    return out
