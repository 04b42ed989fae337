"""Figures for the study report, rendered with matplotlib (Agg) to PNG bytes."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plain(text: str) -> str:
    """Text as matplotlib must show it: a name from a study (a dataset, a variant) is never mathtext, where a
    stranger's ``$\\foo$`` would stop the report (an unknown symbol raises at drawing time)."""
    return str(text).replace("$", r"\$")


DPI = 90


def _png(fig) -> bytes:
    """The figure as PNG, cropped to its artists plus savefig's pad, as ``bbox_inches="tight"`` crops it, but
    drawn once: "tight" (and any layout engine, even the inert one ``tight_layout`` leaves) makes savefig draw
    the whole figure a first time to find the box, which doubled the report's drawing (mostly the sample strips'
    image compositing). The box comes here from the artists' extents, which need no drawing: the same box,
    hence the same pixels, on each of the quick study's 18 figures."""
    plt = _plt()
    fig.set_dpi(DPI)  # text extents (hence the box and any layout) at the resolution saved
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)  # what the first draw would have done; then there is nothing left for it to do
        fig.set_layout_engine(None)
    box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches=box)
    plt.close(fig)
    return buf.getvalue()


NO_CHECKPOINT = "no checkpoint"


N_IMAGES, N_POINTS = 36, 1500  # what one panel shows: a 6 x 6 image grid, or a scatter of 2-D points


def _draw_samples(ax, run_dir: Path) -> str | None:
    """Samples of a run's final generator on ``ax``: an image grid, or a scatter over the real modes (2-D).
    None when drawn, else why not: NO_CHECKPOINT (a run that saved none), or the loader's own message
    (a refused link, a damaged checkpoint), which the report must say rather than draw a blank."""
    from ..api import generate, load_generator
    from ..data.base import standard_pixels
    from ..data import load_dataset
    from ..data.mnist import local_only
    from ..training.checkpoint import list_checkpoints

    try:
        if not list_checkpoints(run_dir / "checkpoints"):  # a run that failed before its first save
            return NO_CHECKPOINT
        G = load_generator(run_dir)
        if len(G.data_shape) != 3:  # the modes of the data the run names: read here, never fetched (real_strip)
            with local_only():
                modes = load_dataset(G.config.data, "test").modes
    except Exception as exc:  # noqa: BLE001  (one run's damage is named, the report goes on)
        return str(exc) or type(exc).__name__
    if len(G.data_shape) == 3:
        _draw_images(ax, standard_pixels(generate(G, N_IMAGES, seed=0), G.config.data))
        return None
    _draw_points(ax, generate(G, N_POINTS, seed=0).numpy(), modes)
    return None


# The widest image a panel draws, in pixels: a panel of 36 is ~140 px wide on the page; 36 images of 1024 px
# (a stranger's folder at resolution 1024) made a 6151 px grid that imshow took 1.8 GB to draw
SHOWN_MAX = 128


def _draw_images(ax, images) -> None:
    """[-1, 1] NCHW images as one grid (real data's panel is drawn by the same lines as a run's); images
    larger than SHOWN_MAX are area-averaged down to it first."""
    import torch.nn.functional as F

    from ..plots import image_grid

    h, w = images.shape[-2:]
    if max(h, w) > SHOWN_MAX:
        scale = SHOWN_MAX / max(h, w)
        images = F.interpolate(images.float(), size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    grid = image_grid(images)
    ax.imshow(grid[..., 0] if grid.shape[2] == 1 else grid, cmap="gray", interpolation="nearest")
    ax.axis("off")


def _draw_points(ax, pts: np.ndarray, modes) -> None:
    """2-D points over the mixture's modes (red x), on square axes fixed by the modes (1.4 times their
    largest coordinate), so every panel of a dataset, real data's too, has the same scale."""
    ax.scatter(pts[:, 0], pts[:, 1], s=1.5, alpha=0.35, zorder=2)  # above the modes: real data's tight
    if modes is not None:                                           # clusters (ring8's sigma 0.01) stay visible
        m = modes.numpy()
        ax.scatter(m[:, 0], m[:, 1], s=25, marker="x", color="tab:red", zorder=1)
        lim = float(np.abs(m).max()) * 1.4
        if lim:
            ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)


def _strip(columns: int):
    """A strip's figure and its ``columns`` panels, 2.0 x 2.2 inches each: one layout for every strip."""
    fig, axes = _plt().subplots(1, columns, figsize=(2.0 * columns, 2.2), squeeze=False)
    return fig, list(axes[0])


def real_panel(data, spec: dict, title: str, columns: int = 1) -> bytes:
    """One panel of real samples drawn as a run's samples are (``_draw_samples``): the first N_IMAGES
    images or N_POINTS points of ``data`` (the caller chooses and orders them). It is the first panel of a
    strip of ``columns`` (the variants' seeds) with the others removed, so its axes have the size and scale
    of each seed's beside it (a figure of one panel would spread its axes over more of the width)."""
    from ..data.base import standard_pixels

    fig, axes = _strip(columns)
    for other in axes[1:]:
        fig.delaxes(other)
    if data.is_image:
        _draw_images(axes[0], standard_pixels(data.x[:N_IMAGES], spec))
    else:
        _draw_points(axes[0], data.x[:N_POINTS].numpy(), data.modes)
    axes[0].set_title(_plain(title), fontsize=7)
    return _png(fig)


def sample_strip(run_dirs: list[Path], titles: list[str]) -> tuple[bytes | None, list[tuple[Path, str]]]:
    """The samples of several runs side by side (one variant, every seed), and the runs whose samples could
    not be drawn for a reason other than having no checkpoint, with that reason."""
    if not run_dirs:
        return None, []
    fig, axes = _strip(len(run_dirs))
    drawn, failed = 0, []
    for ax, d, title in zip(axes, run_dirs, titles):
        why = _draw_samples(ax, d)
        if why is None:
            drawn += 1
        else:
            ax.axis("off")
            ax.text(0.5, 0.5, NO_CHECKPOINT if why == NO_CHECKPOINT else "not drawn:\nsee below",
                    ha="center", va="center", fontsize=7)
            if why != NO_CHECKPOINT:
                failed.append((d, why))
        ax.set_title(_plain(title), fontsize=7)
    if not drawn:
        _plt().close(fig)
        return None, failed
    return _png(fig), failed


def _step_axis(ax) -> None:
    """Generator steps on x: at most 6 whole-number ticks, thousands as "k" (20000 reads 20k), so the labels
    of a narrow panel never run into each other."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"))
    ax.set_xlabel("generator step", fontsize=8), ax.tick_params(labelsize=7)


def _losses(run_dir: Path):
    """(step, D loss, G loss) of each line of a study run's training log (STUDY/runs/NAME/metrics.jsonl). The
    log is a stranger's data: one missing, special or larger than limits.py allows gives no curve; a line
    that is no such row (cut short by a kill, or edited) is skipped."""
    from ..confine import read_stored
    from ..errors import UserError
    from ..limits import MAX_STORED_LOG
    from ..training.rundir import log_rows

    try:
        text = read_stored(run_dir.parent.parent, run_dir / "metrics.jsonl", MAX_STORED_LOG)
    except (OSError, UserError):
        return
    for row in log_rows(text.splitlines()):  # bytes: a line that is no UTF-8 is skipped, as eval's reader does
        if type(row.get("step")) is int and all(type(row.get(k)) in (int, float) for k in ("d_loss", "g_loss")):
            yield row["step"], row["d_loss"], row["g_loss"]


def loss_curves(run_dirs: dict[str, list[Path]], title: str) -> bytes:
    """Mean D and G loss over seeds against steps, one colour per variant."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8))
    for i, (variant, dirs) in enumerate(sorted(run_dirs.items())):
        series = defaultdict(list)
        for d in dirs:
            for step, d_loss, g_loss in _losses(d):
                series[step].append((d_loss, g_loss))
        steps = sorted(series)
        if not steps:
            continue
        d_mean = [np.mean([v[0] for v in series[s]]) for s in steps]
        g_mean = [np.mean([v[1] for v in series[s]]) for s in steps]
        axes[0].plot(steps, d_mean, label=_plain(variant), color=f"C{i % 10}")
        axes[1].plot(steps, g_mean, label=_plain(variant), color=f"C{i % 10}")
    axes[0].set_title("D loss", fontsize=9), axes[1].set_title("G loss", fontsize=9)
    axes[0].set_ylabel("D loss", fontsize=8), axes[1].set_ylabel("G loss", fontsize=8)
    for ax in axes:
        _step_axis(ax)
    axes[1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(_plain(title), fontsize=9)
    return _png(fig)


def metric_curves(points: dict[str, dict[int, list[float]]], ylabel: str, title: str) -> bytes:
    """A metric against training steps: mean over seeds per variant, with min-max band; ``ylabel`` names the
    metric and its direction."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 2.8))
    for i, (variant, by_step) in enumerate(sorted(points.items())):
        steps = sorted(by_step)
        mean = [np.mean(by_step[s]) for s in steps]
        ax.plot(steps, mean, marker="o", ms=3, label=_plain(variant), color=f"C{i % 10}")
        ax.fill_between(steps, [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps],
                        color=f"C{i % 10}", alpha=0.15)
    _step_axis(ax), ax.set_ylabel(_plain(ylabel), fontsize=8)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    ax.set_title(_plain(title), fontsize=9)
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


MARKERS = "osD^vP*Xh<>p"


def quality_vs_cost(rows: list[dict], metric: str, lower_better: bool, title: str) -> bytes:
    """Quality (mean over seeds) against training FLOPs and against train seconds, each with its Pareto front.
    Variants are told apart by colour and marker in one legend (no labels on the points to overlap)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(8.6, 3.1))
    handles = {}
    for ax, key, label in ((axes[0], "train_flops", "training FLOPs (mean per run)"),
                           (axes[1], "train_seconds", "train seconds (mean per run)")):
        pts = [(r[key], r["quality"], i, r["variant"]) for i, r in enumerate(rows)
               if r.get(key) is not None and not math.isnan(r["quality"])]
        if not pts:
            ax.set_axis_off()
            continue
        front = pareto_front([p[0] for p in pts], [p[1] for p in pts], lower_better)
        for (c, q, i, v), on in zip(pts, front):
            h = ax.scatter([c], [q], s=46 if on else 26, color=f"C{i % 10}", marker=MARKERS[i % len(MARKERS)],
                           edgecolors="black" if on else "none", linewidths=1.2, zorder=3)
            handles.setdefault(v, h)
        fp = sorted((c, q) for (c, q, _, _), on in zip(pts, front) if on)
        (line,) = ax.plot([p[0] for p in fp], [p[1] for p in fp], color="0.3", lw=1, ls="--", zorder=2)
        handles.setdefault("Pareto front", line)
        ax.set_xlabel(label, fontsize=8), ax.set_ylabel(_plain(f"{metric} ({'lower' if lower_better else 'higher'} is "
                                                               "better)"), fontsize=8)
        ax.tick_params(labelsize=7)
        if key == "train_flops":
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    fig.legend(list(handles.values()), [_plain(v) for v in handles], fontsize=6.5, loc="center left",
               bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(_plain(title), fontsize=9)
    fig.tight_layout()
    return _png(fig)
