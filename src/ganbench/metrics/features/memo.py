"""Feature extractors built once per process and reused.

Building one is not free: the LeNet loads both splits of its dataset (an image folder is decoded again),
hashes them for its cache key and reads its weights; the Inception hashes a 95 MB file and loads
TorchScript. A study evaluates each run three times (every checkpoint, the repeat, the held-out "best")
and calibrates every dataset, so one process built the same extractor a dozen times.

An extractor is reused only when everything a fresh build would read is the same:
- the inputs its entry in ``INPUTS`` lists: the dataset spec (a spec names fixed content for embedded and
  checksum-verified data; user files and folders add their files' identity: path, size, modification
  time, inode, so rewritten data builds again), the cache folder ($GANBENCH_CACHE: a classifier is never
  lent across caches), where the Inception weights come from, and the device;
- the weights file it was read from (or wrote) is still the same file: a cache entry removed or replaced
  by another process builds again, exactly as a fresh build would.
A failed build is not remembered (the next call tries again). An extractor without an ``INPUTS`` entry is
built every time: ``points`` has nothing to build, and a plugin's inputs are unknown. Pool workers are
separate processes, each with its own memo. The extractors are deterministic in eval mode and keep no state
between calls, so a reused one gives the numbers a fresh one gives, bit for bit.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Callable

import torch

from ...cache import cache_dir
from ...fileio import file_identity


def _data_files(spec: dict) -> tuple:
    """The identity of the user files a dataset spec reads (its ``path`` option: a file or a folder)."""
    if not spec.get("path"):
        return ()
    root = Path(spec["path"])
    files = sorted(f for f in root.rglob("*") if f.is_file()) if root.is_dir() else [root]
    return tuple((str(f), file_identity(f)) for f in files)


def _lenet_inputs(dataset: dict) -> tuple:
    return json.dumps(dataset, sort_keys=True, default=str), _data_files(dataset), str(cache_dir().resolve())


def _inception_inputs(dataset: dict | None) -> tuple:
    # the dataset does not matter (its pixel range is handled by a wrapper built on every call)
    return os.environ.get("GANBENCH_INCEPTION"), str(cache_dir().resolve())


INPUTS: dict[str, Callable[[dict | None], tuple]] = {"lenet": _lenet_inputs, "inception": _inception_inputs}

_built: dict[tuple, tuple[object, tuple | None]] = {}  # key -> (extractor, its weights file's identity)
_lock = threading.Lock()  # two threads asking at once build once


def reused(name: str, dataset: dict | None, device: torch.device, build: Callable) -> object:
    """``build(dataset, device)``, or the extractor an earlier call with the same inputs built."""
    inputs = INPUTS.get(name)
    if inputs is None:
        return build(dataset, device)
    key = (name, inputs(dataset), str(device))
    with _lock:
        if key in _built:
            ext, weights = _built[key]
            if file_identity(ext.weights_file) == weights:
                return ext
        ext = build(dataset, device)
        _built[key] = ext, file_identity(ext.weights_file)
        return ext


def forget() -> None:
    """Drop every remembered extractor (tests that change what a build reads, e.g. a monkeypatched recipe)."""
    with _lock:
        _built.clear()
