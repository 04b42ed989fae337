"""Fréchet distance between Gaussians fitted to two feature sets (the FID formula, Heusel et al. 2017).

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2})

pytorch-fid evaluates the last term with ``scipy.linalg.sqrtm(S1 @ S2)``: a general (Schur) matrix
square root of a non-symmetric matrix, slow and prone to complex round-off. We use that S1 S2 is
similar to a symmetric PSD matrix instead. With S1 = A A^T (Cholesky, or A = V diag(sqrt(w)) from an
eigendecomposition when S1 is singular), S1 S2 = A (A^T S2 A) A^{-1}, so the eigenvalues of S1 S2 are
those of the symmetric PSD matrix M = A^T S2 A and

    tr((S1 S2)^{1/2}) = sum_i sqrt(max(lambda_i(M), 0)).

One Cholesky (or one symmetric eigendecomposition) plus one symmetric eigenvalue computation, in
float64; eigenvalues below zero are round-off and clamped, so the result is always real, also for
singular covariances (fewer samples than dimensions). Covariances use the N-1 normalization (np.cov).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError


@dataclass
class Gaussian:
    mu: np.ndarray  # (d,) float64
    sigma: np.ndarray  # (d, d) float64
    n: int


def _as_float64(features) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(features) if not torch.is_tensor(features) else features)
    x = x.detach().to("cpu", torch.float64)
    # BLAS kernels take other paths for memory torch's allocator did not align (64 bytes), and their sums
    # round differently: real features read from the cache (safetensors: 8-byte aligned) gave another KID
    # in the last digit than the same features computed afresh. A fresh copy makes the layout irrelevant.
    if not x.is_contiguous() or x.data_ptr() % 64:
        x = x.clone(memory_format=torch.contiguous_format)
    return x


def check_features(x: torch.Tensor, name: str, min_rows: int = 2) -> None:
    if x.dim() != 2:
        raise UserError(f"{name}: expected a 2-D array of features (N, D); got shape {tuple(x.shape)}")
    if x.shape[0] < min_rows:
        raise UserError(f"{name}: needs at least {min_rows} samples; got {x.shape[0]}")
    if not torch.isfinite(x).all():
        raise UserError(f"{name}: features contain NaN or Inf")


def _check_finite(value, name: str) -> None:
    if not bool(np.isfinite(np.asarray(value)).all()):
        raise UserError(f"fid: {name}: values too large to compare in float64 (the covariance or the "
                        "distance overflows); rescale the features")


def fit_gaussian(features) -> Gaussian:
    """Mean and unbiased (N-1) covariance, accumulated in float64."""
    x = _as_float64(features)
    check_features(x, "features")
    mu = x.mean(0)
    xc = x - mu
    sigma = (xc.T @ xc) / (x.shape[0] - 1)
    _check_finite(sigma, "features")
    return Gaussian(mu.numpy(), sigma.numpy(), x.shape[0])


def _sqrt_factor(sigma: torch.Tensor) -> torch.Tensor:
    """A with A A^T = sigma: Cholesky when sigma is positive definite, else from eigh (clamped)."""
    factor, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return factor
    w, v = torch.linalg.eigh(sigma)
    return v * w.clamp_min(0).sqrt()


def trace_sqrt_product(sigma1, sigma2) -> float:
    """tr((sigma1 sigma2)^{1/2}) for symmetric PSD sigma1, sigma2 (see the module docstring)."""
    s1, s2 = torch.as_tensor(sigma1, dtype=torch.float64), torch.as_tensor(sigma2, dtype=torch.float64)
    # tr((c S1 c S2)^{1/2}) = c tr((S1 S2)^{1/2}): far outside [2^-64, 2^64] scale both by an even power of
    # two (exact, its square root too) so that the largest entry is about 1, or A^T S2 A overflows (~|S|^2)
    # for features of size ~1e80 and up. In between nothing is rescaled: the value stays bit for bit what
    # earlier versions computed (stored studies verify as identical).
    big = max(float(s1.abs().max()), float(s2.abs().max())) if s1.numel() else 0.0
    exponent = 0 if big == 0 or 2.0 ** -64 <= big <= 2.0 ** 64 else -2 * (np.frexp(big)[1] // 2)
    if exponent:
        s1, s2 = (torch.from_numpy(np.ldexp(s.numpy(), exponent)) for s in (s1, s2))
    a = _sqrt_factor(s1)
    m = a.T @ s2 @ a
    m = 0.5 * (m + m.T)  # exact symmetry for the symmetric eigensolver
    return float(np.ldexp(float(torch.linalg.eigvalsh(m).clamp_min(0).sqrt().sum()), -exponent))


def frechet_distance(g1: Gaussian, g2: Gaussian) -> float:
    if g1.mu.shape != g2.mu.shape:
        raise UserError(f"feature dimensions differ: {g1.mu.shape[0]} vs {g2.mu.shape[0]}")
    for g, name in ((g1, "real"), (g2, "fake")):
        _check_finite(g.mu, name), _check_finite(g.sigma, name)
    diff = g1.mu - g2.mu
    value = float(diff @ diff + np.trace(g1.sigma) + np.trace(g2.sigma)
                  - 2 * trace_sqrt_product(g1.sigma, g2.sigma))
    _check_finite(value, "real vs fake")
    return max(value, 0.0)


def frechet_from_features(real, fake) -> float:
    return frechet_distance(fit_gaussian(real), fit_gaussian(fake))
