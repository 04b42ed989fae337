"""ganbench's spectral norm against torch's own parametrization and against the SVD (Miyato et al. 2018)."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from ganbench.nets.layers import spectral_norm

LAYERS = {"linear": (lambda: nn.Linear(7, 5), (4, 7)), "conv": (lambda: nn.Conv2d(3, 4, 3), (2, 3, 5, 5)),
          "convtranspose": (lambda: nn.ConvTranspose2d(3, 4, 3), (2, 3, 5, 5))}


def _matrix(module, weight):
    """The matrix whose top singular value is normalized: dim 1 first for transposed convolutions."""
    return (weight.transpose(0, 1) if isinstance(module, nn.ConvTranspose2d) else weight).flatten(1)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_same_as_torch_in_train_and_eval_and_sigma_is_the_top_singular_value(kind):
    make, shape = LAYERS[kind]
    torch.manual_seed(0)
    mine = spectral_norm(make().double())
    torch.manual_seed(0)
    ref = parametrizations.spectral_norm(make().double())
    x = torch.randn(*shape, dtype=torch.float64)
    for _ in range(3):  # one power iteration per training call, u and v carried over between calls
        torch.testing.assert_close(mine(x), ref(x), rtol=0, atol=0)
    mine.eval(), ref.eval()
    torch.testing.assert_close(mine(x), ref(x), rtol=0, atol=0)  # eval: no iteration, the stored u, v
    mine.train()
    for _ in range(300):
        mine(x)
    mine.eval()
    original = mine.parametrizations.weight.original
    sigma = torch.linalg.svdvals(_matrix(mine, original))[0]
    torch.testing.assert_close(_matrix(mine, mine.weight) * sigma, _matrix(mine, original), rtol=1e-10, atol=1e-14)
    assert torch.linalg.svdvals(_matrix(mine, mine.weight))[0].item() == pytest.approx(1.0, rel=1e-10)


@pytest.mark.parametrize("out_ch, in_ch", [(128, 1024), (64, 128)])
def test_an_init_under_spectral_norm_restarts_the_power_iteration(out_ch, in_ch):
    """The start-up iterations (torch's 15) ran on the weight spectral norm was registered with; after the
    init refills it, step 0's sigma must be an estimate for the new weight. torch's own spectral_norm applied
    after the same init gets 0.97 of the top singular value on these shapes. Without the restart u and v
    belonged to the old weight: this estimate was 0.017 of sigma (-0.011 on the second shape), and the first
    training call's single iteration reached 0.68."""
    from ganbench.nets.init import apply_init

    torch.manual_seed(0)
    conv = apply_init(spectral_norm(nn.Conv2d(in_ch, out_ch, 4)), {"kind": "normal", "std": 0.02})
    sn = conv.parametrizations.weight[0]
    with torch.no_grad():
        w = sn._reshape_weight_to_matrix(conv.parametrizations.weight.original)
        estimate = float(sn._u @ (w @ sn._v))  # what eval mode divides by: no iteration
        assert 0.95 < estimate / float(torch.linalg.svdvals(w)[0]) <= 1 + 1e-6
