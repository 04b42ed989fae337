"""Counter-based randomness: every random draw of a run is a pure function of (seed, stream, counter).

Batches, latent vectors and regularizer noise for step s never depend on what ran before, so resuming
from a checkpoint replays exactly the draws an uninterrupted run would make, with no RNG state to save.
"""

from __future__ import annotations

import torch

_MASK = (1 << 64) - 1

# stream ids
DATA, NOISE_D, NOISE_G, REG, INIT, SAMPLE, AUG = range(7)


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def derive_seed(seed: int, stream: int, counter: int = 0) -> int:
    """A well-mixed 63-bit seed for one (seed, stream, counter) triple."""
    h = _splitmix64(seed & _MASK)
    h = _splitmix64(h ^ stream)
    h = _splitmix64(h ^ (counter & _MASK))
    return h >> 1


def rng(seed: int, stream: int, counter: int = 0, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh generator for that triple. Draws are reproducible per device type (CPU and CUDA differ)."""
    return torch.Generator(device=device).manual_seed(derive_seed(seed, stream, counter))
