"""The user cache (trained classifiers, real-data feature statistics, downloaded weights).

Location: $GANBENCH_CACHE, else $XDG_CACHE_HOME/ganbench, else ~/.cache/ganbench. Entries are keyed by a
readable prefix plus a hash of every input that changes their content, and written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("GANBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "ganbench")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def tensor_digest(*tensors: torch.Tensor) -> str:
    """sha256 over the tensors' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.view(torch.uint8).numpy())  # hashed in place: no copy of (say) MNIST's 188 MB
    return h.hexdigest()


def key_digest(**fields) -> str:
    """Short stable hash of JSON-able fields."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha1(path: str | Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
