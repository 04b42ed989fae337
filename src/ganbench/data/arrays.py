"""Read samples from files for direct comparison: a .npz array or a folder of images.

* ``.npz`` with key ``x`` (the first array otherwise, named in a notice on stderr): 2-D (N, D) arrays are
  vectors (points or precomputed features); (N, H, W), (N, H, W, C) or (N, C, H, W) arrays are images,
  uint8 in [0, 255] or floats in [-1, 1].
* a folder: every PNG/JPEG below it (recursively, sorted), all of one size, read as RGB or grayscale.
Images come back as float NCHW in [-1, 1].
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..textsafe import notice_once  # a notice may name a stranger's file or array


def _images_from_array(x: np.ndarray, source: str) -> torch.Tensor:
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    if x.ndim < 2:
        raise UserError(f"{source}: an array of shape {x.shape} is neither samples (N, D) nor images "
                        "(N, H, W[, C]); give one row per sample")
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise UserError(f"{source}: cannot read an image batch of shape {x.shape}: images are (N, H, W), "
                        "(N, H, W, C) or (N, C, H, W) with C = 1 (gray) or 3 (RGB); drop an alpha channel first")
    if x.dtype == np.uint8:
        return torch.from_numpy(x.astype(np.float32) / 127.5 - 1)
    if x.dtype.kind in "iu":  # pixels 0..255 in int64 (say) are not floats in [-1, 1]: say what is expected
        raise UserError(f"{source}: integer images must be uint8 in [0, 255] (got {x.dtype} values "
                        f"{x.min()}..{x.max()}); save them as x.astype(np.uint8), or as floats in [-1, 1]")
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if not torch.isfinite(t).all():
        raise UserError(f"{source}: the images contain NaN or Inf values")
    if t.min() < -1.001 or t.max() > 1.001:
        raise UserError(f"{source}: float images must lie in [-1, 1] (got {float(t.min()):.3g}..{float(t.max()):.3g})")
    if t.min() >= 0:  # [0, 1] pixels (ToTensor's) would be read as the bright half of [-1, 1]: say so
        notice_once(f"ganbench: {source}: every pixel lies in [{float(t.min()):.3g}, {float(t.max()):.3g}], none "
                    "below 0; float images are read as [-1, 1] (if these are [0, 1] pixels, save x * 2 - 1)")
    return t


def numeric(a: np.ndarray, source: str, what: str = "array") -> np.ndarray:
    """Refuse arrays that are not real numbers (strings, objects, complex: a cast would drop data)."""
    if a.dtype.kind not in "biuf":
        raise UserError(f"{source}: the {what} holds {a.dtype} values; expected real numbers")
    return a


def _first_array(path: Path, f: np.lib.npyio.NpzFile) -> np.ndarray:
    """The documented fallback for a file without ``x``, said on stderr: a wrong array fails far from here."""
    x = _array(path, f, f.files[0])
    others = f" (it holds {', '.join(map(repr, f.files))}; save the samples as x to choose)" if len(f.files) > 1 else ""
    notice_once(f"ganbench: {path} has no array 'x'; using its first array {f.files[0]!r} "
                f"({' x '.join(map(str, x.shape)) or 'a scalar'}){others}")
    return x


def _opened(path: Path) -> np.lib.npyio.NpzFile:
    """The archive at ``path`` with its directory read (no array yet); a .npy or an empty archive refused."""
    with open(path, "rb") as f:  # np.load reads a .npy whole (a sparse file: any size) before we could refuse it
        npy = f.read(6) == b"\x93NUMPY"
    loaded = None if npy else np.load(path, allow_pickle=False)
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise UserError(f"{path}: a single .npy array, not an .npz archive; save it with np.savez(path, x=...)")
    if not loaded.files:
        loaded.close()
        raise UserError(f"{path}: the .npz file holds no array")
    return loaded


def _unreadable(path: Path, exc: Exception) -> UserError:
    why = "not an archive of plain arrays; ganbench never loads pickled data" if "pickle" in str(exc) else exc
    return UserError(f"{path}: not a readable .npz file ({why})")


def load_npz(path: Path, keys: tuple[str, ...] = ("x",)) -> dict[str, np.ndarray]:
    """The arrays of an .npz file named in ``keys`` and present (``x``, when asked for: or else the first
    array)."""
    try:
        with _opened(path) as f:
            from .. import confine  # the bound read at call time (tests lower it)

            inflated = sum(i.file_size for i in f.zip.infolist())  # zipfile never inflates past file_size
            confine.check_stored_data(path, inflated, "its arrays hold", "bytes", confine.STORED_DATA_BYTES)
            out = {k: _array(path, f, k) for k in keys if k in f.files}
            if "x" in keys and "x" not in out:
                out["x"] = _first_array(path, f)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None
    return out


def _header(f: np.lib.npyio.NpzFile, key: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The shape and dtype the array ``key``'s header declares, and the bytes its member holds after that
    header; read from the header alone (nothing past it inflated, nothing unpickled)."""
    from numpy.lib import format as npy

    name = key if key in f.zip.namelist() else f"{key}.npy"  # as NpzFile maps its keys to members
    with f.zip.open(name) as member:
        version = npy.read_magic(member)
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _, dtype = read(member)  # 3.0 differs from 2.0 only in the header's encoding (utf8)
        return tuple(shape), dtype, f.zip.getinfo(name).file_size - member.tell()


def _array(path: Path, f: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    """The array ``key``, refused in one line naming its declared size when the archive holds fewer bytes:
    numpy allocates what a header declares before it reads (10^12 values in a 300-byte file ended in "out of
    memory", though nothing was allocated). Object arrays are left to numpy, which refuses them unread."""
    shape, dtype, held = _header(f, key)
    declared = math.prod(shape) * dtype.itemsize
    if not dtype.hasobject and declared > held:
        raise UserError(f"{path}: its array {key!r} declares shape {shape} of {dtype}, {declared:,} bytes, but the "
                        f"archive holds {max(held, 0):,} bytes of it; the file is truncated or damaged")
    return f[key]


def npz_layout(path: Path) -> tuple[tuple[int, ...], bool]:
    """The shape the samples array (``x``, else the first) declares and whether the archive holds labels
    ``y``: read from the archive's directory and that array's header alone (nothing past it inflated, nothing
    unpickled), at any size of the data. What a dataset's traits need; loading checks the rest."""
    try:
        with _opened(path) as f:
            return _header(f, "x" if "x" in f.files else f.files[0])[0], "y" in f.files
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _unreadable(path, exc) from None


def read_npz(path: Path) -> torch.Tensor:
    x = numeric(load_npz(path)["x"], str(path))
    if x.ndim >= 1 and len(x) == 0:
        raise UserError(f"{path}: the array holds no samples (shape {x.shape})")
    if x.ndim >= 2 and x.size == 0:  # samples of no values: (N, 0), (N, 0, 0) images
        raise UserError(f"{path}: the samples hold no values (shape {x.shape})")
    if x.ndim == 2:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        if not torch.isfinite(t).all():
            raise UserError(f"{path}: the array contains NaN or Inf")
        return t
    return _images_from_array(x, str(path))


def read_folder(path: Path) -> torch.Tensor:
    from .folder import image_files, read_images

    return _images_from_array(read_images(image_files(path), None, None, "resize them first"), str(path))


def read_samples(path: str | Path) -> torch.Tensor:
    """Samples to compare (at least 2: the metrics estimate spreads)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: not found (expected a folder of images or a .npz file)")
    if p.is_dir():
        x = read_folder(p)
    elif p.is_file() and p.suffix == ".npz":
        x = read_npz(p)
    else:
        raise UserError(f"{p}: expected a folder of images or a .npz file")
    if len(x) < 2:
        raise UserError(f"{p}: {len(x)} sample{'s' * (len(x) != 1)}; the metrics need at least 2")
    return x
