"""DiffAugment's three policies against Zhao et al. 2020's reference code (DiffAugment_pytorch.py), written
out here with the same draws, in float64: the ops must agree exactly, not only in distribution."""

import torch
import torch.nn.functional as F

from ganbench.augment import color, cutout, diff_augment, translation

X = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _u(g, n, *shape):
    return torch.rand(n, *shape, generator=g).double()


def test_color_is_the_reference_brightness_saturation_contrast():
    g = torch.Generator().manual_seed(1)
    x = X + (_u(g, 5, 1, 1, 1) - 0.5)
    m = x.mean(dim=1, keepdim=True)
    x = (x - m) * (_u(g, 5, 1, 1, 1) * 2) + m
    m = x.mean(dim=[1, 2, 3], keepdim=True)
    want = (x - m) * (_u(g, 5, 1, 1, 1) + 0.5) + m
    torch.testing.assert_close(color(X, torch.Generator().manual_seed(1)), want, rtol=1e-12, atol=1e-12)


def test_translation_is_the_reference_shift_with_zero_padding():
    g = torch.Generator().manual_seed(2)  # shift of 1 pixel on 8x8: uniform over {-1, 0, 1}
    ty = (_u(g, 5, 1) * 3).long().clamp_max(2) - 1
    tx = (_u(g, 5, 1) * 3).long().clamp_max(2) - 1
    gb, gx, gy = torch.meshgrid(torch.arange(5), torch.arange(8), torch.arange(8), indexing="ij")
    gx = torch.clamp(gx + ty.view(-1, 1, 1) + 1, 0, 9)
    gy = torch.clamp(gy + tx.view(-1, 1, 1) + 1, 0, 9)
    want = F.pad(X, [1, 1, 1, 1]).permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)
    torch.testing.assert_close(translation(X, torch.Generator().manual_seed(2)), want, rtol=0, atol=0)


def test_cutout_is_the_reference_square():
    g, size = torch.Generator().manual_seed(3), 4
    oy, ox = (_u(g, 5, 1) * (8 + 1 - size % 2)).long(), (_u(g, 5, 1) * (8 + 1 - size % 2)).long()
    gb, gx, gy = torch.meshgrid(torch.arange(5), torch.arange(size), torch.arange(size), indexing="ij")
    gx = torch.clamp(gx + oy.view(-1, 1, 1) - size // 2, 0, 7)
    gy = torch.clamp(gy + ox.view(-1, 1, 1) - size // 2, 0, 7)
    mask = torch.ones(5, 8, 8, dtype=torch.float64)
    mask[gb, gx, gy] = 0
    torch.testing.assert_close(cutout(X, torch.Generator().manual_seed(3)), X * mask[:, None], rtol=0, atol=0)


def test_gradient_reaching_g_is_the_adjoint_of_the_augmentation():
    """Translation and cutout are linear in x: <J^T w, x> = <w, aug(x)> for the draws used."""
    x = X.clone().requires_grad_(True)
    y = diff_augment(x, ["translation", "cutout"], torch.Generator().manual_seed(4))
    w = torch.randn(y.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    (grad,) = torch.autograd.grad((y * w).sum(), x)
    assert abs((grad * X).sum().item() - (y * w).sum().item()) <= 1e-10 * (y * w).abs().sum().item()
