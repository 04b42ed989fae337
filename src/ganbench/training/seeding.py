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


class Generators:
    """Generators reused by slot: reseeding one gives exactly the draws of a fresh ``rng`` (manual_seed
    resets the whole state, cached normals and Philox offset included) without building a generator
    object per draw, which a stack of k members would otherwise do k times per draw per step.

    A slot (any hashable: which draw, which member) must not be asked for again while its previous
    generator is still in use; the trainer's slots are distinct per member and per kind of draw.
    """

    def __init__(self):
        self._pool: dict = {}

    def __call__(self, slot, seed: int, stream: int, counter: int = 0,
                 device: torch.device | str = "cpu") -> torch.Generator:
        device = torch.device(device)
        key = (slot, device.type, device.index)
        gen = self._pool.get(key)
        if gen is None:
            gen = self._pool[key] = torch.Generator(device=device)
        return gen.manual_seed(derive_seed(seed, stream, counter))
