"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Conventions of the reference ``prdc`` package, which we reproduce exactly:
* Euclidean distances; for float32 features they are float32 values (sklearn computes the squared
  distance in float64, rounds it to float32, then takes the square root); with one float32 set and one
  float64 set, each set's radii are in its own dtype and the real-to-fake distances in float64;
* a point's radius is the distance to its k-th nearest *other* point of its own set (duplicates count,
  at distance 0);
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

Exact distances are computed from the coordinate differences in float64 (translation-invariant, unlike
the reference's |x|^2 + |y|^2 - 2 x.y, which cancels far from the origin), after scaling all features by
one power of two (exact) so that huge or tiny values neither overflow nor underflow. A k-NN radius of 0
(k+1 equal samples) in the *real* set is refused: under the strict '<' test such a ball holds nothing, so
the reference's precision and coverage would blame the generator for duplicates in the data. In the fake
set it is a result, kept as the reference computes it: a generator that repeats a sample (mode collapse)
has balls that cover nothing, and its recall falls.

Agreement: bit-identical results for float32 features (the usual case), ties included, since the
reference's float32 rounding absorbs differences in summation order, as long as its float64 noise stays
below float32 resolution. Features far from the origin relative to their spread break that: at an offset
of 1000 and a spread of 0.01, the reference's own float64 cancellation leaves ~1e-6 relative noise, set
by its BLAS's summation order, and a point that close to a ball's edge may be decided either way. For float64 features, a distance
exactly equal to a radius is decided by the last bit of each implementation's matrix product, which no
two BLAS builds share; such exact ties aside (they need lattice-like data), results are identical.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import UserError
from .frechet import check_features

_U32 = 2.0 ** -24  # float32 unit round-off
_U64 = 2.0 ** -53  # float64 unit round-off
_EXTRA = 4  # extra k-NN candidates per row


class _Points:
    def __init__(self, features, name: str):
        raw = torch.as_tensor(features if torch.is_tensor(features) else np.asarray(features)).detach().cpu()
        check_features(raw, name)
        self.name = name
        self.float32_out = raw.dtype != torch.float64  # prdc on float32 input gives float32 distances
        self.raw = raw.to(torch.float64)
        self.scale(0)

    def scale(self, exponent: int) -> None:
        """Multiply the features by 2**exponent (exact: every distance scales by the same power of two,
        so every ball test is decided as before), then the squared norms the exact path uses."""
        if exponent:
            half = exponent // 2
            self.raw = self.raw * 2.0 ** half * 2.0 ** (exponent - half)
        self.sq = torch.einsum("ij,ij->i", self.raw, self.raw)  # |x|^2 of the raw features, as sklearn has them
        self.norm = self.sq.sqrt()

    def center(self, mean: torch.Tensor) -> None:
        """float32 copies of the mean-centered features (smaller norms, smaller float32 errors). Centred in
        float64 first: rounding far-from-origin float64 features to float32 before centring would err by
        u32 |x|, which the centred norms in the error bound do not see."""
        self.c32 = (self.raw - mean).float()
        self.csq32 = torch.einsum("ij,ij->i", self.c32, self.c32)
        self.cnorm = self.csq32.double().sqrt()


def _to_distance(sq: torch.Tensor, float32: bool) -> torch.Tensor:
    """Squared float64 distances -> the reference's distances (float32 when its input was float32).

    The square root is numpy's, as in sklearn: torch's vectorized float32 sqrt can differ from it in
    the last bit for values near a rounding midpoint, which would move a radius by one ulp."""
    sq = sq.clamp_min(0).numpy()
    return torch.from_numpy(np.sqrt(sq.astype(np.float32) if float32 else sq))


def _exact_sq(a: _Points, ia: torch.Tensor, b: _Points, ib: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """|a_i - b_j|^2 in float64 for index pairs, from the differences: unlike the reference's
    |a|^2 + |b|^2 - 2 a.b, no cancellation far from the origin (at an offset of 1e6 that formula errs by
    ~1e-3 in squared distance), so the decisions do not move when the data is translated."""
    out = torch.empty(len(ia), dtype=torch.float64)
    for s in range(0, len(ia), chunk):
        diff = a.raw[ia[s:s + chunk]].sub_(b.raw[ib[s:s + chunk]])
        out[s:s + chunk] = torch.einsum("pd,pd->p", diff, diff)
    return out


def _estimate_block(a: _Points, rows: slice, b: _Points) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 estimate of squared distances for a block of rows (|a|^2 + |b|^2 - 2 a.b in one fused
    matrix product), and its per-row error bound."""
    est = torch.addmm(b.csq32[None, :], a.c32[rows], b.c32.T, beta=1.0, alpha=-2.0)
    est += a.csq32[rows, None]
    return est, _estimate_tol(a, rows, b)


def _estimate_tol(a: _Points, rows: slice, b: _Points) -> torch.Tensor:
    """Per-row bound on |est - true squared distance| for rows of a against all of b.

    Every float32 quantity in est (the dot product, the squared norms, their sum, and the rounding
    of the centered features) errs by at most (8 sqrt(d) + 6) u (|a| + |b|)^2 (see the module
    docstring); we bound |b| by the largest norm in b and double the result.
    """
    d, big = a.c32.shape[1], float(b.cnorm.max())
    na = a.cnorm[rows]
    tol = 2 * (8 * d ** 0.5 + 6) * _U32 * (na + big) ** 2
    # The float64 centring errs by u64 |x| per coordinate, which the centred norms do not see; a bound
    # of (d + 6) u64 (|a| + |b|)^2 on the raw norms covers it (generously: it was sized for the
    # reference's cancelling formula, which the exact path no longer uses).
    tol = tol + 2 * (d + 6) * _U64 * (a.norm[rows] + float(b.norm.max())) ** 2
    return tol.float()


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
    tol = _estimate_tol(p, slice(0, n), p)
    return vals, idx, tol


def _knn_sq_radii(p: _Points, ks: list[int], block: int) -> dict[int, torch.Tensor]:
    """For each k: squared distance to the k-th nearest other point, exact in float64."""
    n, kmax = len(p.raw), max(ks)
    if n < kmax + 2:
        raise UserError(f"prdc: need at least k+2 = {kmax + 2} samples in the {p.name} set for k-NN radii; "
                        f"got {n}")
    width = min(n, kmax + 1 + _EXTRA)
    vals, idx, tol = _candidates(p, width, block)
    vals64, tol2 = vals.double(), 2 * tol.double()[:, None]
    # Estimates err by at most tol, so the true k-th smallest value lies within tol of the estimated
    # one, and only candidates whose estimate is within 2 tol of it can be the true k-th neighbour.
    # Those are recomputed exactly; candidates certainly below are only counted. Both sets come from
    # one difference, so every candidate is exactly one of below / in the window / above.
    diffs = {k: vals64 - vals64[:, k:k + 1] for k in ks}
    windows = {k: (d >= -tol2) & (d <= tol2) for k, d in diffs.items()}
    need = torch.zeros_like(vals, dtype=torch.bool)
    for w in windows.values():
        need |= w
    rows, cols = need.nonzero(as_tuple=True)
    exact = torch.full_like(vals, float("inf"), dtype=torch.float64)
    exact[rows, cols] = _exact_sq(p, rows, p, idx[rows, cols])
    exact[idx == torch.arange(n)[:, None]] = 0.0  # sklearn sets self-distances to exactly 0
    radii = {}
    for k in ks:
        below = (diffs[k] < -tol2).sum(1)
        in_window = torch.where(windows[k], exact, torch.full_like(exact, float("inf"))).sort(dim=1).values
        radii[k] = in_window.gather(1, (k - below)[:, None]).squeeze(1)
    # a neighbour outside the candidates could still be the k-th: recompute such rows in full
    incomplete = (vals64[:, -1] - vals64[:, kmax] <= tol2[:, 0]) & torch.tensor(width < n)
    for i in incomplete.nonzero().flatten().tolist():
        full = _exact_sq(p, torch.full((n,), i), p, torch.arange(n))
        full[i] = 0.0
        ordered = full.sort().values
        for k in ks:
            radii[k][i] = ordered[k]
    return radii


def _inside_row_balls(est, tol, radius_sq, a, b, rows, dist_radius, float32) -> torch.Tensor:
    """(B, N) booleans: distance(a_i, b_j) < radius_i, exactly: the estimate decides, except near the
    edge of the ball, where the distance is recomputed exactly."""
    rad = radius_sq[:, None].float()
    band = tol[:, None] + 1e-6 * rad  # + a few float32 ulps, so rounding to float32 cannot flip a settled case
    result = est < rad
    ii, jj = ((est >= rad - band) & (est <= rad + band)).nonzero(as_tuple=True)
    if len(ii):
        exact = _to_distance(_exact_sq(a, ii + rows.start, b, jj), float32)
        result[ii, jj] = exact < dist_radius[ii + rows.start]
    return result


def _row_any_inside(est, tol, radius_sq, a, b, rows, dist_radius, float32) -> torch.Tensor:
    """For each row i: does some b_j lie strictly inside b_j's own ball? (recall's test)

    Only the row minimum of est - radius is needed; rows whose minimum is within the error band of 0
    are settled by recomputing their near-edge entries exactly.
    """
    rad = radius_sq[None, :].float()
    band = tol + 1e-6 * float(rad.max())
    diff = est - rad
    low = diff.min(1).values
    result = low < -band
    unsure = ((low >= -band) & (low <= band)).nonzero().flatten()
    if len(unsure):
        sub = diff[unsure]
        ii, jj = (sub <= band[unsure, None]).nonzero(as_tuple=True)
        exact = _to_distance(_exact_sq(a, unsure[ii] + rows.start, b, jj), float32) < dist_radius[jj]
        hit = torch.zeros(len(unsure), dtype=torch.bool)
        hit[ii[exact]] = True
        result[unsure] = hit
    return result


def _refuse_zero_radii(p: _Points, radii: dict[int, torch.Tensor]) -> None:
    """A k-NN radius of 0 in the real set (k+1 equal samples) makes a ball that holds nothing under the
    strict '<' test: the reference then reports 0s that blame the generator for the data. Refuse instead."""
    for k in sorted(radii):  # radii grow with k: the smallest k has the most zeros
        zero = int((radii[k] == 0).sum())
        if zero:
            raise UserError(f"prdc: {zero} of {len(p.raw)} {p.name} samples have a k-NN radius of 0 (k={k}): "
                            "duplicate samples: a ball of radius 0 holds nothing under prdc's strict '<' "
                            "test; remove the duplicates from the reference set or use a larger k")


def prdc_multi(real, fake, ks: list[int], block: int = 1024) -> dict[int, dict[str, float]]:
    """All four metrics for each k in ``ks``, sharing one pass over the distances."""
    r, f = _Points(real, "real"), _Points(fake, "fake")
    if r.raw.shape[1] != f.raw.shape[1]:
        raise UserError(f"feature dimensions differ: {r.raw.shape[1]} vs {f.raw.shape[1]}")
    if r.raw.shape[1] == 0:
        raise UserError("prdc: the features have 0 columns; there is nothing to compare")
    float32 = r.float32_out and f.float32_out
    # Huge or tiny features: bring the largest magnitude to [0.5, 1) by a power of two. Exact, and it keeps
    # squared norms (and the float32 estimate) from overflowing or underflowing; not needed (nor done, it
    # costs a pass) in between.
    big = max(float(r.raw.abs().max()), float(f.raw.abs().max()))
    if big > 0 and not 2.0 ** -16 <= big <= 2.0 ** 16:
        exponent = -math.frexp(big)[1]
        r.scale(exponent), f.scale(exponent)
    mean = torch.cat([r.raw, f.raw]).mean(0)
    r.center(mean), f.center(mean)
    ks = sorted(set(ks))
    rr2, fr2 = _knn_sq_radii(r, ks, block), _knn_sq_radii(f, ks, block)
    # radii as the reference has them and as squared distances for the estimates. Each set's radii come from
    # its own distances (float32 for float32 features, as sklearn gives them), the real-to-fake distances in
    # float32 only when both sets are float32 (sklearn computes a mixed pair in float64)
    rr = {k: _to_distance(v, r.float32_out) for k, v in rr2.items()}
    fr = {k: _to_distance(v, f.float32_out) for k, v in fr2.items()}
    _refuse_zero_radii(r, rr)  # the fake set's (a collapsed generator's) are its result: recall falls
    n_r, n_f = len(r.raw), len(f.raw)
    counts = {k: torch.zeros(n_f, dtype=torch.int64) for k in ks}
    fake_in_real = {k: torch.zeros(n_f, dtype=torch.bool) for k in ks}
    real_in_fake = {k: torch.zeros(n_r, dtype=torch.bool) for k in ks}
    real_covered = {k: torch.zeros(n_r, dtype=torch.bool) for k in ks}
    for s in range(0, n_r, block):
        rows = slice(s, min(s + block, n_r))
        est, tol = _estimate_block(r, rows, f)
        for k in ks:
            c1 = _inside_row_balls(est, tol, rr2[k][rows], r, f, rows, rr[k], float32)
            counts[k] += c1.sum(0, dtype=torch.int32)
            fake_in_real[k] |= c1.any(0)
            real_covered[k][rows] = c1.any(1)
            real_in_fake[k][rows] = _row_any_inside(est, tol, fr2[k], r, f, rows, fr[k], float32)
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
