import hashlib

import numpy as np
import torch

from ganbench.cache import tensor_digest


def test_tensor_digest_is_sha256_of_dtype_shape_and_bytes():
    """The digest keys cached classifiers and feature statistics: it must stay this exact function."""
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4).T  # not contiguous: hashed in memory order of .contiguous()
    y = torch.tensor([1, 2, 3])
    empty = torch.empty(0, 5)
    h = hashlib.sha256()
    for t, raw in ((x, np.ascontiguousarray(x.numpy()).tobytes()), (y, y.numpy().tobytes()), (empty, b"")):
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(raw)
    assert tensor_digest(x, y, empty) == h.hexdigest()
    assert tensor_digest(x) != tensor_digest(x.contiguous().reshape(12))  # the shape is part of it
