"""A plugin's mistakes are said in one line naming the component, at registration where they can be seen
then, instead of a traceback deep in training or evaluation (or, for a loss, a puzzling 'missing required
key loss.real')."""

import pytest
import torch

from ganbench.cli import main
from ganbench.data.base import Dataset, load_dataset
from ganbench.errors import UserError
from ganbench.losses import Loss
from ganbench.metrics import declare, suite
from ganbench.metrics.declare import quality
from ganbench.registry import DATASETS, LOSSES, REGULARIZERS, RegistrationError


def test_a_plain_function_registered_as_a_loss_is_refused_when_the_plugin_is_imported(capsys, tmp_path, monkeypatch):
    (tmp_path / "plainloss.py").write_text(
        "from ganbench.registry import LOSSES\n\n@LOSSES.register('plain-loss')\ndef plain(real, fake):\n"
        "    return fake.mean()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["--plugin", "plainloss", "list"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ganbench: error: plugin module 'plainloss': loss 'plain-loss' must be "
                          "ganbench.losses.Loss(d, g)") and "\n" not in err
    assert "plain-loss" not in LOSSES


def test_loss_functions_must_take_real_and_fake():
    with pytest.raises(RegistrationError, match="d\\(real, fake\\)"):
        LOSSES.add("one-arg-loss", Loss(lambda fake: fake.mean(), lambda real, fake: fake.mean()))
    assert "one-arg-loss" not in LOSSES


def test_a_regularizer_class_needs_penalty_or_after_d_step():
    class NotOne:
        def __init__(self, weight: float = 1.0):
            self.weight = weight

    with pytest.raises(RegistrationError, match="subclass ganbench.regularizers.Regularizer"):
        REGULARIZERS.add("not-a-reg", NotOne)
    assert "not-a-reg" not in REGULARIZERS


@pytest.fixture
def fresh_metrics(monkeypatch):
    monkeypatch.setattr(suite, "METRICS", dict(suite.METRICS))
    monkeypatch.setattr(declare, "VALUES", dict(declare.VALUES))


def test_a_metric_needing_an_unknown_input_is_refused(fresh_metrics):
    with pytest.raises(RegistrationError, match="'needs' is a tuple of features, logits"):
        suite.metric("needy", ("feature",), "typo in needs", [quality("needy", "lower", "x")])(lambda r, f, c: {})
    assert "needy" not in suite.METRICS


def test_a_metric_returning_an_undeclared_value_is_refused(fresh_metrics):
    @suite.metric("leaky", ("features",), "returns one value too many", [quality("leaky", "lower", "x")])
    def _leaky(real, fake, ctx):
        return {"leaky": 1.0, "leaked": 2.0}

    x = suite.Extracted(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(UserError, match="metric 'leaky' returned leaked, which it does not declare"):
        suite.compute(["leaky"], x, x, suite.Context())


@pytest.mark.parametrize("made, says", [
    (lambda: torch.zeros(8, 2), "returned a Tensor, not a ganbench.data.base.Dataset"),
    (lambda: Dataset("d", torch.zeros(8)), "x of shape (8,), torch.float32; expected a float tensor"),
    (lambda: Dataset("d", torch.zeros(8, 2, dtype=torch.long)), "x of shape (8, 2), torch.int64"),
    (lambda: Dataset("d", torch.zeros(8, 2), y=torch.zeros(7, dtype=torch.long)), "y of shape (7,); expected None or 8"),
    (lambda: Dataset("d", torch.zeros(8, 2), modes=torch.zeros(3, 3), sigma=0.1), "modes that are not (k, D)"),
])
def test_a_dataset_returning_the_wrong_thing_is_refused(monkeypatch, made, says):
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))
    DATASETS.add("wrong-data", lambda split: made(), "returns the wrong thing")
    with pytest.raises(UserError) as exc:
        load_dataset({"name": "wrong-data"})
    assert str(exc.value).startswith("dataset 'wrong-data' returned ") and says in str(exc.value)


def test_a_good_dataset_passes_unchanged(monkeypatch):
    data = Dataset("d", torch.zeros(8, 2), y=torch.arange(8), modes=torch.zeros(2, 2), sigma=0.1, num_classes=8)
    monkeypatch.setattr(DATASETS, "_entries", dict(DATASETS._entries))
    DATASETS.add("right-data", lambda split: data, "fine")
    assert load_dataset({"name": "right-data"}) is data


def test_an_unknown_name_says_a_plugins_needs_the_flag():
    """A study's runs name a plugin's components without recording the module (`study run --plugin` adds
    none to the spec): reading them without the flag said only 'unknown dataset' with the built-in names."""
    from ganbench.study.evalspec import EvalSpec

    with pytest.raises(UserError, match="unknown dataset 'spiral'; valid: .*needs --plugin MODULE before the command"):
        DATASETS.get("spiral")
    with pytest.raises(UserError, match="unknown metric 'mode_dist'.*needs --plugin MODULE"):
        EvalSpec(metrics=["mode_dist"])
    with pytest.raises(UserError, match="unknown metric 'mode_dist'.*needs --plugin MODULE"):
        suite.check_names(["mode_dist"])
