"""One run of a study, as executed by any executor (in this process, a pool worker or a Ray task).

Trains (resuming from the run directory's last checkpoint, if any), then evaluates every checkpoint,
and returns a plain dict; the driver alone writes to the study store. A run's own error becomes a
'failed' result with its reason, so one bad run never stops the study; a fault of the machine (disk
full, I/O error, out of memory) is returned as 'transient', which is no result (see faults.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import time
import traceback
from pathlib import Path

from .faults import TRANSIENT, is_transient


RESULT_FILE = "result.json"  # the run's study record, kept in its directory for `study rebuild`


def _keep_results(runs: list[dict], outs: list[Path], results: list[dict]) -> list[dict]:
    """Copy each result into its run directory, durably (fsync, rename) before the driver records it, so
    `study rebuild` restores it: done, diverged, and failed too, even when the run failed before its directory
    existed (rebuilding must not run a failed run again). A transient fault is no result and is never written.
    A record that cannot be written (a full disk) makes the result a transient fault: the store must not count
    a run as finished whose record is missing (`study rebuild` would train it again); its next start resumes
    from its final checkpoint. The config hash comes from the driver, so a config this worker cannot even build
    still gets its record."""
    from ..config import make_config
    from ..fileio import atomic_write_text

    kept = []
    for run, out, result in zip(runs, outs, results):
        if result.get("status") != TRANSIENT:
            try:
                digest = run.get("config_hash") or make_config(run["config"]).digest()
                atomic_write_text(out / RESULT_FILE, json.dumps({**result, "config_hash": digest}, indent=1))
            except Exception as exc:  # noqa: BLE001  (not the file system's: an unbuildable config without a hash)
                if isinstance(exc, OSError) or is_transient(exc):
                    why = f"its record {RESULT_FILE} could not be written ({exc.__class__.__name__}: {exc})"
                    result = {**result, "status": TRANSIENT, "error": why}
        kept.append(result)
    return kept


def run_dir_name(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=+," else "_" for c in run_id)


def execute_run(run: dict, study_dir: str, eval_spec: dict, threads: int | None = None,
                scope: dict | None = None, compile: str = "none") -> dict:
    return execute_group([run], study_dir, [eval_spec], threads, compile, scope)[0]


def execute_group(runs: list[dict], study_dir: str, eval_specs: list[dict], threads: int | None = None,
                  compile: str = "none", scope: dict | None = None) -> list[dict]:
    """Train ``runs`` (one run, or a group trained as one member-stacked model), then evaluate each.
    ``compile``: the torch.compile mode of the step (training/capture.py), recorded in each result.

    A group that runs out of device memory is split in two halves that go on separately (said on
    stderr and in each result's ``note``); members that finished keep their results. ``scope``: the
    driver's path confinement (confine.py), re-entered here since a worker may be another process.
    """
    from ..confine import restored

    import torch

    before = torch.get_num_threads()
    try:
        with restored(scope):
            return _execute_group(runs, study_dir, eval_specs, threads, compile)
    finally:  # in-process, the driver goes on with its own count (its calibration rows are computed with it)
        torch.set_num_threads(before)


def _execute_group(runs: list[dict], study_dir: str, eval_specs: list[dict], threads: int | None,
                   compile: str) -> list[dict]:
    import torch

    from ..config import make_config
    from ..errors import UserError
    from ..training.loop import train_group

    if threads:
        torch.set_num_threads(threads)
    outs = [Path(study_dir) / "runs" / run_dir_name(r["run_id"]) for r in runs]
    software = _software(runs[0]["config"].get("device", "auto"))  # before training: the code this process runs
    results = [{"run_id": r["run_id"], "evals": [], "started": time.time(), "software": software} for r in runs]
    ids = [r["run_id"] for r in runs]
    for out in outs:  # a run executed again has no result yet (and a directory holding only one is empty)
        with contextlib.suppress(OSError):
            (out / RESULT_FILE).unlink(missing_ok=True)
    try:
        trained = train_group([make_config(r["config"]) for r in runs], outs, resume=True, progress=False,
                              compile=compile)
    except torch.OutOfMemoryError:
        if len(runs) == 1:
            return [{**results[0], "status": TRANSIENT, "error": "out of device memory"}]
        half = len(runs) // 2
        note = f"out of device memory training {len(runs)} runs together; split into {half} + {len(runs) - half}"
        print(f"ganbench: {note}", file=sys.stderr, flush=True)
        torch.cuda.empty_cache()
        split = (_execute_group(runs[:half], study_dir, eval_specs[:half], threads, compile)
                 + _execute_group(runs[half:], study_dir, eval_specs[half:], threads, compile))
        return _keep_results(runs, outs, [{**r, "note": "; ".join(x for x in (note, r.get("note")) if x)}
                                          for r in split])
    except UserError as exc:
        return _keep_results(runs, outs, [{**r, "status": "failed", "error": str(exc)} for r in results])
    except Exception as exc:  # noqa: BLE001  (recorded with its reason; the study goes on)
        return _keep_results(runs, outs, [{**r, "status": _status(exc), "error": _reason(exc)} for r in results])
    for result, t, out, eval_spec, run in zip(results, trained, outs, eval_specs, runs):
        result.update(status=t.status, steps=t.step, train_seconds=round(t.wall_s, 3))
        if t.compiled != "none":
            result["compiled"] = t.compiled  # the protocol: torch.compile mode, or why it fell back
        if len(runs) > 1:
            result["trained_with"] = ids  # the protocol: these runs trained together as one stacked model
        if t.status != "done":
            result["error"] = t.message
            continue
        device = run["config"].get("device", "auto")  # evaluated where it trained: a GPU study on the GPU
        _evaluate(result, out, {**eval_spec, "device": device}, t.step)
    return _keep_results(runs, outs, results)


def _evaluate(result: dict, out: Path, eval_spec: dict, steps: int) -> None:
    from ..errors import UserError
    from ..training.rundir import RunDir
    from .evaluation import evaluate_study_run

    try:
        result["evals"] = evaluate_study_run(out, eval_spec)
        result["efficiency"] = {**_efficiency(out), **_training_flops(RunDir(out).read_config(), steps)}
    except UserError as exc:
        result.update(status="failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001  (recorded with its reason; the study goes on)
        result.update(status=_status(exc), error=_reason(exc))


def _software(device: str) -> dict | None:
    """The software and machine that train and evaluate these runs (provenance.py; the report states them)."""
    from .. import provenance
    from ..training.build import resolve_device

    try:
        return provenance.record(str(resolve_device(device)))
    except Exception:  # noqa: BLE001  (an unknown device fails the run itself, with its reason)
        return provenance.record()


def _status(exc: Exception) -> str:
    """'transient' for a fault of the machine (no result: retried or left queued), else 'failed'."""
    return TRANSIENT if is_transient(exc) else "failed"


def _reason(exc: Exception) -> str:
    last = traceback.format_exc().strip().splitlines()[-3:]
    return f"{exc.__class__.__name__}: {exc} | {' / '.join(last)}"


def _training_flops(cfg, steps: int) -> dict:
    """Training FLOPs of the run; the per-step measurement is shared by runs that differ only in seed, through
    the user's cache (keyed by the config, torch's version and the counting code). Not through the study
    directory: a stranger's study could hold a forged entry, and the report's costs would not be measured."""
    import hashlib

    import torch

    from ..cache import cache_dir, key_digest
    from ..fileio import atomic_write_text
    from ..training import flops

    code = hashlib.sha256(Path(flops.__file__).read_bytes()).hexdigest()
    key = key_digest(config=cfg.model_copy(update={"seed": 0}).digest(), torch=torch.__version__, code=code)
    cache = cache_dir("flops") / f"{key}.json"
    measured = _cached_flops(cache)
    if measured is None:
        measured = flops.step_flops(cfg)
        atomic_write_text(cache, json.dumps({"pattern": measured.pattern, "phases": measured.phases}))
    return {"train_flops": measured.total(steps), "flops_per_step": measured.phases}


def _cached_flops(path: Path):
    """A cached StepFlops, or None when there is none or it is not one (a damaged entry is measured again)."""
    from ..confine import BadJSON, parse_json
    from ..training.flops import StepFlops

    def number(v) -> bool:
        return type(v) in (int, float) and math.isfinite(v) and v >= 0

    try:
        saved = parse_json(path.read_bytes())
        pattern, phases = saved["pattern"], saved["phases"]
    except (OSError, BadJSON, TypeError, KeyError):
        return None
    if (isinstance(pattern, list) and pattern and all(map(number, pattern)) and isinstance(phases, dict)
            and all(isinstance(k, str) and number(v) for k, v in phases.items())):
        return StepFlops(tuple(pattern), phases)
    return None


def _efficiency(run_dir: Path) -> dict:
    """Deterministic cost figures of the final generator (timings live in the runs table)."""
    from ..api import load_generator
    from ..metrics.efficiency import flops_per_sample, parameter_count

    G = load_generator(run_dir)
    return {"g_params": parameter_count(G), "g_flops_per_sample": flops_per_sample(G, G.config.z_dim)}
