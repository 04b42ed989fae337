"""Inception Score (Salimans et al. 2016) from classifier logits, with torch-fidelity's conventions:
rows shuffled by ``numpy.random.RandomState(seed).permutation`` (default seed 2020), ``splits`` chunks
``[i*N//splits, (i+1)*N//splits)``, score exp(E_x KL(p(y|x) || p(y))) per chunk, float64; mean and
population std (ddof 0) over chunks."""

from __future__ import annotations

import numpy as np
import torch

from .frechet import _as_float64, check_features


def inception_score(logits, splits: int = 10, shuffle: bool = True, seed: int = 2020) -> dict:
    x = _as_float64(logits)
    check_features(x, "logits", min_rows=splits)
    n = len(x)
    if shuffle:
        x = x[torch.from_numpy(np.random.RandomState(seed).permutation(n))]
    log_p = x.log_softmax(dim=1)
    p = log_p.exp()
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        log_q = p[lo:hi].mean(0, keepdim=True).log()
        kl = (p[lo:hi] * (log_p[lo:hi] - log_q)).sum(1).mean()
        scores.append(float(kl.exp()))
    return {"is_mean": float(np.mean(scores)), "is_std": float(np.std(scores)), "is_splits": splits}
