"""Atomic file writes: write a temp file in the target's folder, fsync, rename. Readers never see half a file."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import save_file

from .errors import MACHINE_ERRNOS, UserError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


def _make_folder(path: Path) -> None:
    """Create ``path``'s folder; when that fails, say so naming the file asked for and the folder at fault."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in MACHINE_ERRNOS:  # a full disk is the machine's: the CLI's hint for it, exit 1
            raise OSError(exc.errno, exc.strerror, str(exc.filename or path.parent)) from None
        nearest = next((p for p in path.parents if p.exists()), None)
        if nearest is not None and not nearest.is_dir():
            raise UserError(f"cannot write {path}: {nearest} is a file, not a folder; choose another path") from None
        raise UserError(f"cannot write {path}: its folder {exc.filename or path.parent} cannot be created "
                        f"({(exc.strerror or str(exc)).lower()}); choose another path") from None


def _named(exc: OSError, path: Path, tmp: str | None) -> OSError:
    """The error of a temp-file step, naming ``path`` (the file the user asked for) instead of the temp file."""
    if tmp is None or tmp in (exc.filename, exc.filename2):
        return OSError(exc.errno, exc.strerror, str(path))  # the subclass follows the errno (IsADirectoryError...)
    return exc


def _atomic(path: Path, write) -> None:
    """Call ``write(tmp_path)`` for a temp file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    _make_folder(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # the folder is at fault, not the file (which is not there yet)
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise UserError(f"cannot write {path}: its folder {path.parent} is not writable "
                            f"({(exc.strerror or str(exc)).lower()}); choose another path") from None
        raise _named(exc, path, None) from exc  # a full disk: the CLI's hint for it, naming the file
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise _named(exc, path, tmp) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_identity(path: Path) -> tuple[int, int, int] | None:
    """A file's identity without reading it: (size, modification time in ns, inode), None when it is gone.
    Rewriting or replacing the file changes it, so it keys what a process keeps of a file's content."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino


def is_temp_file(path: Path) -> bool:
    """Whether ``path`` is a temp file left by an interrupted atomic write (never a finished file)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(".tmp") and Path(path).is_file()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write_lines(path, (data,))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_lines(path: Path, lines) -> None:
    """The byte strings ``lines`` yields, written one after another (memory: one of them) atomically: an
    error while they are produced leaves ``path`` as it was."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            for line in lines:
                f.write(line)
            f.flush()
            os.fsync(f.fileno())

    _atomic(path, write)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula


def spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (a stranger's metric name ``=HYPERLINK(...)``,
    a reference's source) gets a leading apostrophe, which shows it as text; numbers are left as they are."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def atomic_write_csv(path: Path, fields: list[str], rows) -> None:
    """A CSV table (header ``fields``; extra keys of a row ignored), its text cells spreadsheet-safe."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({k: spreadsheet_safe(row.get(k)) for k in fields} for row in rows)
    atomic_write_text(path, buf.getvalue())


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None):
    def write(tmp: str) -> None:
        try:
            save_file(tensors, tmp, metadata=metadata)
        except SafetensorError as exc:  # its I/O errors are strings: give them back their errno and path
            found = re.search(r"os error (\d+)", str(exc))
            if found is None:
                raise
            code = int(found.group(1))
            raise OSError(code, os.strerror(code), str(path)) from exc

    _atomic(path, write)


def atomic_save_npz(arrays: dict, path: Path) -> None:
    """Uncompressed .npz (numpy's own format, no pickles) written atomically."""
    import io

    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())
