"""`ganbench study verify DIR --retrain K`: train K of a study's runs again and compare them with what it ships.

Recomputing evaluations (verify.py) shows that the stored numbers are what the shipped checkpoints score; it
cannot show that those checkpoints are what the stored recipe trains. This does: each chosen run is trained
again from its stored config and seed, on the CPU with the thread count it trained with, in a scratch folder
(the study is only read), and every checkpoint the study ships for it is compared with the one written at that
step tensor by tensor (networks, EMA shadow, batch-norm statistics, spectral-norm vectors, optimizer moments);
the final one is also evaluated with the stored final row's protocol and compared value by value. Training is
deterministic on a CPU for a given config, seed and thread count, so on the same kind of CPU the expected
verdict is *identical*. A GAN's training amplifies
the last-digit differences of other kernels (AVX-512 against AVX2, another BLAS), so there a retrained run may
legitimately end elsewhere: its verdict then says how far, and the recomputed evaluations still hold.

A run that trained in a member-stacked group (an ensemble) is trained again with its whole group, in the
group's stack order, since a stack's float32 sums round unlike a single run's; a member that diverged and was
frozen must diverge again at the same step. Runs that cannot be retrained bit for bit here are named, not
drawn: those trained on an accelerator or with a compiled step (or in a group with one).
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
from tqdm.auto import tqdm

from ..config import make_config
from ..training import checkpoint as ckpt
from ..textsafe import as_line
from .threads import threads_of
from .verify import ATOL, RTOL, checkpoint_difference, compare, recompute, unreadable
from .worker import run_dir_name

AGAIN = "trained again"  # the checkpoint label of a retrained run's comparisons: "step_0001200 trained again"


def why_not(run: dict, final: dict | None) -> str:
    """Why a finished run cannot be trained again bit for bit on this CPU ("" when it can)."""
    if final is None:
        return "it has no stored final evaluation"
    if (run.get("compiled") or "none") != "none":
        return f"it trained with a compiled step ({run['compiled']})"
    if final["protocol"].get("device", "cpu") != "cpu":
        return f"it trained on {final['protocol']['device']} (accelerator kernels are not reproduced on a CPU)"
    return ""


def group_of(run: dict) -> list[str]:
    """The runs trained together with ``run`` as one member-stacked model, in their stack order (itself alone
    when it trained as a single run): they are trained again together, since a stack's float32 sums round
    unlike a single run's."""
    return list(run.get("trained_with") or [run["run_id"]])


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
           seed: int) -> tuple[list[list[str]], list[dict], int]:
    """``k`` of the ``done`` runs drawn with ``seed`` among those that can be trained again bit for bit here,
    each with its group: (the groups to train again, the others' reasons as verify's "not recomputed" entries,
    how many runs could be). A group trains again only when every member can (a member that diverged and was
    frozen trains again too, and its status is compared)."""
    own = {rid: why_not(run, finals.get(rid)) if run["status"] == "done" else "" for rid, run in runs.items()}
    reasons = {}
    for rid in done:
        reasons[rid] = own[rid]
        for member in group_of(runs[rid]):
            if reasons[rid]:
                break
            if member not in runs:
                reasons[rid] = f"it trained in a group with {member}, which is not in this study"
            elif runs[member]["status"] not in ("done", "diverged"):
                reasons[rid] = f"it trained in a group with {member}, which is {runs[member]['status']}"
            elif own[member]:
                reasons[rid] = f"it trained in a group with {member}: {own[member]}"
    eligible = [rid for rid in done if not reasons[rid]]
    drawn = random.Random(seed).sample(eligible, min(k, len(eligible)))
    groups = sorted({tuple(group_of(runs[rid])) for rid in drawn})
    named = [{"run_id": rid, "checkpoint": "training", "reason": f"not trained again: {why}"}
             for rid, why in sorted(reasons.items()) if why]
    return [list(g) for g in groups], named, len(eligible)


def _earlier_checkpoints(rid: str, shipped_dir: Path, fresh_dir: Path,
                         final: str = "") -> tuple[list[dict], list[dict]]:
    """Every checkpoint the study ships for the run but its ``final`` one, compared part by part with the one
    the retraining wrote at that step: the recomputed evaluations of intermediate rows (and the checkpoint a
    held-out selection picks) then rest on weights the recipe is shown to train. A shipped step the retraining
    did not write is named, not compared."""
    checked, left_out = [], []
    for sidecar in ckpt.list_checkpoints(shipped_dir):
        if sidecar.name == final:
            continue
        label, fresh = f"{sidecar.stem} {AGAIN}", fresh_dir / sidecar.name
        if not fresh.is_file():
            left_out.append({"run_id": rid, "checkpoint": label, "reason": "not compared: training the stored "
                             "recipe again wrote no checkpoint at this step"})
            continue
        checked += _compare_checkpoint(rid, label, sidecar, fresh)
    return checked, left_out


def _compare_checkpoint(rid: str, label: str, shipped: Path, fresh: Path) -> list[dict]:
    """A shipped checkpoint against the retraining's, part by part; one that cannot be read is a difference
    (evidence that cannot be shown), as plain verify counts it."""
    try:
        stored = ckpt.read_checkpoint(shipped)[1]
    except ckpt.UnreadableCheckpoint as exc:
        return [checkpoint_difference(rid, label, shipped.stem, unreadable(exc), device="cpu")]
    return [{"run_id": rid, "checkpoint": label, **c, "device": "cpu"}
            for c in compare_tensors(stored, ckpt.read_checkpoint(fresh)[1], RTOL, ATOL)]


def retrain_group(study_path: Path, members: list[tuple[dict, dict | None]],
                  eval_spec: dict) -> tuple[list[dict], list[dict], float]:
    """One run, or a group of runs that trained together, trained again in a scratch folder as they trained
    (``members``: (run, its final row; None for a member that did not finish) in stack order), each compared
    with the study's checkpoints and final row: (comparisons, what could not be compared with the reason,
    seconds of training)."""
    from ..training.loop import train_group

    ids = [run["run_id"] for run, _ in members]
    shipped, record = {}, None
    for run, final in members:
        if final is None:
            continue
        shipped[run["run_id"]] = path = (study_path / "runs" / run_dir_name(run["run_id"]) / "checkpoints"
                                         / f"{final['protocol']['checkpoint']}.json")
        if not path.is_file():
            return [], [{"run_id": run["run_id"], "checkpoint": path.stem, "reason": "not trained again: its final "
                         "checkpoint is not in the study"}], 0.0
        try:
            record = record or (ckpt.read_record(path), final)
        except ckpt.UnreadableCheckpoint as exc:  # plain verify lists it as a difference already
            return [], [{"run_id": run["run_id"], "checkpoint": path.stem, "reason": "not trained again: its final "
                         f"checkpoint cannot be read ({exc.reason})"}], 0.0
    scratch = Path(tempfile.mkdtemp(prefix="ganbench-retrain-"))
    try:
        cfgs = [make_config({**run["config"], "device": "cpu"}, stored=f"run {run['run_id']}") for run, _ in members]
        outs = [scratch / f"m{i}" for i in range(len(members))]
        tqdm.write(as_line(f"training {' + '.join(ids)} again from the stored config{'s' * (len(ids) > 1)} "
                           f"({cfgs[0].steps} steps)"))
        started = time.perf_counter()
        with threads_of({"threads": training_threads(*record)}):
            results = train_group(cfgs, outs, progress=False, stacked=len(members) > 1)
        seconds = time.perf_counter() - started
        checked, left_out = [], []
        for (run, final), result, out in zip(members, results, outs):
            rid = run["run_id"]
            if final is None:  # a member frozen when it diverged: it must diverge again, at the same step
                stored, now = f"{run['status']} at step {run.get('steps')}", f"{result.status} at step {result.step}"
                checked.append({"run_id": rid, "checkpoint": f"run {AGAIN}", "metric": "training", "stored": stored,
                                "recomputed": now, "verdict": "identical" if stored == now else "differs",
                                "device": "cpu"})
                more, skipped = _earlier_checkpoints(rid, study_path / "runs" / run_dir_name(rid) / "checkpoints",
                                                     out / "checkpoints")
            else:
                more, skipped = _compare_member(rid, shipped[rid], final, result, out, eval_spec)
            checked += more
            left_out += skipped
        return checked, left_out, seconds
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _compare_member(rid: str, shipped: Path, final: dict, result, out: Path,
                    eval_spec: dict) -> tuple[list[dict], list[dict]]:
    """A finished member trained again: its final checkpoint, every earlier one the study ships, and its final
    evaluation recomputed from the fresh checkpoint, each compared with the study's."""
    label = f"{shipped.stem} {AGAIN}"
    fresh_json = out / "checkpoints" / shipped.name
    if result.status != "done" or not fresh_json.is_file():
        return [{"run_id": rid, "checkpoint": label, "metric": "training", "stored": "done",
                 "recomputed": f"{result.status} at step {result.step}", "verdict": "differs", "device": "cpu"}], []
    checked = _compare_checkpoint(rid, label, shipped, fresh_json)
    earlier, left_out = _earlier_checkpoints(rid, shipped.parent, out / "checkpoints", shipped.name)
    checked += earlier
    metrics, why = recompute(out, final, eval_spec)
    if metrics is None:
        return checked, left_out + [{"run_id": rid, "checkpoint": label, "reason": why}]
    for metric, value in sorted(final["metrics"].items()):
        checked.append({"run_id": rid, "checkpoint": label, "metric": metric, "stored": value,
                        "recomputed": metrics.get(metric), "verdict": compare(value, metrics.get(metric)),
                        "device": "cpu"})
    return checked, left_out
