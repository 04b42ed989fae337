"""`ganbench` command line: train, ensemble, sample, eval, metrics, study, data, list.

Each command group is a module here that adds its subcommands to the parser and names the function that
carries each out (``handler``). User errors print one line ``ganbench: error: ...`` and exit with code 2 (a
fault of the machine, a full disk or a study store that stays locked, exits 1: ``exit_code``);
no tracebacks: ``main`` below is the one place where errors become that line.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import warnings

import yaml

from ..errors import MACHINE_ERRNOS, UserError
from ..sigterm import sigterm_interrupts
from ..textsafe import as_line, one_line
from ..waitpolicy import passive_wait
from . import data, listing, samples, study, train
from .common import CAPTURE_MODES, parse_assignment  # noqa: F401  (part of the module's interface)
from .train import TRAIN_FLAGS, merge_regularizers, parse_component  # noqa: F401

# in the order `ganbench --help` lists their commands
GROUPS = (train, samples, study, data, listing)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line like every other user error (the usage is behind --help)."""

    def error(self, message: str):
        self.exit(2, f"ganbench: error: {one_line(message)} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganbench", description="Compare GANs fairly.")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (it registers its own components)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


# errno -> what the user can do about it
_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free space and run the command again (add --resume to continue a run)",
    errno.EDQUOT: "the disk quota is exhausted; free space and run the command again",
    errno.EACCES: "permission denied; check its permissions or choose another path",
    errno.EPERM: "operation not permitted; check its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose a writable path",
    errno.ENOENT: "no such file or directory; check the path",
    errno.EISDIR: "it is a directory; give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a directory; check the path",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop); fix or remove the link",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EEXIST: "it exists and is not a directory (a file, or a symlink loop); choose another path",
    errno.EIO: "an input/output error (failing disk or network file system); check the device and retry",
}


def describe_error(exc: BaseException) -> str | None:
    """One line for an error the user can cause or fix, naming the file where known; None for a bug."""
    import json
    import sqlite3
    import zipfile

    from safetensors import SafetensorError

    from ..study.faults import undecodable

    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename if exc.filename is not None else "file system"
        hint = _OS_HINTS.get(exc.errno, exc.strerror or str(exc))
        return f"{where}: {hint}"
    if isinstance(exc, json.JSONDecodeError):
        return f"a JSON file is not valid ({exc}); restore it from a copy (deleting a run's file loses its record)"
    if isinstance(exc, UnicodeDecodeError):
        return f"a text file is not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8"
    if isinstance(exc, yaml.YAMLError):
        return f"a YAML file is not valid ({str(exc).splitlines()[0]})"
    if isinstance(exc, SafetensorError):
        return (f"a checkpoint or cache file is not readable safetensors ({exc}); restore a checkpoint from a copy "
                "(a cache file under the cache directory may be deleted: it is computed again)")
    if isinstance(exc, zipfile.BadZipFile):
        return f"an .npz file is not a valid zip archive ({exc})"
    if undecodable(exc):  # the text is a stranger's: quoting it could print anything (as_line bounds the line)
        return ("the study store holds text that is not UTF-8 (ganbench writes none); `ganbench study rebuild DIR` "
                "re-reads the finished runs into a fresh store")
    if isinstance(exc, sqlite3.OperationalError):  # full, locked, I/O: the transaction rolled back, the store is sound
        return (f"the study store could not be read or written ({exc}); free space (or end the process holding it), "
                "then `ganbench study resume DIR` continues with every finished run kept")
    if type(exc) is sqlite3.DatabaseError:  # not a bug's IntegrityError
        return (f"the study store could not be read or written ({exc}); check the disk, then "
                "`ganbench study rebuild DIR` re-reads finished runs into a fresh store")
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)):
        return "out of memory; use smaller sizes (batch, --n, resolution) or a larger machine"
    try:
        from PIL import Image, UnidentifiedImageError

        if isinstance(exc, Image.DecompressionBombError):
            return f"an image is too large to decode safely ({exc})"
        if isinstance(exc, UnidentifiedImageError):
            return f"an image file cannot be read ({exc})"
    except ImportError:
        pass
    return None


# SQLite's primary result codes of a store the machine stopped, not the user's input: BUSY, LOCKED, IOERR, FULL
_STORE_FAULTS = {5: "locked", 6: "locked", 10: "disk I/O error", 13: "full"}


def exit_code(exc: BaseException) -> int:
    """2 for an error the user caused (bad input); 1 for a fault of the machine: a full disk or an I/O error
    (`train --resume` continues from the last checkpoint once there is room), or a study store that stayed
    full, locked or failing past its retries, as a run left queued is (`study resume` continues)."""
    import sqlite3

    from ..study.faults import undecodable

    if isinstance(exc, OSError) and exc.errno in MACHINE_ERRNOS:
        return 1
    if isinstance(exc, sqlite3.OperationalError) and not undecodable(exc):  # a stranger's text is input
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None:
            return 1 if code & 0xFF in _STORE_FAULTS else 2
        return 1 if any(word in str(exc) for word in _STORE_FAULTS.values()) else 2  # raised without a code
    return 2


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Python's warnings as Python prints them, but their message as one printable, bounded line: a library's
    warning may quote a stranger's text (matplotlib names the glyph of an escape character it cannot draw)."""
    text = warnings.formatwarning(as_line(message), category, filename, lineno, line)
    try:
        (file if file is not None else sys.stderr).write(text)
    except OSError:  # as Python's own: a warning never takes the command down
        pass


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = _show_warning
    passive_wait()  # before any command loads torch (waitpolicy.py: spinning threads on shared cores)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag already said in one line
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with sigterm_interrupts():  # SIGTERM acts as Ctrl-C in every command (sigterm.py), until its end
            if args.plugin:
                from ..plugins import import_plugins

                import_plugins(args.plugin)
            return args.handler(args)
    except KeyboardInterrupt:
        print("ganbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if exc.filename is not None:  # a file of ours, not the reader of stdout: an ordinary OS error
            print(f"ganbench: error: {one_line(describe_error(exc))}", file=sys.stderr)
            return 2
        # the reader of our output went away (`ganbench list | head`): stop quietly, as `cat` does;
        # stdout now points at /dev/null so the interpreter's final flush cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the signal
    except Exception as exc:  # noqa: BLE001  (the one place user errors become one line)
        line = describe_error(exc)
        if line is None or args.debug:
            raise
        # a message may quote a stranger's file (a name, a value): one printable, bounded line (textsafe.py)
        print(f"ganbench: error: {one_line(line)}", file=sys.stderr)
        return exit_code(exc)
