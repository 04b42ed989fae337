"""The samples section's real-data strip: real samples of the split the final checkpoints are evaluated
against (the store's protocol; the train split's reference subset), taken by the reference subset's own
permutation (seed 0, as its caption says), drawn at the variants' scale, first; a dataset that cannot be
loaded here (no file, a path outside the study, a name this installation lacks) is one line, nothing is
downloaded, and the rest of the section renders."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from jinja2 import Environment
from PIL import Image

from ganbench.confine import STUDY, confined
from ganbench.data import load_dataset
from ganbench.data.base import Dataset
from ganbench.data import mnist
from ganbench.evaluate import SUBSET_SEED, _subset
from ganbench.report import figures, pictures
from ganbench.report.template import SECTIONS
from ganbench.report.view import DatasetView


def _view(data: dict, split: str | None = "train", seeds: int = 3) -> DatasetView:
    """A dataset's view whose runs were trained on ``data`` and whose final rows name ``split``."""
    runs = [{"run_id": f"{data['name']}__ns__s{s}", "variant": "ns", "seed": s, "status": "done",
             "config": {"data": data}} for s in range(seeds)]
    evals = [] if split is None else [
        {"run_id": r["run_id"], "variant": "ns", "metric": "fid", "step": 10, "value": 1.0, "tags": tags,
         "protocol": {"split": how, "ema": False}}
        for r in runs
        for tags, how in ((["final", "selected"], split), (["repeat"], "train"), (["best", "heldout"], "test"))]
    return DatasetView(data["name"], "fid", True, runs, evals, {}, [], {}, Path("."), ["ns"])


def _drawn(monkeypatch) -> list:
    """What real_panel is given: (data, spec, title, columns) of each call."""
    calls, panel = [], figures.real_panel
    monkeypatch.setattr(figures, "real_panel", lambda *a: calls.append(a) or panel(*a))
    return calls


@pytest.mark.parametrize("spec,split,n", [({"name": "ring8", "n": 4000}, "train", 1500),
                                          ({"name": "ring8", "n": 4000}, "test", 1000),  # the test split: 1000 rows
                                          ({"name": "ring8", "n": 4000}, None, 1500),  # no protocol: evaluation's
                                          ({"name": "digits"}, "train", 36)])
def test_the_strip_is_the_reference_splits_rows_in_the_stated_seeds_order(monkeypatch, spec, split, n):
    calls = _drawn(monkeypatch)
    strip = pictures.real_strip(_view(spec, split), columns=3)
    used = split or "train"
    real = load_dataset(spec, used)
    rows = torch.randperm(len(real), generator=torch.Generator().manual_seed(SUBSET_SEED))[:n]
    ((data, given, title, columns),) = calls
    assert torch.equal(data.x, real.x[rows]) and given == spec and columns == 3
    assert title == f"{used} split, seed {SUBSET_SEED}" and strip["png"] and strip["not_drawn"] == []
    what = "images" if real.is_image else "points"
    assert strip["variant"] == (f"real data: {n} {what} of the {used} split (the final evaluations' reference), "
                                f"drawn with seed {SUBSET_SEED}")
    if len(real) > 2500:  # more rows than the evaluation takes: they are the start of its reference subset
        assert torch.equal(data.x, _subset(real, 2500).x[:n])


def _png(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def _frame(png: np.ndarray) -> tuple[list, list]:
    """The pixel columns and rows of an axes' frame: the dark lines longer than 100 pixels."""
    dark = png[..., :3].astype(int).sum(2) < 100
    return np.nonzero(dark.sum(0) > 100)[0].tolist(), np.nonzero(dark.sum(1) > 100)[0].tolist()


def test_the_real_panel_has_the_size_and_scale_of_a_seeds_panel(monkeypatch):
    """Drawn as the first of a strip of 3 with the others removed, the real panel's axes lie where the first
    seed's lie in a 3-seed strip drawing the same points, frame for frame (a figure of one panel spread its
    axes wider: 140 pixels against 123 on the quick study's digits)."""
    data = load_dataset({"name": "ring8", "n": 2000}, "train")
    monkeypatch.setattr(figures, "_draw_samples", lambda ax, d: figures._draw_points(ax, data.x.numpy(), data.modes))
    strip, _ = figures.sample_strip([Path(str(s)) for s in range(3)], ["same title"] * 3)
    real, strip = _png(figures.real_panel(data, {"name": "ring8"}, "same title", 3)), _png(strip)
    assert real.shape[0] == strip.shape[0] and real.shape[1] < strip.shape[1] / 2
    columns, rows = _frame(real)
    assert len(columns) == len(rows) == 2 and columns[1] - columns[0] > 100  # one square frame
    assert _frame(strip[:, :real.shape[1]]) == (columns, rows)
    # the same axes limits (the modes' 1.4 times) and ticks: the frame's surroundings are the same pixels
    assert np.array_equal(real[:, :columns[0] + 1], strip[:, :columns[0] + 1])


def _no_download(monkeypatch):
    def refuse(*_):
        raise AssertionError("the report downloaded data")

    monkeypatch.setattr(mnist, "_from_web", refuse)
    monkeypatch.setattr(mnist, "_from_npm", refuse)
    monkeypatch.delenv("GANBENCH_OFFLINE", raising=False)  # local_only alone keeps it off the network
    monkeypatch.delenv("GANBENCH_DATA", raising=False)


@pytest.mark.parametrize("spec,says", [
    ({"name": "mnist"}, "mnist not found (looked at the given path, $GANBENCH_DATA, the cache"),
    ({"name": "npz", "path": "/etc/elsewhere.npz"}, "its stored data.path '/etc/elsewhere.npz'"),
    ({"name": "a-strangers-plugin"}, "unknown dataset 'a-strangers-plugin'")])
def test_data_that_cannot_load_here_is_one_line_and_nothing_is_downloaded(monkeypatch, capsys, tmp_path, spec, says):
    _no_download(monkeypatch)
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "empty"))
    with confined(tmp_path, STUDY):
        strip = pictures.real_strip(_view(spec))
    (line,) = strip["not_drawn"]
    assert strip["png"] is None and "\n" not in line and says in line
    assert line.startswith(f"the {spec['name']} data cannot be loaded here: ")
    assert capsys.readouterr().err == f"report: {line}\n"


def test_the_section_renders_with_real_data_first_or_its_line(monkeypatch, capsys, tmp_path):
    _no_download(monkeypatch)
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "empty"))
    monkeypatch.setattr(figures, "sample_strip", lambda dirs, titles: (b"variant-png", []))
    render = Environment(autoescape=True).from_string(SECTIONS["samples"]).render
    html = render(s=pictures.samples(_view({"name": "ring8", "n": 4000})))
    assert html.index('<figure class="real"><figcaption>real data: 1500 points of the train split') < html.index(
        "<figcaption>ns</figcaption>")
    assert html.count("<img") == 2
    html = render(s=pictures.samples(_view({"name": "mnist"})))  # not loadable here: its line, then the variant
    assert html.count("Not drawn: the mnist data cannot be loaded here: mnist not found") == 1
    assert html.count("<img") == 1 and 'alt="samples of ns, every seed"' in html


def test_runs_trained_on_different_settings_of_the_data_get_one_line(capsys):
    view = _view({"name": "ring8", "n": 4000})
    view.runs[0]["config"]["data"] = {"name": "ring8", "n": 8000}
    strip = pictures.real_strip(view)
    assert strip["png"] is None and strip["not_drawn"] == [
        "the ring8 data is not drawn: its runs were trained on 2 different settings of it"]


@pytest.mark.parametrize("other", [{"name": "ring8", "n": "4000"}, {"name": "ring8", "n": 4e3},
                                   {"n": 4000.0, "name": "ring8"}])
def test_runs_whose_stored_options_validate_alike_are_one_setting(monkeypatch, other):
    """Settings are compared as loading reads them: a stored "4000" or 4e3 is n 4000, as {"n": 4000} (raw
    JSON made them two settings, and the strip a line). The default written out or left out is one too."""
    calls = _drawn(monkeypatch)
    view = _view({"name": "ring8", "n": 4000})
    view.runs[1]["config"]["data"] = other
    strip = pictures.real_strip(view)
    assert strip["png"] and strip["not_drawn"] == [] and len(calls) == 1
    assert len(calls[0][0].x) == 1500
    view = _view({"name": "ring8"})
    view.runs[0]["config"]["data"] = {"name": "ring8", "n": 100_000}
    assert pictures.real_strip(view)["not_drawn"] == []


@pytest.mark.parametrize("n", [1_000_000, "1000000", 1e6])  # as the options' validation reads them: the same n
def test_a_split_too_large_to_load_for_a_strip_is_one_line_and_not_loaded(monkeypatch, capsys, n):
    """A stranger's study may name Stacked MNIST with 1,000,000 images: 9.4 GB loaded to draw 36. Above
    REAL_IMAGES_MAX the strip is one line, decided from the stored options without loading anything, the
    options read as loading reads them (a JSON string "1000000" or 1e6 is the integer 1,000,000 there)."""
    loaded = []
    monkeypatch.setattr("ganbench.data.load_dataset", lambda *a: loaded.append(a))
    strip = pictures.real_strip(_view({"name": "stacked-mnist", "n": n}))
    assert strip["png"] is None and loaded == [] and strip["not_drawn"] == [
        "the stacked-mnist data is not drawn: its runs' data holds 1,000,000 images, and the report loads at most "
        "128,000 to draw 36"]
    assert pictures.REAL_IMAGES_MAX >= 128_000  # the preset's own size is drawn


def test_a_points_panel_reads_its_modes_here_or_says_why(monkeypatch, tmp_path):
    """A 2-D run's panel scatters its samples over the real modes, loaded by the data its checkpoint names.
    A stranger's run naming mnist there made `study report` fetch MNIST (web or npm: no local_only), and a
    load that failed was a traceback; now nothing is fetched and the panel's line says why."""
    from types import SimpleNamespace

    from matplotlib.figure import Figure

    from ganbench import api
    from ganbench.training import checkpoint

    _no_download(monkeypatch)
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "empty"))
    G = SimpleNamespace(data_shape=(2,), config=SimpleNamespace(data={"name": "mnist"}))
    monkeypatch.setattr(checkpoint, "list_checkpoints", lambda d: ["step_1"])
    monkeypatch.setattr(api, "load_generator", lambda d: G)
    monkeypatch.setattr(api, "generate", lambda G, n, seed: torch.zeros(n, 2))
    why = figures._draw_samples(Figure().subplots(), tmp_path)
    assert why.startswith("mnist not found (looked at the given path, $GANBENCH_DATA, the cache")


def test_large_images_are_shrunk_before_their_grid_is_drawn(monkeypatch):
    """36 images of 1024 x 1024 px (a stranger's folder at resolution 1024, within the data bounds) made a
    6151 px grid that matplotlib's imshow took 1.8 GB to draw in a panel ~140 px wide: a report of 3.75 GB
    (measured). Images wider than SHOWN_MAX are area-averaged down to it first; smaller ones are drawn as
    they are, pixel for pixel."""
    from matplotlib.axes import Axes

    from ganbench.plots import image_grid

    shown = []
    monkeypatch.setattr(Axes, "imshow", lambda self, grid, **kw: shown.append(grid))
    big = torch.linspace(-1, 1, 36 * 3 * 1024 * 1024).reshape(36, 3, 1024, 1024)
    figures.real_panel(Dataset("folder:big", big), {"name": "folder"}, "t", 3)
    side = 6 * (figures.SHOWN_MAX + 1) + 1
    assert shown[0].shape == (side, side, 3)
    small = torch.rand(36, 1, 28, 28) * 2 - 1
    figures.real_panel(Dataset("mnist", small), {"name": "mnist"}, "t", 3)
    assert np.array_equal(shown[1], image_grid(small)[..., 0])


def test_shipped_data_past_the_bound_is_the_strips_line_not_the_end_of_the_report(tmp_path, monkeypatch):
    """The report picked each dataset's primary value from traits() that loaded the data whole, outside the
    strip's guards: a study shipping an .npz past confine.STORED_DATA_BYTES ended `study report` in one line
    (exit 2). The traits come from the archive's header; the refusal is the strip's line."""
    from ganbench import confine
    from ganbench.report.html import build_report
    from ganbench.study.executors import InProcess
    from ganbench.study.runner import run_study
    from ganbench.study.spec import StudySpec

    study = tmp_path / "s"
    study.mkdir()
    np.savez(study / "points.npz", x=np.random.default_rng(0).normal(size=(400, 2)).astype(np.float32))
    nets = {"generator": {"name": "mlp", "hidden": 8}, "discriminator": {"name": "mlp", "hidden": 8}}
    spec = StudySpec(name="p", base={"batch_size": 16, "log_every": 10, **nets}, seeds=2, budget={"steps": 10},
                     eval={"n": 50, "metrics": ["wasserstein"]},
                     datasets=[{"data": {"name": "npz", "path": str(study / "points.npz")}}])
    run_study(study, spec, InProcess(), force_new=True, progress=False)
    monkeypatch.setattr(confine, "STORED_DATA_BYTES", 1000)
    build_report(study, out=tmp_path / "out")
    html = (tmp_path / "out" / "report.html").read_text()
    assert "the npz data cannot be loaded here: " in html and "more than the 1,000 that data a study" in html
