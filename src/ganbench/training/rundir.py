"""The run directory: resolved config, metrics log, status and checkpoints, and the rules for reusing one.

    out/config.yaml       the resolved config (every default filled in)
    out/metrics.jsonl     one JSON object per logged step (losses, wall time, step rate)
    out/status.json       running | done | diverged | interrupted, with the step reached and a message; a
                          running one names its process (pid, host), so a reader can tell a process the
                          kernel killed (no status can be written then) from one still training
    out/checkpoints/      step_N.safetensors + step_N.json
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import yaml

from ..config import RunConfig, make_config
from ..confine import NotStoredJSON, json_row, read_stored_json, stored_file, stored_lines
from ..errors import UserError
from ..fileio import atomic_write_lines, atomic_write_text, is_temp_file
from ..limits import MAX_STORED_JSON, MAX_STORED_LOG_LINE
from ..yamlio import read_yaml_file
from .checkpoint import checkpoint_steps, list_checkpoints

RUN_FILES = ("config.yaml", "metrics.jsonl", "status.json", "checkpoints", "tensorboard", "eval.json")
# keys that may change on resume: the budget, and where/how it runs (log_every, keep_checkpoints and
# tensorboard are outside RunConfig.result_dict, so they may always change)
RESUMABLE = {"steps", "time_budget_s", "ckpt_every", "device"}


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.config_file = self.path / "config.yaml"
        self.log_file = self.path / "metrics.jsonl"
        self.status_file = self.path / "status.json"
        self.ckpt_dir = self.path / "checkpoints"

    def exists(self) -> bool:
        """A config.yaml of any kind: a FIFO or folder in its place is refused, by name, when it is read."""
        return self.config_file.exists()

    def file(self, name: str) -> Path:
        """A file (or folder) of the run directory, refused when it is a link leading out of it (confine.py)."""
        return stored_file(self.path, self.path / name)

    def read_config(self) -> RunConfig:
        return make_config(read_yaml_file(self.file("config.yaml")), stored=str(self.path))

    def write_config(self, cfg: RunConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.config_file, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))

    def status(self) -> dict:
        """The status record; {} when missing, no JSON object (confine.parse_json) or not one (it is rewritten
        by the next train). A FIFO, folder or link out of the run in its place is refused in one line."""
        try:
            found = read_stored_json(self.path, self.status_file, MAX_STORED_JSON) if self.status_file.exists() else {}
        except NotStoredJSON:
            return {}
        return found if isinstance(found, dict) else {}

    def write_status(self, **fields) -> None:
        atomic_write_text(self.status_file, json.dumps(fields, indent=1))

    def write_running(self, step: int) -> None:
        """status.json = running from ``step``, naming this process."""
        self.write_status(status="running", step=step, pid=os.getpid(), host=socket.gethostname())

    def describe_status(self) -> str:
        """The status for a message: 'done', or 'running in process N, which has ended without a word ...'
        when the process that wrote "running" is gone from this host (killed: SIGKILL, the OOM killer)."""
        found = self.status()
        pid = _running_here(found)
        if pid is None or _alive(pid):
            return str(found.get("status", "unknown"))
        return (f"running in process {pid}, which has ended without writing a status (killed, e.g. by the "
                "out-of-memory killer)")

    def trained_elsewhere(self) -> int | None:
        """The pid of another live process of this host that is training this run now, else None."""
        pid = _running_here(self.status())
        return pid if pid is not None and pid != os.getpid() and _alive(pid) else None

    def latest_checkpoint(self) -> Path | None:
        found = list_checkpoints(self.file("checkpoints"))
        return found[-1] if found else None

    def clear(self) -> None:
        for name in RUN_FILES:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)

    def truncate_log(self, step: int) -> None:
        """Drop log lines past ``step`` (they belong to work lost after the last checkpoint). The log is
        streamed, so its length is no limit; a single line over ``MAX_STORED_LOG_LINE`` bytes is refused."""
        if not self.log_file.exists():
            return
        lines = stored_lines(self.path, self.log_file, MAX_STORED_LOG_LINE)
        atomic_write_lines(self.log_file, (raw.rstrip(b"\r\n") + b"\n" for raw in lines if _step_of(raw) <= step))


def _running_here(status: dict) -> int | None:
    """The pid a "running" status names, when it names one on this host; None otherwise."""
    pid = status.get("pid")
    here = status.get("status") == "running" and status.get("host") == socket.gethostname()
    return pid if here and type(pid) is int and pid > 0 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a pid this system cannot have: do not claim it ended
    return True


def log_rows(lines) -> Iterator[dict]:
    """The rows of a training log (metrics.jsonl; lines as bytes, or text): each line that is a JSON object.
    A torn or foreign line (a kill mid-write, an edit: anything confine.json_row refuses) is skipped."""
    for line in lines:
        if (row := json_row(line)) is not None:
            yield row


def _step_of(line: bytes | str) -> float:
    """A log line's step; a torn or foreign line (a crash mid-write) sorts past every step and is dropped."""
    row = json_row(line)
    return row["step"] if row is not None and type(row.get("step")) is int else float("inf")


def clear_leftovers(path: Path) -> None:
    """Remove temp files an interrupted atomic write left behind (they never block a run directory)."""
    for p in path.glob(".*.tmp") if path.is_dir() else ():
        if is_temp_file(p):
            p.unlink(missing_ok=True)


def differing_settings(old: RunConfig, new: RunConfig, ignore=frozenset()) -> list[tuple[str, object, object]]:
    """(key, old value, new value) of each setting that changes the results, where the two configs differ."""
    a, b = old.result_dict(), new.result_dict()
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if k not in ignore and a.get(k) != b.get(k)]


def config_differences(old: RunConfig, new: RunConfig, ignore=frozenset()) -> list[str]:
    return [f"{k}: {a!r} -> {b!r}" for k, a, b in differing_settings(old, new, ignore)]


def refuse_shorter_budget(run: RunDir, cfg: RunConfig) -> None:
    """A resume may raise the budget, not lower it below the steps already trained: the config would say
    fewer steps than its newest checkpoint holds (and eval/sample read that checkpoint)."""
    trained = max(checkpoint_steps(run.ckpt_dir), default=0)
    if trained > cfg.steps:
        raise UserError(f"{run.path} has trained {trained} steps (its newest checkpoint); it cannot resume with "
                        f"a budget of {cfg.steps} steps: ask for at least {trained} steps, or train the "
                        "shorter run into another --out")


def prepare(run: RunDir, cfg: RunConfig, resume: bool, overwrite: bool) -> bool:
    """Decide what to do with ``run``; return True when training should resume from a checkpoint."""
    if resume and overwrite:
        raise UserError("choose one of --resume and --overwrite")
    if run.path.exists() and not run.path.is_dir():
        raise UserError(f"output directory {run.path} is a file; choose another --out")
    clear_leftovers(run.path)
    if not run.exists():
        if run.path.exists() and any(run.path.iterdir()) and not overwrite:
            raise UserError(f"output directory {run.path} is not empty and holds no ganbench run; "
                            "choose another --out or pass --overwrite")
        return False
    if overwrite:
        run.clear()
        return False
    try:
        old = run.read_config()
    except UserError as exc:
        raise UserError(f"{run.config_file} is not a valid ganbench config ({exc}); pass --overwrite") from None
    diffs = config_differences(old, cfg, ignore=RESUMABLE if resume else frozenset())
    if diffs and resume:  # the user asked to continue, so the hint never offers to delete the run
        raise UserError(f"{run.path} holds a run with a different config ({'; '.join(diffs)}); --resume "
                        f"continues the stored config and may change only {', '.join(sorted(RESUMABLE))} and "
                        "logging; to train the changed config, choose another --out")
    if diffs:
        raise UserError(f"{run.path} holds a run with a different config ({'; '.join(diffs)}); "
                        "pass --overwrite to replace it or choose another --out")
    if not resume:
        raise UserError(f"{run.path} already holds this run (status: {run.describe_status()}); "
                        "pass --resume to continue it, or choose another --out")
    return True
