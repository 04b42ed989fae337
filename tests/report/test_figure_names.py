"""The report's figures draw a study's names (datasets, variants, metrics) as plain text: a stranger's name with
dollar signs is not mathtext, where an unknown symbol stopped the whole report at drawing time."""

import pytest

from ganbench.report import figures

NAMES = [r"a$\foo$", r"x$\frac{$y", "$1 and $2", "<script>é\n"]


@pytest.mark.parametrize("name", NAMES)
def test_figures_draw_any_name(tmp_path, name):
    png = figures.metric_curves({name: {100: [0.5, 0.6], 200: [0.7, 0.8]}}, name, f"{name}: during training")
    assert png.startswith(b"\x89PNG")
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 1, "d_loss": 1.0, "g_loss": 2.0}\n')
    assert figures.loss_curves({name: [run]}, f"{name}: losses").startswith(b"\x89PNG")
    rows = [{"variant": name, "quality": 0.5, "train_seconds": 2.0, "train_flops": 1e9},
            {"variant": "other", "quality": 0.4, "train_seconds": 1.0, "train_flops": 2e9}]
    assert figures.quality_vs_cost(rows, name, False, f"{name}: cost").startswith(b"\x89PNG")
    png, failed = figures.sample_strip([tmp_path / "none"], [f"seed 0 {name}"])
    assert png is None and failed == []  # no checkpoint: said on the panel, and nothing drawn


def test_a_name_is_shown_as_written_not_as_math():
    assert figures._plain(r"a$\foo$") == r"a\$\foo\$"
    from matplotlib.text import Text

    assert Text(text=figures._plain(r"a$\foo$"))._preprocess_math(figures._plain(r"a$\foo$"))[1] is False
