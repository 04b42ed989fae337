"""User data: a folder of images (class subfolders give labels) or a .npz file.

Images are turned upright by their EXIF orientation, converted to grayscale (channels 1) or RGB (channels 3;
alpha is dropped, 16-bit gray scaled to 8 bits), resized (shorter side to ``resolution``, bilinear via
Pillow) and center-cropped. Hidden files and folders (names starting with a dot) are skipped. With
``resolution: null`` every image must already have the same size. A corrupt or empty file, mixed sizes
without resizing, or labels out of range stop with one line naming the file or value. The first
``test_fraction`` of a seeded permutation is the test split.
"""

from __future__ import annotations

import unicodedata
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from ..confine import check_files
from ..errors import MACHINE_ERRNOS, UserError
from ..registry import DATASETS
from ..textsafe import shown
from .base import Dataset, Traits

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
Fraction = Annotated[float, Field(ge=0, lt=1)]  # of the data held out as the test split
MAX_CLASSES = 1_000_000  # labels of an npz dataset (ImageNet-21k has 21,841); a larger one is a broken file


def _load_image(path: Path, channels: int | None, resolution: int | None) -> np.ndarray:
    """One image as uint8 (H, W) or (H, W, 3); ``channels`` None keeps grayscale files gray, others RGB."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if path.stat().st_size == 0:
        raise UserError(f"{path}: empty file")
    try:
        with Image.open(path) as img:
            img.load()
            with warnings.catch_warnings():  # corrupt EXIF: Pillow warns (2 lines), keeps the image as stored
                warnings.simplefilter("ignore", UserWarning)
                img = ImageOps.exif_transpose(img)  # upright as a viewer shows it (phones store it sideways)
            gray = channels == 1 if channels else img.mode in ("L", "LA", "I;16", "I;16B", "I;16L", "I", "1")
            if img.mode.startswith("I"):  # 16-bit (or 32-bit int) gray: scale to 8 bits, convert() would clip
                wide = np.asarray(img).astype(np.float64)
                top = 65535.0 if img.mode.startswith("I;16") or wide.max() <= 65535 else float(wide.max())
                img = Image.fromarray(np.clip(np.round(wide * (255.0 / top)), 0, 255).astype(np.uint8), "L")
            img = img.convert("L" if gray else "RGB")
    except Image.DecompressionBombError as exc:
        raise UserError(f"{path}: image too large to decode safely ({exc})") from None
    except UnidentifiedImageError as exc:  # no format Pillow knows
        raise UserError(f"{path}: not a readable image ({exc.__class__.__name__})") from None
    except (OSError, SyntaxError) as exc:  # SyntaxError: Pillow's word for a broken header
        code = getattr(exc, "errno", None)  # an OSError with an errno is the file system's, not the image's
        if code in MACHINE_ERRNOS:  # a failing disk is the machine's fault (the CLI exits 1), not the data's
            raise OSError(code, exc.strerror, str(path)) from None
        if code is not None:  # permissions
            raise UserError(f"{path}: cannot read it ({exc.strerror or exc.__class__.__name__})") from None
        raise UserError(f"{path}: truncated or damaged image (Pillow: {shown(exc, 200)})") from None
    if resolution:
        w, h = img.size
        scale = resolution / min(w, h)
        size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))
        if Image.MAX_IMAGE_PIXELS and size[0] * size[1] > Image.MAX_IMAGE_PIXELS:  # 1 x 10^6 px at 32: 10^9
            raise UserError(f"{path}: {w}x{h} px resized to {size[0]}x{size[1]} before its center crop "
                            f"exceeds {Image.MAX_IMAGE_PIXELS} pixels; crop it first")
        img = img.resize(size, Image.BILINEAR)
        w, h = img.size
        left, top = (w - resolution) // 2, (h - resolution) // 2
        img = img.crop((left, top, left + resolution, top + resolution))
    return np.asarray(img)


def _hidden(path: Path, root: Path) -> bool:
    """A name starting with a dot below ``root`` (macOS's ._photo.jpg, .ipynb_checkpoints/, .@__thumb/)."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _nfc(name: str) -> str:
    """A name as one Unicode form: macOS writes 'é' as e + accent (NFD), Linux mostly as one character
    (NFC); sorted as written, the same folder copied from one to the other numbered its classes apart."""
    return unicodedata.normalize("NFC", name)


def image_files(root: Path, bounded: bool = True) -> list[Path]:
    """Every PNG/JPEG below ``root`` but hidden ones, sorted by path; refuses an empty folder, and (``bounded``:
    before its images are decoded) a folder a study or run directory ships (confine.shipped) as soon as it has
    listed more images than it may hold."""
    from .. import confine

    most = confine.STORED_DATA_FILES if bounded and confine.shipped(root) else None
    found = []
    for p in root.rglob("*"):
        if p.suffix.lower() in IMAGE_SUFFIXES and not _hidden(p, root) and p.is_file():
            found.append(p)
            if most is not None and len(found) > most:  # not listed whole first: a million files took seconds
                confine.check_stored_data(root, len(found), "it holds at least", "images", most)
    files = sorted(found, key=lambda p: ([_nfc(part) for part in p.parts], p.parts))  # then as written: a tie
    if not files:
        raise UserError(f"{root}: no PNG or JPEG images found")
    return files


def read_images(files: list[Path], channels: int | None, resolution: int | None, hint: str) -> np.ndarray:
    """The images stacked as uint8 (N, H, W[, 3]); all must end up the same size (``hint`` says how)."""
    arrays, size = [], None
    for f in files:
        a = _load_image(f, channels, resolution)
        size = size or a.shape
        if a.shape[:2] != size[:2]:
            raise UserError(f"{f}: size {a.shape[:2]} differs from {size[:2]}; {hint}")
        if a.shape != size:  # grayscale beside colour: same size, other channels
            kinds = {2: "grayscale", 3: "colour (RGB)"}
            raise UserError(f"{f} is {kinds[a.ndim]} but {files[0].name} is {kinds[len(size)]}; a folder's images "
                            "must be all grayscale or all colour (convert them; a folder dataset's channels "
                            "option does)")
        arrays.append(a)
    return np.stack(arrays)


def _check_bounds(path: str, files: list[Path], channels: int, resolution: int | None) -> None:
    """A folder a study or run directory ships (confine.STORED_DATA_BYTES) refused before any image is decoded
    when its images would decode or resize to too many bytes (read from the headers)."""
    from PIL import Image

    from .. import confine

    if resolution:  # (the count of images: image_files, while listing them)
        confine.check_stored_data(path, len(files) * resolution**2 * channels, f"its images at resolution {resolution} "
                                  "take", "bytes", confine.STORED_DATA_BYTES)
    if not confine.shipped(path):  # no header pass for the user's own data
        return
    pixels = 0
    for f in files:
        try:
            with warnings.catch_warnings():  # Pillow warns of a large image in open(), in 2 lines
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(f) as img:  # the header only
                    pixels += img.size[0] * img.size[1]
        except Exception:  # noqa: BLE001  (a broken or too large file: _load_image names it)
            continue
    confine.check_stored_data(path, pixels, "its images decode to", "pixels", confine.STORED_DATA_BYTES)


def _split(x: torch.Tensor, y: torch.Tensor | None, split: str, test_fraction: float, source: Path):
    n = len(x)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    n_test = round(n * test_fraction)
    idx = perm[:n_test] if split == "test" else perm[n_test:]
    if len(idx) == 0:
        raise UserError(f"{source}: the {split} split is empty ({n} sample{'s' * (n != 1)}, test_fraction "
                        f"{test_fraction}); add samples or change test_fraction")
    return x[idx], (None if y is None else y[idx])


def _refuse_images_beside_classes(root: Path, files: list[Path], classes: list[str]) -> None:
    """A folder's own images beside class subfolders below it would silently be one more class ("." at the
    top, "cats" beside "cats/indoor"): refused, naming one of them."""
    for c in classes:
        deeper = next((d for d in classes if d != c and (c == "." or d.startswith(f"{c}/"))), None)
        if deeper is None:
            continue
        loose = next(f for f in files if f.parent.relative_to(root).as_posix() == c)
        if c == ".":
            raise UserError(f"{loose}: an image beside the class subfolders of {root}; move it into one "
                            "(class subfolders are labels) or keep every image at the top level (no labels)")
        raise UserError(f"{loose}: an image in {c}, which also holds the class subfolder {deeper} (each "
                        "folder of images is a class); move it into a subfolder of its own")


def _classes(root: Path, files: list[Path]) -> list[str]:
    """The folders holding ``files``, relative to ``root`` ("." for its own), sorted: the class names."""
    return sorted({f.parent.relative_to(root).as_posix() for f in files}, key=_nfc)


def _existing(path: str, folder: bool) -> Path:
    """The dataset option ``path`` as a Path, refused in one line when it names no folder (``folder``) or no
    file: the check loading and ``traits`` make alike, so both refuse a missing path with the same line."""
    p = Path(path)
    if not (p.is_dir() if folder else p.is_file()):
        raise UserError(f"image folder not found: '{path}'" if folder else f".npz file not found: '{path}'")
    return p


def _folder_traits(path: str = "", **_) -> Traits:
    """Images, labelled when class subfolders hold them: read from the folder's listing, no image decoded
    (loading it checks the images)."""
    root = _existing(path, folder=True)
    return Traits("images", False, _classes(root, image_files(root, bounded=False)) != ["."])  # nothing decoded


@DATASETS.register("folder", z_dim=128, traits=_folder_traits)
def folder(split, path: str = "", resolution: int | None = 32, channels: int = 3, test_fraction: Fraction = 0.1):
    """A folder of PNG/JPEG images (recursive); class subfolders give labels; resized and center-cropped."""
    root = _existing(path, folder=True)
    if resolution is not None and not 8 <= resolution <= 1024:
        raise UserError(f"resolution must be between 8 and 1024 pixels (or null: keep the images' size); got {resolution}")
    if channels not in (1, 3):
        raise UserError(f"channels must be 1 or 3; got {channels}")
    files = image_files(root)
    check_files(path, files, "data.path")  # an image linked out of a run directory's folder is refused too
    _check_bounds(path, files, channels, resolution)
    stacked = read_images(files, channels, resolution, "set a resolution to resize")
    x = torch.from_numpy(stacked.astype(np.float32) / 127.5 - 1)
    x = x[:, None] if channels == 1 else x.permute(0, 3, 1, 2).contiguous()
    classes = _classes(root, files)
    _refuse_images_beside_classes(root, files, classes)
    y = None
    if classes != ["."]:
        index = {c: i for i, c in enumerate(classes)}
        y = torch.tensor([index[f.parent.relative_to(root).as_posix()] for f in files])
    x, y = _split(x, y, split, test_fraction, root)
    return Dataset(f"folder:{root.name}", x, y, num_classes=len(classes) if y is not None else None)


def _say_unread_arrays(p: Path) -> None:
    """Arrays beside ``x`` in a file without ``y`` (labels saved as 'labels', say) are not read: said on
    stderr, where the dataset silently became unlabelled.
    (Without ``x``, the notice of its first array names them all.)"""
    from ..textsafe import notice_once

    with np.load(p, allow_pickle=False) as f:
        names = list(f.files)
    if "x" in names and (others := [n for n in names if n != "x"]):
        notice_once(f"ganbench: {p} has no labels 'y'; its other arrays ({', '.join(map(repr, others))}) are "
                    "not read (save the labels as y to use them)")


def _npz_traits(path: str = "", **_) -> Traits:
    """Points for 2-D samples, else images; labelled with an array ``y``: read from the archive's headers, no
    array loaded (loading it checks the values)."""
    from .arrays import npz_layout

    shape, labelled = npz_layout(_existing(path, folder=False))
    return Traits("points" if len(shape) == 2 else "images", False, labelled)


@DATASETS.register("npz", z_dim=128, traits=_npz_traits)
def npz(split, path: str = "", classes: Annotated[int | None, Field(ge=1, le=MAX_CLASSES)] = None,
        test_fraction: Fraction = 0.1):
    """A .npz file with `x` (N,H,W[,C] uint8 or NCHW floats in [-1, 1], or (N, D) vectors) and optional `y`."""
    from .arrays import load_npz, numeric, read_npz

    p = _existing(path, folder=False)
    wide = read_npz(p)
    x = wide.float()  # training runs in float32: a float64 value beyond its range would become inf
    if not torch.isfinite(x).all():
        raise UserError(f"{p}: values up to {float(wide.abs().max()):.3g} exceed float32's range "
                        f"({torch.finfo(torch.float32).max:.3g}); rescale the data")
    y = None
    if (labels := load_npz(p, ("y",)).get("y")) is not None:
        labels = numeric(labels, str(p), "labels 'y'").reshape(-1)
        if labels.dtype.kind == "f" and not (np.isfinite(labels).all() and (labels == np.round(labels)).all()):
            bad = labels[~np.isfinite(labels) | (labels != np.round(labels))][0]
            raise UserError(f"{p}: labels must be integers; found {bad}")
        top = classes or MAX_CLASSES  # checked before the cast to int64, which wraps 2**64-1 and 1e30 around
        if len(bad := labels[(labels < 0) | (labels >= top)]):
            raise UserError(f"{p}: label {bad[0].item()} out of range 0..{top - 1}")
        y = torch.from_numpy(labels.astype(np.int64))
    else:
        _say_unread_arrays(p)
    if y is not None:
        if len(y) != len(x):
            raise UserError(f"{p}: {len(x)} samples but {len(y)} labels")
        k = classes or int(y.max()) + 1
    x, y = _split(x, y, split, test_fraction, p)
    return Dataset(f"npz:{p.stem}", x, y, num_classes=k if y is not None else None)
