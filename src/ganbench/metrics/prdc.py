"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Conventions of the reference ``prdc`` package, which we reproduce exactly:
* Euclidean distances; for float32 features they are float32 values (sklearn computes the squared
  distance in float64, rounds it to float32, then takes the square root);
* a point's radius is the distance to its k-th nearest *other* point of its own set;
* the ball test is strict: ``distance < radius``;
* precision = share of fake points inside some real ball; recall = share of real points inside some
  fake ball; density = (1/k) * mean over fakes of the number of real balls containing it;
  coverage = share of real points whose ball contains at least one fake point.

Speed: distances are estimated with one float32 matrix product on mean-centered features, and only
decisions that the estimate cannot settle are recomputed exactly in float64: those within an error
bound of a radius. The bound is the probabilistic one of Higham & Mary (2019, "A new approach to
probabilistic rounding error analysis"), lambda * sqrt(d) * u * |x||y| with lambda = 8, which a
float32 dot product exceeds with probability below 1e-13. A k-NN radius is recomputed exactly for the
one neighbour the estimate identifies, or for a few candidates when neighbours lie closer together than
the bound. No n x n matrix is stored; work is done in row blocks.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import UserError
from .frechet import check_features

_U32 = 2.0 ** -24  # float32 unit round-off
_EXTRA = 4  # extra k-NN candidates per row


class _Points:
    def __init__(self, features, name: str):
        raw = torch.as_tensor(features if torch.is_tensor(features) else np.asarray(features)).detach().cpu()
        check_features(raw, name)
        self.float32_out = raw.dtype != torch.float64  # prdc on float32 input gives float32 distances
        self.raw = raw.to(torch.float64)
        # gathers for exact recomputation read float32 rows when that loses nothing (half the bytes)
        self.gather = raw.float() if raw.dtype == torch.float32 else self.raw
        self.sq = (self.raw * self.raw).sum(1)  # |x|^2 of the raw features, as the reference uses

    def center(self, mean: torch.Tensor) -> None:
        c = self.raw - mean
        self.c32 = c.float()
        self.csq = (c * c).sum(1)
        self.cnorm = self.csq.sqrt()
        self.csq32 = self.csq.float()


def _to_distance(sq: torch.Tensor, float32: bool) -> torch.Tensor:
    """Squared float64 distances -> the reference's distances (float32 when its input was float32)."""
    sq = sq.clamp_min(0)
    return sq.float().sqrt() if float32 else sq.sqrt()


def _exact_sq(a: _Points, ia: torch.Tensor, b: _Points, ib: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """|a_i|^2 + |b_j|^2 - 2 a_i.b_j in float64 for index pairs (the reference's formula)."""
    out = torch.empty(len(ia), dtype=torch.float64)
    for s in range(0, len(ia), chunk):
        i, j = ia[s:s + chunk], ib[s:s + chunk]
        dots = torch.einsum("pd,pd->p", a.gather[i].double(), b.gather[j].double())
        out[s:s + chunk] = a.sq[i] + b.sq[j] - 2 * dots
    return out


def _estimate_block(a: _Points, rows: slice, b: _Points) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 estimate of squared distances for a block of rows, and a per-row error bound.

    est = |a|^2 + |b|^2 - 2 a.b in one fused float32 matrix product. Its error is at most the dot
    product's (8 sqrt(d) u |a||b|, see above, plus rounding a and b to float32) plus a few roundings of
    the sums (<= 4u (|a|^2 + |b|^2 + 2|a||b|)); we bound |b| by the largest norm in b, and double it all.
    """
    est = torch.addmm(b.csq32[None, :], a.c32[rows], b.c32.T, beta=1.0, alpha=-2.0)
    est += a.csq32[rows, None]
    return est, _estimate_tol(a, rows, b)[1]


def _estimate_tol(a: _Points, rows: slice, b: _Points) -> tuple[None, torch.Tensor]:
    d, big = a.c32.shape[1], float(b.cnorm.max())
    na = a.cnorm[rows]
    tol = 2 * ((8 * d ** 0.5 + 2) * _U32 * na * big + 4 * _U32 * (na * na + big * big + 2 * na * big))
    return None, tol.float()


def _candidates(p: _Points, width: int, block: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each point's ``width`` smallest estimated squared distances (self first) and their indices.

    The estimate matrix is symmetric, so only blocks on and right of the diagonal are computed; each
    also serves, transposed, the rows of the columns it covers.
    """
    n = len(p.raw)
    vals = torch.full((n, width), float("inf"))
    idx = torch.zeros((n, width), dtype=torch.long)

    def merge(rows: torch.Tensor, new_vals: torch.Tensor, new_idx: torch.Tensor) -> None:
        v, j = torch.cat([vals[rows], new_vals], 1), torch.cat([idx[rows], new_idx], 1)
        best = v.topk(width, dim=1, largest=False)
        vals[rows], idx[rows] = best.values, j.gather(1, best.indices)

    tol = None
    for s in range(0, n, block):
        e = min(s + block, n)
        cols = slice(s, n)
        est = torch.addmm(p.csq32[None, cols], p.c32[s:e], p.c32[cols].T, beta=1.0, alpha=-2.0)
        est += p.csq32[s:e, None]
        est[:, :e - s].fill_diagonal_(-1.0)  # self first, whatever the estimate says
        k_row = min(width, n - s)
        top = est.topk(k_row, dim=1, largest=False)
        merge(torch.arange(s, e), top.values, top.indices + s)
        if e < n:  # the transposed part: rows e..n see columns s..e
            k_col = min(width, e - s)
            top = est[:, e - s:].topk(k_col, dim=0, largest=False)
            merge(torch.arange(e, n), top.values.T, top.indices.T + s)
    _, tol = _estimate_tol(p, slice(0, n), p)
    return vals, idx, tol


def _knn_sq_radii(p: _Points, ks: list[int], block: int) -> dict[int, torch.Tensor]:
    """For each k: squared distance to the k-th nearest other point, exact in float64."""
    n, kmax = len(p.raw), max(ks)
    if n < kmax + 2:
        raise UserError(f"need at least k+2 = {kmax + 2} samples for k-NN radii; got {n}")
    width = min(n, kmax + 1 + _EXTRA)
    vals, idx, tol = _candidates(p, width, block)
    r = torch.arange(n)
    # rows whose k-th neighbour the estimate cannot single out get all candidates recomputed
    settled = torch.ones(n, dtype=torch.bool)
    for k in ks:
        settled &= (vals[:, k] - vals[:, k - 1] > 2 * tol)
        if k + 1 < width:
            settled &= (vals[:, k + 1] - vals[:, k] > 2 * tol)
        else:
            settled &= False
    radii = {k: _exact_sq(p, r, p, idx[:, k]) for k in ks}
    unsettled = (~settled).nonzero().flatten()
    if len(unsettled):
        ri, ci = r[unsettled], idx[unsettled]
        exact = _exact_sq(p, ri.repeat_interleave(width), p, ci.reshape(-1)).view(len(ri), width)
        exact[ci == ri[:, None]] = 0.0  # sklearn sets self-distances to exactly 0
        exact = exact.sort(dim=1).values
        complete = (vals[unsettled, -1] > vals[unsettled, kmax] + 2 * tol[unsettled]) | (width == n)
        for row in (~complete).nonzero().flatten().tolist():  # a neighbour may be missing: full row
            i = int(ri[row])
            full = _exact_sq(p, torch.full((n,), i), p, torch.arange(n))
            full[i] = 0.0
            exact[row] = full.sort().values[:width]
        for k in ks:
            radii[k][ri] = exact[:, k]
    return radii


def _less_than(est, tol, radius_sq, a, b, rows, dist_radius, float32, per_row: bool) -> torch.Tensor:
    """Decide distance(a_i, b_j) < radius exactly: estimate first, exact recomputation near the edge."""
    rad = (radius_sq[:, None] if per_row else radius_sq[None, :]).float()
    # + a few float32 ulps of the radius, so rounding to float32 cannot flip a settled case
    band = (tol[:, None] + 1e-6 * rad) if per_row else (tol + 1e-6 * rad.max())[:, None]
    diff = est - rad
    result = diff < 0
    amb = diff.abs_() <= band
    if amb.any():
        ii, jj = amb.nonzero(as_tuple=True)
        exact = _to_distance(_exact_sq(a, ii + rows.start, b, jj), float32)
        thr = dist_radius[ii + rows.start] if per_row else dist_radius[jj]
        result[ii, jj] = exact < thr
    return result


def prdc_multi(real, fake, ks: list[int], block: int = 1024) -> dict[int, dict[str, float]]:
    """All four metrics for each k in ``ks``, sharing one pass over the distances."""
    r, f = _Points(real, "real"), _Points(fake, "fake")
    if r.raw.shape[1] != f.raw.shape[1]:
        raise UserError(f"feature dimensions differ: {r.raw.shape[1]} vs {f.raw.shape[1]}")
    float32 = r.float32_out and f.float32_out
    mean = torch.cat([r.raw, f.raw]).mean(0)
    r.center(mean), f.center(mean)
    ks = sorted(set(ks))
    rr2, fr2 = _knn_sq_radii(r, ks, block), _knn_sq_radii(f, ks, block)
    # radii as the reference has them (float32 distances) and as squared distances for the estimates
    rr = {k: _to_distance(v, float32) for k, v in rr2.items()}
    fr = {k: _to_distance(v, float32) for k, v in fr2.items()}
    n_r, n_f = len(r.raw), len(f.raw)
    counts = {k: torch.zeros(n_f, dtype=torch.float64) for k in ks}
    fake_in_real = {k: torch.zeros(n_f, dtype=torch.bool) for k in ks}
    real_in_fake = {k: torch.zeros(n_r, dtype=torch.bool) for k in ks}
    real_covered = {k: torch.zeros(n_r, dtype=torch.bool) for k in ks}
    for s in range(0, n_r, block):
        rows = slice(s, min(s + block, n_r))
        est, tol = _estimate_block(r, rows, f)
        for k in ks:
            c1 = _less_than(est, tol, rr2[k][rows], r, f, rows, rr[k], float32, per_row=True)
            counts[k] += c1.sum(0)
            fake_in_real[k] |= c1.any(0)
            real_covered[k][rows] = c1.any(1)
            c2 = _less_than(est, tol, fr2[k], r, f, rows, fr[k], float32, per_row=False)
            real_in_fake[k][rows] = c2.any(1)
    # final reductions in numpy, in the reference's order of operations, so the floats agree to the bit
    return {k: {"precision": float(fake_in_real[k].numpy().mean()),
                "recall": float(real_in_fake[k].numpy().mean()),
                "density": float((1.0 / k) * counts[k].numpy().astype(np.int64).mean()),
                "coverage": float(real_covered[k].numpy().mean())} for k in ks}


def prdc(real, fake, nearest_k: int = 5) -> dict[str, float]:
    """Same values as ``prdc.compute_prdc(real, fake, nearest_k)``."""
    return prdc_multi(real, fake, [nearest_k])[nearest_k]


def precision_recall_density_coverage(real, fake, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Precision/recall at k_pr (their paper's k=3) and density/coverage at k_dc (their paper's k=5)."""
    out = prdc_multi(real, fake, [k_pr, k_dc])
    return {"precision": out[k_pr]["precision"], "recall": out[k_pr]["recall"],
            "density": out[k_dc]["density"], "coverage": out[k_dc]["coverage"]}
