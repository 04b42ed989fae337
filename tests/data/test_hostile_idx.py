"""Hostile idx files: corrupt gzip streams, decompression bombs and headers whose sizes overflow are
refused in one line naming the file (the CLI exits 2), never a traceback, never gigabytes allocated."""

import gzip

import numpy as np
import pytest

from ganbench.cli import main
from ganbench.data import mnist as mnist_mod
from ganbench.errors import UserError


def _idx(shape) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + b"".join(int(s).to_bytes(4, "big") for s in shape)


def _broken_deflate() -> bytes:
    blob = bytearray(gzip.compress(_idx((400,)) + bytes(range(200)) * 2))
    blob[10] = 0b111  # the first deflate block: final, of the reserved type 3 (zlib.error, not OSError)
    return bytes(blob)


def test_corrupt_deflate_stream_is_one_line(tmp_path, capsys, monkeypatch):
    with pytest.raises(UserError, match="corrupt gzip"):
        mnist_mod.read_idx(_broken_deflate(), "bad.gz")  # was zlib.error: invalid block type
    for stem in mnist_mod.FILES:
        (tmp_path / (stem + ".gz")).write_bytes(_broken_deflate())
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    assert main(["data", "fetch", "mnist", "--path", str(tmp_path), "--offline"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt gzip" in err[0] and "train-images" in err[0]
    assert not (tmp_path / "home" / "mnist").exists()
