"""Hostile idx files: corrupt gzip streams, decompression bombs and headers whose sizes overflow are
refused in one line naming the file (the CLI exits 2), never a traceback, never gigabytes allocated."""

import gzip
import os

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


def test_gzip_bomb_and_oversized_file_are_refused_before_they_are_inflated(tmp_path, monkeypatch):
    """A small .gz claiming huge content stops at the limit (the largest MNIST file): no gigabytes allocated.
    The limit is lowered here so the test's own data stays small."""
    monkeypatch.setattr(mnist_mod, "MAX_IDX_BYTES", 4096, raising=False)
    bomb = gzip.compress(_idx((100_000,)) + bytes(100_000))  # 100 kB of zeros in a few hundred bytes
    assert len(bomb) < 4096
    with pytest.raises(UserError, match="decompresses to more than 4096 bytes"):
        mnist_mod.read_idx(bomb, "bomb.gz")
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(bomb)
    with pytest.raises(UserError, match="train-labels-idx1-ubyte.gz: decompresses to more"):
        mnist_mod._decompressed(tmp_path / "train-labels-idx1-ubyte.gz")
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx((5000,)) + bytes(5000))
    with pytest.raises(UserError, match="train-images-idx3-ubyte: larger than 4096 bytes"):
        mnist_mod._decompressed(tmp_path / "train-images-idx3-ubyte")


def test_header_sizes_that_overflow_or_are_cut_short():
    """65536**4 elements wrapped to 0 in np.prod, matching an empty body (a ValueError traceback), and
    (2**32-1)**3 was reported as 12884901887 bytes; a header cut short read missing sizes as 0."""
    with pytest.raises(UserError, match=r"\(65536, 65536, 65536, 65536\) \(18446744073709551616 bytes\)"):
        mnist_mod.read_idx(_idx((65536,) * 4), "wrap.idx")
    big = 2**32 - 1
    with pytest.raises(UserError, match=f"\\({big ** 3} bytes\\) but 0 bytes follow"):
        mnist_mod.read_idx(_idx((big,) * 3), "big.idx")
    with pytest.raises(UserError, match="header cut short"):
        mnist_mod.read_idx(bytes([0, 0, 0x08, 3, 0, 0, 0, 5]), "cut.idx")
    small = mnist_mod.read_idx(_idx((2, 3)) + bytes(range(6)))
    np.testing.assert_array_equal(small, np.arange(6).reshape(2, 3))


def _tiny_mnist(folder, monkeypatch):
    """Four small idx files in ``folder``, made *the* MNIST files by swapping in their checksums."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    sums = {}
    for i, stem in enumerate(mnist_mod.FILES):
        shape = (3, 28, 28) if "images" in stem else (3,)
        content = _idx(shape) + bytes([i + 1]) * int(np.prod(shape))
        (folder / stem).write_bytes(content)
        sums[stem] = hashlib.sha256(content).hexdigest()
    monkeypatch.setitem(mnist_mod.SHA256, "mnist", sums)
    return sums


def test_a_damaged_cache_file_is_fetched_again_never_used(tmp_path, monkeypatch):
    """A cached file that fails its checksum blocked every source (even a good --path) with 'checksum
    mismatch'; it is only a cache: the files are found again, verified and written over it."""
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GANBENCH_DATA", raising=False)
    _tiny_mnist(tmp_path / "good", monkeypatch)
    cache = mnist_mod.fetch("mnist", str(tmp_path / "good"), offline=True)
    stem = "train-labels-idx1-ubyte"
    (cache / stem).write_bytes(_idx((3,)) + b"\x09\x09\x09")  # same size, other digits
    mtime = (cache / stem).stat().st_mtime_ns
    os.utime(cache / stem, ns=(mtime, mtime + 1))  # as a coarse clock might not have shown it
    assert mnist_mod.fetch("mnist", str(tmp_path / "good"), offline=True) == cache
    assert (cache / stem).read_bytes() == (tmp_path / "good" / stem).read_bytes()
    (cache / stem).write_bytes(b"junk")  # with no good source, the refusal says why the cache was not used
    monkeypatch.setattr(mnist_mod.shutil, "which", lambda name: None)
    with pytest.raises(UserError, match="cached copy is unusable: .*checksum mismatch"):
        mnist_mod.fetch("mnist", offline=True)


def test_the_bytes_parsed_are_the_bytes_verified(tmp_path, monkeypatch):
    """fetch verified the cache (raw or .gz files), then load_arrays read the raw names again, unverified:
    a cache of .gz files was a FileNotFoundError, and a file replaced in between was parsed unchecked."""
    from ganbench.data import load_dataset

    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    cache = tmp_path / "home" / "mnist"
    _tiny_mnist(cache, monkeypatch)
    for stem in mnist_mod.FILES:  # the cache holds the same files gzipped
        (cache / (stem + ".gz")).write_bytes(gzip.compress((cache / stem).read_bytes()))
        (cache / stem).unlink()
    data = load_dataset({"name": "mnist"}, "test")
    assert data.x.shape == (3, 1, 28, 28) and data.y.tolist() == [4, 4, 4]


def test_an_unwritable_cache_does_not_stop_verified_data(tmp_path, monkeypatch, capsys):
    """The cache folder cannot be made (a file stands in its way: root ignores permission bits). Loading
    verified files from a path went on only with a writable cache; `data fetch` (whose job is the cache)
    refuses naming GANBENCH_DATA_HOME."""
    from ganbench.data import load_dataset

    (tmp_path / "home").write_text("a file, not a folder")
    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    _tiny_mnist(tmp_path / "src", monkeypatch)
    data = load_dataset({"name": "mnist", "path": str(tmp_path / "src")}, "train")
    assert data.y.tolist() == [2, 2, 2]
    assert "set GANBENCH_DATA_HOME to a writable folder; using the verified files" in capsys.readouterr().err
    with pytest.raises(UserError, match="cannot write the mnist cache .*GANBENCH_DATA_HOME"):
        mnist_mod.fetch("mnist", str(tmp_path / "src"), offline=True)


def test_a_mirror_sending_too_much_is_read_only_to_the_limit(tmp_path, monkeypatch):
    """response.read() took whatever a mirror sent (an endless stream: all the memory); it reads at most the
    limit and moves on to the next mirror. The limit is lowered so the test's own response stays small."""
    import io

    monkeypatch.setattr(mnist_mod, "MAX_IDX_BYTES", 4096, raising=False)
    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        return io.BytesIO(bytes(10_000))

    monkeypatch.setattr(mnist_mod.urllib.request, "urlopen", urlopen)
    assert mnist_mod._from_web("mnist", tmp_path) is False
    assert len(asked) == len(mnist_mod.MIRRORS["mnist"]) and not list(tmp_path.iterdir())


def test_idx_files_linked_out_of_a_study_are_refused_unread(tmp_path, monkeypatch):
    """A study shipping a folder of links as its stored data.path made `study report` read the files they
    lead to (checksummed, but read: a report may read nothing outside the study); refused as a folder
    dataset's linked images are, naming --data-path, and read when the user names the folder."""
    from ganbench.confine import STUDY, confined
    from ganbench.data import load_dataset

    monkeypatch.setenv("GANBENCH_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GANBENCH_DATA", raising=False)
    _tiny_mnist(tmp_path / "elsewhere", monkeypatch)
    links = tmp_path / "study" / "mnist"
    links.mkdir(parents=True)
    for stem in mnist_mod.FILES:
        (links / stem).symlink_to(tmp_path / "elsewhere" / stem)
    read = []
    decompressed = mnist_mod._decompressed
    monkeypatch.setattr(mnist_mod, "_decompressed", lambda p: read.append(p) or decompressed(p))
    spec = {"name": "mnist", "path": str(links)}
    with confined(tmp_path / "study", STUDY), mnist_mod.local_only(), pytest.raises(
            UserError, match=rf"train-images-idx3-ubyte \(listed in the stored data.path '{links}'\) links outside "
                             rf"the study directory; if you trust it, pass --data-path {links}$"):
        load_dataset(spec)
    assert read == []
    with confined(tmp_path / "study", STUDY, [links]):
        assert load_dataset(spec).y.tolist() == [2, 2, 2]
