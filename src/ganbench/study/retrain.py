"""`ganbench study verify DIR --retrain K`: train K of a study's runs again and compare them with what it ships.

Recomputing evaluations (verify.py) shows that the stored numbers are what the shipped checkpoints score; it
cannot show that those checkpoints are what the stored recipe trains. This does: each chosen run is trained
again from its stored config and seed, on the CPU with the thread count it trained with, in a scratch folder
(the study is only read), and every checkpoint the study ships for it is compared with the one written at that
step tensor by tensor (networks, EMA shadow, batch-norm statistics, spectral-norm vectors, optimizer moments);
the final one is also evaluated with the stored final row's protocol and compared value by value. Training is deterministic on a CPU for a given config, seed
and thread count, so on the same kind of CPU the expected verdict is *identical*. A GAN's training amplifies
the last-digit differences of other kernels (AVX-512 against AVX2, another BLAS), so there a retrained run may
legitimately end elsewhere: its verdict then says how far, and the recomputed evaluations still hold.

Runs that cannot be retrained bit for bit here are named, not drawn: those trained on an accelerator, in a
member-stacked group, or with a compiled step.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from ..config import make_config
from ..training import checkpoint as ckpt
from .verify import ATOL, RTOL, compare, recompute, threads_of
from .worker import run_dir_name

AGAIN = "trained again"  # the checkpoint label of a retrained run's comparisons: "step_0001200 trained again"


def why_not(run: dict, final: dict | None) -> str:
    """Why a finished run cannot be trained again bit for bit on this CPU ("" when it can)."""
    if final is None:
        return "it has no stored final evaluation"
    if run.get("trained_with"):
        return "it trained in a member-stacked group (the group's float32 sums round unlike a single run's)"
    if (run.get("compiled") or "none") != "none":
        return f"it trained with a compiled step ({run['compiled']})"
    if final["protocol"].get("device", "cpu") != "cpu":
        return f"it trained on {final['protocol']['device']} (accelerator kernels are not reproduced on a CPU)"
    return ""


def training_threads(record: dict, final: dict) -> int | None:
    """torch's thread count during training: the checkpoint records it (since 2026-11-28); before, the study
    evaluated each run in the process that trained it, so the final row's count is the training's."""
    for value in (record.get("threads"), final["protocol"].get("threads")):
        if isinstance(value, int) and 1 <= value <= 1024:
            return value
    return None


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().reshape(-1).view(torch.uint8)  # whatever the dtype


def digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(_bytes(t).numpy().tobytes())
    return h.hexdigest()[:16]


def compare_tensors(stored: dict[str, torch.Tensor], fresh: dict[str, torch.Tensor], rtol: float,
                    atol: float) -> list[dict]:
    """One comparison per part of the checkpoint (G, G_ema, D, opt_g, ...): identical when every tensor is
    equal bit for bit, agrees when every element is within ``atol + rtol * |stored|``, else differs."""
    parts: dict[str, list[str]] = defaultdict(list)
    for name in stored.keys() | fresh.keys():
        parts[name.split(".", 1)[0]].append(name)
    out = []
    for part, names in sorted(parts.items()):
        a = {n: stored[n] for n in names if n in stored}
        b = {n: fresh[n] for n in names if n in fresh}
        verdict, worst = "identical", 0.0
        if a.keys() != b.keys() or any(a[n].shape != b[n].shape or a[n].dtype != b[n].dtype for n in a):
            verdict, worst = "differs", float("inf")
        else:
            for n in sorted(a):
                if torch.equal(_bytes(a[n]), _bytes(b[n])):
                    continue  # bit for bit (a NaN equals the same NaN)
                x, y = a[n].double(), b[n].double()
                if not torch.equal(x.isnan(), y.isnan()):
                    verdict, worst = "differs", float("inf")
                    continue
                x, y = x.nan_to_num(0.0), y.nan_to_num(0.0)
                excess = ((x - y).abs() - (atol + rtol * x.abs())).max().item()
                worst = max(worst, ((x - y).abs() / x.abs().clamp_min(atol)).max().item())
                verdict = "differs" if excess > 0 or verdict == "differs" else "agrees"
        out.append({"metric": f"tensors {part} ({len(names)})", "stored": digest(a), "recomputed": digest(b),
                    "verdict": verdict, "max_rel_diff": worst})
    return out


def choose(runs: dict[str, dict], finals: dict[str, dict], done: list[str], k: int,
           seed: int) -> tuple[list[str], list[dict], int]:
    """``k`` of the ``done`` runs drawn with ``seed`` among those that can be trained again bit for bit here:
    (chosen, the others' reasons as verify's "not recomputed" entries, how many could be)."""
    reasons = {rid: why_not(runs[rid], finals.get(rid)) for rid in done}
    eligible = [rid for rid in done if not reasons[rid]]
    chosen = sorted(random.Random(seed).sample(eligible, min(k, len(eligible))))
    named = [{"run_id": rid, "checkpoint": "training", "reason": f"not trained again: {why}"}
             for rid, why in sorted(reasons.items()) if why]
    return chosen, named, len(eligible)


def _earlier_checkpoints(rid: str, final_json: Path, fresh_dir: Path) -> tuple[list[dict], list[dict]]:
    """Every checkpoint the study ships for the run before its final one, compared part by part with the one
    the retraining wrote at that step: the recomputed evaluations of intermediate rows (and the checkpoint a
    held-out selection picks) then rest on weights the recipe is shown to train. A shipped step the retraining
    did not write is named, not compared."""
    checked, left_out = [], []
    for sidecar in ckpt.list_checkpoints(final_json.parent):
        if sidecar.name == final_json.name:
            continue
        label, fresh = f"{sidecar.stem} {AGAIN}", fresh_dir / sidecar.name
        if not fresh.is_file():
            left_out.append({"run_id": rid, "checkpoint": label, "reason": "not compared: training the stored "
                             "recipe again wrote no checkpoint at this step"})
            continue
        checked += [{"run_id": rid, "checkpoint": label, **c, "device": "cpu"} for c in compare_tensors(
            ckpt.read_checkpoint(sidecar)[1], ckpt.read_checkpoint(fresh)[1], RTOL, ATOL)]
    return checked, left_out


def retrain_run(study_path: Path, run: dict, final: dict, eval_spec: dict) -> tuple[list[dict], list[dict], float]:
    """``run`` trained again in a scratch folder and compared with the study's checkpoints and final row:
    (comparisons, what could not be compared with the reason, seconds of training)."""
    from ..training.loop import train

    rid, stem = run["run_id"], final["protocol"]["checkpoint"]
    shipped = study_path / "runs" / run_dir_name(rid) / "checkpoints" / f"{stem}.json"
    if not shipped.is_file():
        return [], [{"run_id": rid, "checkpoint": stem, "reason": "not trained again: its final checkpoint is not "
                     "in the study"}], 0.0
    record, stored = ckpt.read_checkpoint(shipped)
    label = f"{stem} {AGAIN}"
    scratch = Path(tempfile.mkdtemp(prefix="ganbench-retrain-"))
    try:
        cfg = make_config({**run["config"], "device": "cpu"}, stored=f"run {rid}")
        started = time.perf_counter()
        with threads_of({"threads": training_threads(record, final)}):
            result = train(cfg, scratch / "run", progress=False)
        seconds = time.perf_counter() - started
        fresh_json = scratch / "run" / "checkpoints" / f"{stem}.json"
        if result.status != "done" or not fresh_json.is_file():
            return [{"run_id": rid, "checkpoint": label, "metric": "training", "stored": "done",
                     "recomputed": f"{result.status} at step {result.step}", "verdict": "differs",
                     "device": "cpu"}], [], seconds
        checked = [{"run_id": rid, "checkpoint": label, **c, "device": "cpu"}
                   for c in compare_tensors(stored, ckpt.read_checkpoint(fresh_json)[1], RTOL, ATOL)]
        earlier, left_out = _earlier_checkpoints(rid, shipped, scratch / "run" / "checkpoints")
        checked += earlier
        metrics, why = recompute(scratch / "run", final, eval_spec)
        if metrics is None:
            return checked, left_out + [{"run_id": rid, "checkpoint": label, "reason": why}], seconds
        for metric, value in sorted(final["metrics"].items()):
            checked.append({"run_id": rid, "checkpoint": label, "metric": metric, "stored": value,
                            "recomputed": metrics.get(metric), "verdict": compare(value, metrics.get(metric)),
                            "device": "cpu"})
        return checked, left_out, seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
