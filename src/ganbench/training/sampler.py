"""Which real samples make batch number b: epochs of seeded permutations of the training set."""

from __future__ import annotations

import torch

from .seeding import DATA, rng


class BatchSampler:
    """Batch number b -> real samples: epochs of seeded permutations, so any batch can be recomputed."""

    def __init__(self, x: torch.Tensor, batch_size: int, seed: int):
        self.x, self.batch_size, self.seed = x, batch_size, seed
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = torch.randperm(len(self.x), generator=rng(self.seed, DATA, epoch)).to(self.x.device)
        return self._perms[epoch]

    def __call__(self, b: int) -> torch.Tensor:
        """Indices of batch number b."""
        n, start = len(self.x), b * self.batch_size
        first_epoch, offset = divmod(start, n)
        if offset + self.batch_size <= n:  # the common case: inside one epoch
            return self._perm(first_epoch)[offset:offset + self.batch_size]
        pos = torch.arange(start, start + self.batch_size)  # spans epochs (several, for tiny data)
        epochs, offsets = pos // n, pos % n
        return torch.cat([self._perm(e)[offsets[epochs == e].to(self.x.device)] for e in epochs.unique().tolist()])
