"""One run of a study, as executed by any executor (in this process, a pool worker or a Ray task).

Trains (resuming from the run directory's last checkpoint, if any), then evaluates every checkpoint,
and returns a plain dict; the driver alone writes to the study store. Any error becomes a 'failed'
result with its reason, so one bad run never stops the study.
"""

from __future__ import annotations

import traceback
from pathlib import Path


def run_dir_name(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=+," else "_" for c in run_id)


def execute_run(run: dict, study_dir: str, eval_spec: dict, threads: int | None = None) -> dict:
    import torch

    from ..config import make_config
    from ..errors import UserError
    from ..evaluate import evaluate_run
    from ..training.loop import train

    if threads:
        torch.set_num_threads(threads)
    out = Path(study_dir) / "runs" / run_dir_name(run["run_id"])
    result: dict = {"run_id": run["run_id"], "evals": []}
    try:
        cfg = make_config(run["config"])
        trained = train(cfg, out, resume=True, progress=False)
        result.update(status=trained.status, steps=trained.step, train_seconds=round(trained.wall_s, 3))
        if trained.status != "done":
            result["error"] = trained.message
            return result
        ev = evaluate_run(out, metrics=eval_spec.get("metrics"), extractor=eval_spec.get("extractor"),
                          n=eval_spec.get("n"), checkpoint="all", progress=False, primary=eval_spec.get("primary"))
        result["evals"] = ev["results"]
        result["efficiency"] = _efficiency(out)
    except UserError as exc:
        result.update(status="failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001  (recorded with its reason; the study goes on)
        last = traceback.format_exc().strip().splitlines()[-3:]
        result.update(status="failed", error=f"{exc.__class__.__name__}: {exc} | {' / '.join(last)}")
    return result


def _efficiency(run_dir: Path) -> dict:
    """Deterministic cost figures of the final generator (timings live in the runs table)."""
    from ..api import load_generator
    from ..metrics.efficiency import flops_per_sample, parameter_count

    G = load_generator(run_dir)
    return {"g_params": parameter_count(G), "g_flops_per_sample": flops_per_sample(G, G.config.z_dim)}
