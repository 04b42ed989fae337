"""Evaluate a training run's checkpoints: generate, extract features, compare with cached real data.

Every number in ``eval.json`` carries its protocol: dataset, split, n_real, n_fake, extractor (with its
weights' identity), checkpoint tag and step, sampling seed, whether the EMA generator was used, and the split's
content digest (``data_digest``: the bytes measured against, which the data settings alone do not fix).
Real-data features (and their mean/covariance) are cached per (dataset, split, extractor, n) under a
key that hashes the real samples' content, so a second evaluation extracts no real features.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from tqdm.auto import tqdm

from . import provenance
from .api import class_labels, generate, load_generator
from .cache import cache_dir, key_digest, tensor_digest
from .confine import RUN, NotStoredJSON, check_config, read_stored_json, reading
from .data import Dataset, load_dataset
from .errors import UserError
from .fileio import atomic_save_tensors, atomic_write_text
from .limits import MAX_SAMPLES, MAX_SEED, MAX_STORED_JSON, whole
from .metrics.features import build_extractor, check_fits
from .metrics.frechet import Gaussian
from .metrics.declare import default_primary, info
from .metrics.suite import (SAMPLES_KEPT, Context, Extracted, applicable_metrics, available, check_names, compute,
                            default_metrics, size_problem)
from .training import checkpoint as ckpt
from .training.build import build_discriminator, resolve_device
from .training.rundir import RunDir
from .training.seeding import derive_seed

DEFAULT_N = {"points": 2500, "images": 2000}  # PacGAN's 2500 samples for mixtures


SUBSET_SEED = 0  # the permutation a split's reference subset is the start of (the report's real-data panel too)


def reference_order(length: int) -> torch.Tensor:
    """The fixed (seed SUBSET_SEED) permutation of a split's rows whose start is its reference subset."""
    return torch.randperm(length, generator=torch.Generator().manual_seed(SUBSET_SEED))


def _subset(data: Dataset, n: int) -> Dataset:
    """The first n rows of ``reference_order``: the same real subset for every run."""
    if n >= len(data):
        return data
    idx = reference_order(len(data))[:n]
    return Dataset(data.name, data.x[idx], None if data.y is None else data.y[idx], data.modes, data.sigma,
                   data.num_classes)


def data_digest(data: Dataset) -> str:
    """sha256 of a split's content as loaded (x, then y when labelled; cache.tensor_digest): each evaluation row's
    protocol names the split it was measured against by it, so rows measured on other bytes under the same data
    settings (an .npz file regenerated, another machine's copy) can be told apart. The train split's is the data
    the run trained on: training loads the split the same way (training/build.py)."""
    return tensor_digest(data.x, *(() if data.y is None else (data.y,)))


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _extract(extractor, samples: torch.Tensor, desc: str = "features", progress: bool = True) -> Extracted:
    """Features of ``samples`` in chunks (whole multiples of the extractor's own batch, so the numbers do
    not depend on the chunking), with a progress bar; on a CPU, Inception first says how long it will take."""
    n, batch = len(samples), getattr(extractor, "batch_size", 512)
    show = progress and extractor.name != "points" and n > batch
    estimate = show and extractor.name == "inception" and getattr(extractor, "device", None) == torch.device("cpu")
    outs, first, t0 = [], batch if estimate else 4 * batch, time.perf_counter()
    # delay: a bar appears only when the work takes a while
    with tqdm(total=n, desc=desc, unit="img", disable=not show, dynamic_ncols=True, delay=3) as bar:
        i = 0
        while i < n:
            chunk = samples[i:i + (first if i == 0 else 4 * batch)]
            outs.append(extractor(chunk))
            if i == 0 and estimate:
                rate = len(chunk) / (time.perf_counter() - t0)
                tqdm.write(f"inception on CPU: {n} images at ~{rate:.1f} images/s -> about {_duration(n / rate)} "
                           "for this set (a GPU takes seconds: --device cuda)", file=sys.stderr)
            i += len(chunk)
            bar.update(len(chunk))
    out = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    keep = samples if samples.dim() == 2 and len(samples) <= SAMPLES_KEPT else None
    return Extracted(out["features"], out.get("logits"), keep)


def check_size(spec: dict, split: str, data: Dataset, n_fake: int, names: list[str]) -> None:
    """Refuse a split too small for the metrics (reference set: its first n_fake samples) in one line that
    names the dataset and the split."""
    found = size_problem(names, min(len(data), n_fake), n_fake)
    if found:
        problem, metric = found
        size = f"data.n {spec['n']}: " if spec.get("n") not in (None, len(data)) else ""
        fix = "use more data" if len(data) < n_fake else "draw more samples (eval.n; ganbench eval --n)"
        raise UserError(f"dataset '{spec['name']}', {split} split ({size}{len(data):,} sample{'s' * (len(data) != 1)}"
                        f"): {problem}; {fix}{' or leave out ' + repr(metric) if metric else ''}")


def real_features(extractor, data: Dataset, spec: dict, split: str, progress: bool = True) -> Extracted:
    """Features of real data, from the cache when the same data went through the same extractor.

    On the CPU the key holds torch's thread count: sums split over threads round differently (the Inception's
    features moved by 3e-6 between 1 and 2 threads), and the fake features are extracted with the count the
    protocol records, so real ones made by a process with another count would make the numbers depend on
    which process filled the cache."""
    on_cpu = torch.device(getattr(extractor, "device", "cpu")).type == "cpu"
    key = key_digest(data=tensor_digest(data.x), extractor=extractor.identity, spec=spec, split=split,
                     threads=torch.get_num_threads() if on_cpu else None)
    path = cache_dir("stats") / f"{spec['name']}-{split}-{extractor.name}-n{len(data)}-{key}.safetensors"
    if path.is_file():
        try:
            t = load_file(str(path))
            gauss = Gaussian(t["mu"].numpy(), t["sigma"].numpy(), len(t["features"]))
            kept = data.x if data.x.dim() == 2 and len(data.x) <= SAMPLES_KEPT else None  # as _extract keeps
            return Extracted(t["features"], t.get("logits"), kept, gauss)
        except (SafetensorError, KeyError, OSError, ValueError):
            path.unlink(missing_ok=True)  # a damaged cache entry is only a cache: compute it again
    ext = _extract(extractor, data.x, f"real {spec['name']} features", progress)
    g = ext.stats()
    tensors = {"features": ext.features.contiguous(), "mu": torch.from_numpy(g.mu), "sigma": torch.from_numpy(g.sigma)}
    if ext.logits is not None:
        tensors["logits"] = ext.logits.contiguous()
    atomic_save_tensors(tensors, path, {"extractor": extractor.identity, "dataset": json.dumps(spec)})
    return ext


def _badness(metric: str, value: float) -> float:
    """A key that sorts better values of ``metric`` first (NaN last)."""
    if value != value:
        return float("inf")
    return value if info(metric).direction == "lower" else -value


def _checkpoints(run: RunDir, which: str) -> list[Path]:
    found = ckpt.list_checkpoints(run.ckpt_dir)
    if not found:
        raise UserError(f"{run.path} holds no checkpoint (is it a ganbench run directory?)")
    if which.startswith("step_"):  # one checkpoint by name (a study's held-out and repeated evaluations)
        named = [p for p in found if p.stem == which]
        if not named:
            raise UserError(f"{run.path} has no checkpoint '{which}'; it has {', '.join(p.stem for p in found)}")
        return named
    return found if which in ("all", "best") else found[-1:]


def evaluate_run(run_dir: str | Path, metrics: list[str] | None = None, extractor: str | None = None,
                 n: int | None = None, checkpoint: str = "final", split: str = "train", seed: int = 0,
                 ema: bool = True, progress: bool = True, device: str = "cpu", primary: str | None = None,
                 write: bool = True, data_paths: Iterable[str | Path] = ()) -> dict:
    """Evaluate a run's checkpoints; ``primary`` (a quality value, default per kind of data) selects "best".
    ``write=False`` returns the results without adding them to the run's eval.json. The run's stored
    config is data: the paths it names (its ``data.path``) must lie inside ``run_dir`` or under one of
    ``data_paths`` (the CLI's --data-path)."""
    if isinstance(metrics, str):  # one name, as a list of one: never its characters
        metrics = [metrics]
    if n is not None:
        whole(n, "n (fake samples)", 2, MAX_SAMPLES)
    whole(seed, "seed", 0, MAX_SEED)
    if split not in ("train", "test"):
        raise UserError(f"split must be 'train' or 'test'; got {split!r}")
    with reading(run_dir, RUN, data_paths):
        return _evaluate_run(run_dir, metrics, extractor, n, checkpoint, split, seed, ema, progress, device,
                             primary, write)


def _evaluate_run(run_dir, metrics, extractor, n, checkpoint, split, seed, ema, progress, device, primary,
                  write) -> dict:
    run = RunDir(run_dir)
    if not run.exists():
        raise UserError(f"{run.path} is not a ganbench run directory (no config.yaml)")
    if checkpoint not in ("best", "final", "all") and not checkpoint.startswith("step_"):
        raise UserError(f"--checkpoint must be best, final, all or a checkpoint name (step_N); got '{checkpoint}'")
    cfg = run.read_config()
    check_config(cfg)  # every stored path, before any data, extractor or checkpoint is read
    data = load_dataset(cfg.data, split)
    digest = data_digest(data)  # 0.15 s for MNIST's 60,000 training images on one CPU thread
    kind = "images" if data.is_image else "points"
    dev = resolve_device(device)
    name = extractor or ("lenet" if kind == "images" else "points")
    check_fits(name, kind)
    check_names(metrics)
    ext = build_extractor(name, cfg.data, dev)
    n_fake = n or DEFAULT_N[kind]
    real_data = _subset(data, n_fake)
    check_size(cfg.data, split, data, n_fake, applicable_metrics(
        kind, data.modes is not None, data.num_classes is not None, cfg.conditional, ext.has_logits, metrics))
    real = real_features(ext, real_data, cfg.data, split, progress)
    ctx = Context(modes=data.modes, sigma=data.sigma, real_labels=data.y, num_classes=data.num_classes,
                  z_dim=cfg.z_dim, run_dir=run.path)
    rows, started = [], time.perf_counter()
    paths = _checkpoints(run, checkpoint)
    for path in tqdm(paths, desc="evaluating checkpoints", unit="ckpt", disable=not progress or len(paths) < 2):
        G = load_generator(path, ema=ema, device=str(dev))
        ctx.generator = G
        if "efficiency" in (metrics or []):
            _, tensors = ckpt.read_checkpoint(path)
            ctx.discriminator = ckpt.load_module(build_discriminator(cfg, data.shape), tensors, "D").to(dev)
        sample_seed = derive_seed(seed, 99, G.step)
        labels = class_labels(G, n_fake)  # conditional G: every class in turn
        fake = _extract(ext, generate(G, n_fake, seed=sample_seed, labels=labels), f"{path.stem} features", progress)
        fake.labels = labels
        names = metrics or [m for m in default_metrics(kind, ext.has_logits) if available(real, fake, ctx)[m]]
        values = compute(names, real, fake, ctx)
        protocol = {"dataset": cfg.data, "split": split, "n_real": len(real_data), "n_fake": n_fake,
                    "extractor": ext.identity, "checkpoint": path.stem, "step": G.step, "seed": sample_seed,
                    "ema": ema and G.used_ema, "device": dev.type,
                    "threads": torch.get_num_threads(),  # sums split over threads round differently: recorded
                    "data_digest": digest}  # absent in rows recorded before 2026-11-30: unrecorded
        rows.append({"checkpoint": path.stem, "step": G.step, "tags": [], "metrics": values, "protocol": protocol})
    rows[-1]["tags"].append("final")
    produced = [m for m in rows[-1]["metrics"] if info(m).quality]
    key = primary or (default_primary(kind, produced) if produced else None)
    if key is not None and key not in produced:
        raise UserError(f"primary metric '{key}' is not among this evaluation's quality metrics: {', '.join(produced)}")
    if key and checkpoint in ("best", "all") and all(key in r["metrics"] for r in rows):
        pick = min(rows, key=lambda r: _badness(key, r["metrics"][key]))  # first of equals: the earliest
        pick["tags"].append("best")
    if checkpoint == "best":
        rows = [r for r in rows if "best" in r["tags"]]
    result = {"run": str(run.path), "config_digest": cfg.digest(),
              "key": protocol_key(ext.name, split, n_fake, seed, ema), "primary_metric": key,
              "extractor": {"name": ext.name, "identity": ext.identity,
                            "test_accuracy": getattr(ext, "test_accuracy", None)},
              "eval_seconds": round(time.perf_counter() - started, 3), "results": rows,
              "software": provenance.record(str(dev))}  # the code and machine of this evaluation's numbers
    if write:
        store_evaluation(run, result)
    return result


def protocol_key(extractor: str, split: str, n: int, seed: int, ema: bool) -> str:
    """Evaluations under different protocols live side by side in eval.json under this key."""
    return f"{extractor}/{split}/n={n}/seed={seed}/{'ema' if ema else 'raw'}"


def read_evaluations(run_dir: str | Path) -> dict:
    """eval.json's evaluations by protocol key ({} when the run was never evaluated)."""
    path = RunDir(run_dir).file("eval.json")
    if not path.exists():  # a FIFO or folder in its place is refused as it is read
        return {}
    try:
        found = read_stored_json(run_dir, path, MAX_STORED_JSON)
    except NotStoredJSON as exc:
        raise UserError(f"{exc}; move it away (its results can be computed again)") from None
    evaluations = found.get("evaluations", {}) if isinstance(found, dict) else None
    if not isinstance(evaluations, dict) or not all(isinstance(v, dict) for v in evaluations.values()):
        raise UserError(f"{path}: not a ganbench eval.json (needs 'evaluations': a mapping of protocols to "
                        "results); move it away (its results can be computed again)")
    for key, evaluation in evaluations.items():
        if (wrong := _malformed(evaluation.get("results", []))) is not None:
            raise UserError(f"{path}: not a ganbench eval.json (the evaluation {str(key)[:80]!r}: {wrong}); "
                            "move it away (its results can be computed again)")
    return evaluations


# what store_evaluation reads of each stored row it merges new ones into (a protocol is absent in no row ganbench
# writes, and an absent one makes the row one of another extractor: dropped)
ROW_FIELDS = {"checkpoint": str, "protocol": dict, "step": int, "tags": list, "metrics": dict}


def _malformed(rows) -> str | None:
    """What is wrong with an evaluation's stored rows, or None: eval.json is data, and a row that is not
    what ganbench writes is named (one line, printed safely by the CLI), never silently dropped nor a traceback."""
    if not isinstance(rows, list):
        return "its results are not a list"
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            return f"row {i} of its results is not a mapping"
        for field, kind in ROW_FIELDS.items():
            value = row.get(field)
            if field == "protocol" and field not in row:
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                return f"row {i} of its results has {field} {repr(value)[:60]}"
    return None


def store_evaluation(run: RunDir, result: dict) -> None:
    """Add ``result`` to eval.json beside the other protocols' results. Re-evaluating one protocol
    updates its rows checkpoint by checkpoint (metrics merged); results of a replaced run are dropped, and
    so are the protocol's rows measured by another extractor identity (an identity recorded before it named
    the LeNet's weights included): one protocol's rows are all numbers of the one extractor it names."""
    evaluations = {k: v for k, v in read_evaluations(run.path).items()
                   if v.get("config_digest") == result["config_digest"]}
    old = evaluations.get(result["key"])
    if old is not None:
        identity = result["extractor"]["identity"]
        rows = {r["checkpoint"]: r for r in old.get("results", [])
                if isinstance(r, dict) and r.get("protocol", {}).get("extractor") == identity}
        chose_best = any("best" in r["tags"] for r in result["results"])
        for r in result["results"]:
            if r["checkpoint"] in rows:
                kept = rows[r["checkpoint"]]
                was_best = "best" in kept["tags"]
                kept["metrics"] = {**kept["metrics"], **r["metrics"]}
                kept.update({k: v for k, v in r.items() if k != "metrics"})
                if was_best and not chose_best:  # a 'final' evaluation leaves the earlier choice of best
                    kept["tags"] = [*r["tags"], "best"]
            else:
                rows[r["checkpoint"]] = r
        if chose_best:  # one best: the newest evaluation's
            fresh = {r["checkpoint"] for r in result["results"]}
            for c, r in rows.items():
                if c not in fresh and "best" in r["tags"]:
                    r["tags"] = [t for t in r["tags"] if t != "best"]
        result = {**result, "results": sorted(rows.values(), key=lambda r: r["step"])}
    evaluations[result["key"]] = result
    text = json.dumps({"run": str(run.path), "evaluations": evaluations}, indent=1)
    atomic_write_text(run.path / "eval.json", text)
