"""The report's figures are drawn once each (savefig's bbox_inches="tight" drew every figure twice to find its
box) and come out with the pixels matplotlib's tight box gives."""

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from ganbench.report import figures

matplotlib.use("Agg")


def _tight_png(fig) -> bytes:
    """The reference: matplotlib's own tight box."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    figures._plt().close(fig)
    return buf.getvalue()


def _fake_samples(ax, run_dir, **_):
    """A panel as _draw_samples makes one: an image grid (seed 0) or a scatter with ticks (other seeds)."""
    rng = np.random.default_rng(int(run_dir.name))
    if run_dir.name == "0":
        ax.imshow(rng.random((50, 50)), cmap="gray", interpolation="nearest"), ax.axis("off")
    else:
        ax.scatter(*rng.normal(size=(2, 300)), s=1.5), ax.set_aspect("equal"), ax.tick_params(labelsize=6)


def _each_figure(tmp_path):
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (run / "metrics.jsonl").write_text("".join(f'{{"step": {s}, "d_loss": {1 / s}, "g_loss": {s / 9}}}\n'
                                               for s in range(1, 40)))
    rows = [{"variant": "a", "quality": 0.5, "train_seconds": 2.0, "train_flops": 1e9},
            {"variant": "long variant name", "quality": 0.4, "train_seconds": 1.0, "train_flops": 2e9}]
    yield figures.sample_strip([tmp_path / "0", tmp_path / "1", tmp_path / "2"], ["seed 0", "seed 1 ✖", "seed 2"])[0]
    yield figures.metric_curves({"a": {100: [0.5, 0.6], 2000: [0.7, 0.8]}, "b": {100: [0.2], 2000: [0.9]}},
                                "fid (lower is better)", "ring8: fid during training")
    yield figures.loss_curves({"a": [run], "a variant with a long name": [run]}, "ring8: losses")
    yield figures.quality_vs_cost(rows, "fid", True, "ring8: fid (final) against training cost")  # tight_layout


def test_each_figure_is_drawn_once_with_the_pixels_of_the_tight_box(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "_draw_samples", _fake_samples)
    draw, draws = Figure.draw, []
    monkeypatch.setattr(Figure, "draw", lambda self, renderer: draws.append(self) or draw(self, renderer))
    ours = list(_each_figure(tmp_path))
    assert len(draws) == len(ours) == 4 and len(set(map(id, draws))) == 4  # one draw per figure
    monkeypatch.setattr(figures, "_png", _tight_png)
    theirs = list(_each_figure(tmp_path))
    assert len(draws) == 4 + 2 * 4  # the reference: two each
    for a, b in zip(ours, theirs):
        pa, pb = (np.asarray(Image.open(io.BytesIO(png))) for png in (a, b))
        assert pa.shape == pb.shape and np.array_equal(pa, pb)


@pytest.mark.parametrize("layout", ["constrained", "tight"])
def test_a_figure_with_a_layout_engine_is_laid_out_before_its_box_is_taken(layout):
    """A figure made with a layout engine (none of the report's is, today) gets the layout its draw would do."""
    def make():
        fig, axes = figures._plt().subplots(1, 2, figsize=(4, 2), layout=layout)
        for ax in axes:
            ax.plot([0, 1e6], [0, 1]), ax.set_ylabel("a long label\non two lines"), ax.set_title("title")
        return fig
    pa, pb = (np.asarray(Image.open(io.BytesIO(png))) for png in (figures._png(make()), _tight_png(make())))
    assert pa.shape == pb.shape and np.array_equal(pa, pb)
