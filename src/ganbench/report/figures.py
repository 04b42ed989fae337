"""Figures for the study report, rendered with matplotlib (Agg) to PNG bytes."""

from __future__ import annotations

import io
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def sample_picture(run_dir: Path, n_images: int = 36, n_points: int = 1500) -> bytes | None:
    """Samples of a run's final generator: an image grid, or a scatter over the real modes (2-D)."""
    from ..api import generate, load_generator
    from ..data import load_dataset
    from ..plots import image_grid

    try:
        G = load_generator(run_dir)
    except Exception:  # noqa: BLE001  (a run without checkpoint simply has no picture)
        return None
    plt = _plt()
    if len(G.data_shape) == 3:
        grid = image_grid(generate(G, n_images, seed=0))
        fig, ax = plt.subplots(figsize=(2.2, 2.2))
        ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray", interpolation="nearest")
        ax.axis("off")
        return _png(fig)
    pts = generate(G, n_points, seed=0).numpy()
    data = load_dataset(G.config.data, "test")
    fig, ax = plt.subplots(figsize=(2.4, 2.4))
    ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.35)
    if data.modes is not None:
        m = data.modes.numpy()
        ax.scatter(m[:, 0], m[:, 1], s=25, marker="x", color="tab:red")
    lim = float(np.abs(data.modes.numpy()).max()) * 1.4 if data.modes is not None else None
    if lim:
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)
    return _png(fig)


def loss_curves(run_dirs: dict[str, list[Path]], title: str) -> bytes:
    """Mean D and G loss over seeds against steps, one colour per variant."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    for i, (variant, dirs) in enumerate(sorted(run_dirs.items())):
        series = defaultdict(list)
        for d in dirs:
            log = d / "metrics.jsonl"
            if log.is_file():
                for line in log.read_text().splitlines():
                    row = json.loads(line)
                    series[row["step"]].append((row["d_loss"], row["g_loss"]))
        steps = sorted(series)
        if not steps:
            continue
        d_mean = [np.mean([v[0] for v in series[s]]) for s in steps]
        g_mean = [np.mean([v[1] for v in series[s]]) for s in steps]
        axes[0].plot(steps, d_mean, label=variant, color=f"C{i % 10}")
        axes[1].plot(steps, g_mean, label=variant, color=f"C{i % 10}")
    axes[0].set_title("D loss", fontsize=9), axes[1].set_title("G loss", fontsize=9)
    for ax in axes:
        ax.set_xlabel("generator step", fontsize=8), ax.tick_params(labelsize=7)
    axes[1].legend(fontsize=6, loc="best")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def metric_curves(points: dict[str, dict[int, list[float]]], metric: str, title: str) -> bytes:
    """A metric against training steps: mean over seeds per variant, with min-max band."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 2.8))
    for i, (variant, by_step) in enumerate(sorted(points.items())):
        steps = sorted(by_step)
        mean = [np.mean(by_step[s]) for s in steps]
        ax.plot(steps, mean, marker="o", ms=3, label=variant, color=f"C{i % 10}")
        ax.fill_between(steps, [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps],
                        color=f"C{i % 10}", alpha=0.15)
    ax.set_xlabel("generator step", fontsize=8), ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=7), ax.legend(fontsize=6)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def pareto_front(costs: list[float], qualities: list[float], lower_better: bool) -> list[bool]:
    """Which points no other point beats on both cost (lower) and quality."""
    flags = []
    for i, (c, q) in enumerate(zip(costs, qualities)):
        dominated = any(
            (c2 <= c and (q2 <= q if lower_better else q2 >= q)) and (c2 < c or q2 != q)
            for j, (c2, q2) in enumerate(zip(costs, qualities)) if j != i)
        flags.append(not dominated)
    return flags


def quality_vs_cost(rows: list[dict], metric: str, lower_better: bool, title: str) -> bytes:
    """Quality (mean over seeds) against train seconds and against FLOPs per sample; Pareto front marked."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    for ax, key, label in ((axes[0], "train_seconds", "train seconds (mean)"),
                           (axes[1], "g_flops_per_sample", "G FLOPs per sample")):
        pts = [(r[key], r["quality"], r["variant"]) for r in rows
               if r.get(key) is not None and not math.isnan(r["quality"])]
        if not pts:
            continue
        front = pareto_front([p[0] for p in pts], [p[1] for p in pts], lower_better)
        for (c, q, v), on in zip(pts, front):
            ax.scatter([c], [q], s=40 if on else 18, color="tab:red" if on else "tab:blue", zorder=3)
            ax.annotate(v, (c, q), fontsize=6, xytext=(3, 3), textcoords="offset points")
        fp = sorted((c, q) for (c, q, _), on in zip(pts, front) if on)
        ax.plot([p[0] for p in fp], [p[1] for p in fp], color="tab:red", lw=1, ls="--", label="Pareto front")
        ax.set_xlabel(label, fontsize=8), ax.set_ylabel(metric, fontsize=8), ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _png(fig)
