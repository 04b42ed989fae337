"""Paths read from a run or study directory stay inside it, unless the user names them.

A run or study directory is data: someone else may have written it. Its stored configs (``config.yaml``,
checkpoint sidecars, ``spec.yaml``, the store's rows) can hold path-valued component options, such as a
``folder`` or ``npz`` dataset's ``data.path``; following them blindly would let a shared directory make
``eval``, ``load_generator`` or a study's resume read any file of the machine. So every public function
that reads such a directory (the CLI commands and the Python API alike: ``api.load_generator``,
``api.train(resume=True)`` of a stored config, ``evaluate.evaluate_run``, ``study.runner.run_study`` /
``resume_study``, ``study.rebuild.rebuild_store``, ``report.html.build_report``) runs inside a *scope*
(``reading``): every path option a component is built with (``Entry.build``, the one place options reach
component code) and every file a folder dataset lists must resolve, after symlinks, inside the scope's
directory, or lie under a path the user consented to (``--data-path PATH`` on the command line,
``data_paths=[PATH]`` in Python, or a path in a config the user passed: ``--config``, ``study run SPEC``,
a config or spec object given to ``train`` / ``run_study``). A config the caller passes to ``train``
(fresh, or resuming a run with it) is the caller's own: no scope, nothing checked.

Functions call each other (``evaluate_run`` loads generators, a study's workers evaluate runs), so a
scope already active is kept as it is: the outermost caller's directory and consent decide, and a nested
call can neither widen nor replace them.

A path option is one annotated with ``PathOption`` or named ``path`` or ``*_path``, ``*_dir``, ``*_file``,
so plugin components are covered by the same rule. The scope travels to pool and Ray workers as a dict
(``scope_dict`` / ``confined(**dict)``), since they run in other processes.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import UserError

FLAG = "--data-path"
RUN, STUDY = "run directory", "study directory"  # what a scope's root is, as its messages say


class NotAStoredFile(UserError):
    """A file of a run or study directory that is no regular file (a FIFO, a socket, a device) or larger than
    any such file ganbench writes. ``reason`` is the message without the path (checkpoint.py wraps it)."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(path, reason)  # both in args: it pickles across worker processes
        self.path, self.reason = Path(path), reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class PathOption:
    """Marker for ``Annotated[str, PathOption()]``: the option names a file or folder."""


_SUFFIXES = ("_path", "_dir", "_file")


@dataclass(frozen=True)
class Scope:
    root: str  # the directory the stored files were read from
    what: str  # "run directory" or "study directory", for the message
    allowed: tuple[str, ...] = ()  # paths the user named (flags, or files they typed)


_SCOPE: ContextVar[Scope | None] = ContextVar("ganbench_confine_scope", default=None)


@contextmanager
def confined(root: str | Path, what: str, allowed: Iterable[str | Path] = ()) -> Iterator[Scope]:
    """Check every path option and listed data file against ``root`` and ``allowed`` while inside."""
    scope = Scope(str(root), what, tuple(str(a) for a in allowed if a))
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


@contextmanager
def reading(root: str | Path, what: str, data_paths: Iterable[str | Path] = ()) -> Iterator[None]:
    """The scope of a public function that reads the stored directory ``root``; ``data_paths``: the
    caller's consent. Inside an active scope it adds nothing: the outer scope (the CLI's, or an outer
    call's) alone decides, so a nested call never widens it."""
    if _SCOPE.get() is not None:
        yield
        return
    if isinstance(data_paths, (str, os.PathLike)):  # one path, not the characters of its name
        data_paths = [data_paths]
    with confined(root, what, data_paths):
        yield


def scope_dict() -> dict | None:
    """The active scope as plain data (for a task sent to another process), or None."""
    scope = _SCOPE.get()
    return asdict(scope) if scope is not None else None


@contextmanager
def restored(scope: dict | None) -> Iterator[None]:
    """Re-enter a scope ``scope_dict`` gave (a no-op for None)."""
    if scope is None:
        yield
        return
    with confined(**scope):
        yield


def _resolved(p: str | Path) -> Path:
    # os.path.realpath, not Path.resolve: the latter raises RuntimeError on a link loop (a stranger's study may
    # ship one), which names no file; realpath stops at the loop, and whoever reads there finds nothing
    return Path(os.path.realpath(p))


def _lexical(p: str | Path) -> Path:
    return Path(os.path.abspath(p))  # '..' folded without following links: where the user pointed


def _consented(p: str | Path, allowed: tuple[str, ...]) -> bool:
    """Under a path the user named: compared both resolved (a link to it) and as written (the user's own
    folder may hold links to elsewhere; naming it trusts them)."""
    return any(_resolved(p).is_relative_to(_resolved(a)) or _lexical(p).is_relative_to(_lexical(a))
               for a in allowed)


def allowed(path: str | Path, scope: Scope | None = None) -> bool:
    scope = scope or _SCOPE.get()
    if scope is None:
        return True
    return _resolved(path).is_relative_to(_resolved(scope.root)) or _consented(path, scope.allowed)


def stored_file(root: str | Path, path: str | Path) -> Path:
    """``path``, a file or folder of the stored directory ``root`` (its config, status, evaluations,
    checkpoints, spec or store), checked: it must resolve, after symlinks, inside ``root``, and inside the
    active scope's directory when it lies there as written (a study's run folder). A link leading elsewhere
    would make a shared directory read any file of the machine; it is refused."""
    p = Path(path)
    if not os.path.lexists(p):
        return p
    target, scope = _resolved(p), _SCOPE.get()
    roots = [root] + ([scope.root] if scope is not None and _lexical(p).is_relative_to(_lexical(scope.root)) else [])
    for r in roots:
        if not target.is_relative_to(_resolved(r)):
            raise UserError(f"{p}: a link leading outside {r} (to {target}); a run or study directory is data "
                            "and may not name files elsewhere: replace the link with the file itself")
    try:
        mode = os.stat(p).st_mode  # never blocks, unlike opening a FIFO
    except OSError:
        return p  # a dangling or looping link inside: whoever reads it says so
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise NotAStoredFile(p, f"{file_kind(mode)}, not a regular file; a run or study directory holds only files "
                                "and folders (reading it could wait forever): replace it with the file itself")
    return p


def file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def read_stored(root: str | Path, path: str | Path, most: int) -> bytes:
    """The bytes of ``path``, a file of the stored directory ``root`` (checked as ``stored_file`` checks it),
    read as ``read_bounded`` reads."""
    return read_bounded(stored_file(root, path), most)


def stored_lines(root: str | Path, path: str | Path, longest: int):
    """The lines (bytes, ending in b"\\n" but perhaps the last) of ``path``, a file of the stored directory
    ``root`` checked as ``read_stored`` checks it, read one at a time: memory stays within ``longest`` bytes
    whatever the file's size, and a line longer than that is refused in one line."""
    p = stored_file(root, path)
    fd, _ = _open_regular(p)
    with os.fdopen(fd, "rb") as f:
        while line := f.readline(longest + 1):
            if len(line) > longest:
                raise NotAStoredFile(p, f"a line of more than {longest:,} bytes (ganbench writes far shorter "
                                        "ones); a run or study directory is data: move the file away")
            yield line


def _open_regular(p: Path) -> tuple[int, os.stat_result]:
    """``p`` opened for reading without blocking (a FIFO cannot make a read wait for a writer), and its stat;
    refused in one line, and closed, when it is no regular file."""
    fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAStoredFile(p, f"{file_kind(info.st_mode)}, not a regular file; replace it with the file itself")
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def read_bounded(path: str | Path, most: int) -> bytes:
    """The bytes of ``path``, refused in one line when it is no regular file or holds more than ``most``
    bytes: a stranger's sparse 50 GB status.json must not be read into memory. Opened without blocking, so
    a FIFO cannot make the read wait for a writer."""
    p = Path(path)
    fd, info = _open_regular(p)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(most + 1) if info.st_size <= most else b""
    finally:
        os.close(fd)
    if info.st_size > most or len(data) > most:  # the second: a file grown since fstat
        raise NotAStoredFile(p, f"{max(info.st_size, len(data)):,} bytes, more than the {most:,} such a file may "
                                "hold (ganbench writes far smaller ones); a run or study directory is data: move the "
                                "file away")
    return data


class BadJSON(ValueError):
    """Stored bytes or text that is no JSON as ganbench writes it; ``str()`` says why, in one line."""


def _unique(pairs: list[tuple[str, Any]]) -> dict:
    found = dict(pairs)
    if len(found) < len(pairs):
        seen: set[str] = set()
        twice = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise BadJSON(f"the key {twice[:80]!r} appears twice in one object")
    return found


def parse_json(data: bytes | str) -> Any:
    """The value of ``data``, JSON read from a run or study directory, the study store or the cache: the one
    parser of stored JSON, so each kind of bad input has one outcome, ``BadJSON`` (a ValueError) saying why:
    bytes that are no UTF-8 (ganbench writes UTF-8 without a byte order mark; UTF-16 and a BOM are refused),
    text that is no JSON or is cut short, an int of more than Python's 4,300 digits (json.loads: a plain
    ValueError), nesting too deep for the parser (a RecursionError) and a key given twice in one object
    (ganbench never writes one, and readers differ on which value wins). NaN, Infinity and -Infinity are read
    as floats, since json.dumps writes them (a diverged loss); the caller checks the types and ranges it needs,
    the top-level value's type among them, and says what a bad value means where it reads it: one line
    naming the file or row, no status, no saved result (``json_row``: a skipped log line)."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray, memoryview)) else data
        return json.loads(text, object_pairs_hook=_unique)
    except BadJSON:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError, JSONDecodeError, the 4,300 digits' ValueError
        raise BadJSON(" ".join(str(exc).split()) or type(exc).__name__) from None


def json_row(line: bytes | str) -> dict | None:
    """A line of a JSON-lines log (metrics.jsonl) as a row: the object it holds, or None for a line that is
    none (cut short by a kill, edited, anything ``parse_json`` refuses, JSON of another type): skip it."""
    try:
        row = parse_json(line)
    except BadJSON:
        return None
    return row if isinstance(row, dict) else None


class NotStoredJSON(NotAStoredFile):
    """A file of a run or study directory that is no JSON as ganbench writes it; ``why``: parse_json's reason."""

    def __init__(self, path: str | Path, why: str):
        super().__init__(path, f"not valid JSON ({why})")
        self.args, self.why = (path, why), why  # args: how it pickles across worker processes


def read_stored_json(root: str | Path, path: str | Path, most: int) -> Any:
    """The JSON value of ``path``, a file of the stored directory ``root`` read as ``read_stored`` reads it.
    Bad JSON is ``NotStoredJSON``: '{path}: not valid JSON ({why})', one line, which the caller may pass on
    (with its advice) or take as no file; the caller checks the value's type."""
    try:
        return parse_json(read_stored(root, path, most))
    except BadJSON as exc:
        raise NotStoredJSON(path, str(exc)) from None


def check_path(value: Any, key: str) -> None:
    """Refuse (one line naming the flag to pass) a path option that leaves the active scope."""
    scope = _SCOPE.get()
    if scope is None or not isinstance(value, (str, os.PathLike)) or not str(value):
        return
    if not allowed(value, scope):
        relative = not Path(value).is_absolute()
        where = _lexical(value) if relative else value
        read = f", a relative path read from the current directory as {where}" if relative else ""
        missing = "" if os.path.lexists(where) else ", which does not exist,"
        raise UserError(f"{scope.root}: its stored {key} '{value}'{read}{missing} lies outside the {scope.what} (a "
                        f"{scope.what} is data and may not name files elsewhere); if you trust that path, pass "
                        f"{FLAG} {where}")


def check_files(folder: str | Path, files: Iterable[Path], key: str) -> None:
    """The files a folder option lists (each may be a symlink) obey the same rule as the option itself."""
    scope = _SCOPE.get()
    if scope is None or _consented(folder, scope.allowed):
        return
    for f in files:
        if not allowed(f, scope):
            raise UserError(f"{scope.root}: {f} (listed in the stored {key} '{folder}') links outside the "
                            f"{scope.what}; if you trust it, pass {FLAG} {folder}")


# Data a run or study directory ships inside itself (a stored path allowed because it lies there, not because
# the user named it) is a stranger's, and `study report`, which only reads, loads it (the dataset's traits, the
# real-data strip): what it may make us decode is bounded, as stored files are (limits.py). Measured on a
# report before: 380 kB of deflated zeros in an .npz, 400 MB of pixels, took 4.7 GB; 100 PNGs of 67 bytes at
# resolution 1024, 4.4 GB; 20,000 such PNGs, 31 s; five 164 kB PNGs of 169 Mpx, 40 s. 128 MiB of uint8 pixels
# are 0.5 GB as floats. Data the user names (--data-path) is theirs: read unbounded.
STORED_DATA_BYTES = 2**27  # array bytes, decoded pixels, or images x resolution^2 x channels
STORED_DATA_FILES = 10_000  # image files of a folder


def check_stored_data(path: str | Path, amount: int, what: str, unit: str, most: int) -> None:
    """Refuse (one line naming the flag to pass) ``amount`` ``unit`` of the data at ``path`` beyond ``most``
    when the active scope's directory ships that data unconsented; ``what`` reads before the number."""
    if amount > most and shipped(path):
        raise UserError(f"{path}: {what} {amount:,} {unit}, more than the {most:,} that data a {_SCOPE.get().what} "
                        f"ships may make ganbench decode; if you trust it, pass {FLAG} {path}")


def shipped(path: str | Path) -> bool:
    """Whether ``path`` is data the active scope's directory ships: a scope is active and the user did not
    name the path (it is allowed, if at all, only by lying inside that directory)."""
    scope = _SCOPE.get()
    return scope is not None and not _consented(path, scope.allowed)


def path_options(entry) -> list[str]:
    """The option names of a registry entry that hold paths (marked, or named by the convention)."""
    return [name for name, f in entry.options.model_fields.items()
            if name == "path" or name.endswith(_SUFFIXES) or any(isinstance(m, PathOption) for m in f.metadata)]


def config_key(kind: str, name: str) -> str:
    """How a component option is written in a run config: ``data.path`` for a dataset's ``path``."""
    return f"{'data' if kind == 'dataset' else kind}.{name}"


def check_options(entry, opts: dict) -> None:
    for name in path_options(entry):
        check_path(opts.get(name), config_key(entry.kind, name))


def config_paths(cfg) -> list[tuple[str, str]]:
    """(config key, value) of every path option set in a RunConfig (or its validated dict)."""
    from .registry import DATASETS, DISCRIMINATORS, GENERATORS, LOSSES, REGULARIZERS

    tree = cfg if isinstance(cfg, dict) else cfg.model_dump(mode="json")
    parts = [(DATASETS, tree["data"]), (GENERATORS, tree["generator"]), (DISCRIMINATORS, tree["discriminator"]),
             (LOSSES, tree["loss"]), *((REGULARIZERS, r) for r in tree.get("regularizers", []))]
    out = []
    for registry, spec in parts:
        entry = registry.get(spec["name"])
        out += [(config_key(entry.kind, n), spec[n]) for n in path_options(entry) if spec.get(n)]
    return out


def check_config(cfg) -> None:
    """Every path option of ``cfg`` against the active scope, before anything is loaded or written."""
    for key, value in config_paths(cfg):
        check_path(value, key)
