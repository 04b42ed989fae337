"""The checkpoint side of ``loop.train_group``: what a run refuses before it resumes, how its members
continue from the step all of them saved, and what each checkpoint records beside the tensors."""

from __future__ import annotations

import torch

from .. import __version__
from ..config import RunConfig
from ..provenance import code_digest
from . import checkpoint as ckpt
from .build import check_fits
from .rundir import RunDir, refuse_shorter_budget


def check_resumable(runs: list[RunDir], cfgs: list[RunConfig]) -> None:
    """Before anything is built or written: no budget below the steps a run has trained, and a stored
    config must fit its checkpoint (a stored config is data)."""
    for run, cfg in zip(runs, cfgs):
        refuse_shorter_budget(run, cfg)
    if start := ckpt.common_step([run.ckpt_dir for run in runs]):
        for run, cfg in zip(runs, cfgs):
            record, tensors = ckpt.read_checkpoint(run.ckpt_dir / f"step_{start:07d}.json")
            if "data_shape" in record:
                check_fits(cfg, record, tensors)


def restore(trainer, runs: list[RunDir], start: int) -> tuple[list[float], dict | None]:
    """Load every member's checkpoint at ``start`` into the trainer (0: nothing to load); returns the
    members' training times so far and one member's checkpoint record (None when starting fresh)."""
    elapsed, resumed = [0.0] * len(runs), None
    for i, run in enumerate(runs if start else ()):
        record, tensors = ckpt.read_checkpoint(run.ckpt_dir / f"step_{start:07d}.json")
        ckpt.restore(record, tensors, trainer.modules(i), trainer.optimizers(i))
        ckpt.restore_scalers(record, {"d": trainer.scaler_d, "g": trainer.scaler_g})
        elapsed[i], resumed = record["wall_s"], resumed or record
    return elapsed, resumed


def checkpoint_meta(cfg: RunConfig, trainer, wall_s: float) -> dict:
    """What a checkpoint of a run with ``cfg`` records beside its tensors."""
    meta = {"config": cfg.model_dump(mode="json"), "config_digest": cfg.digest(), "wall_s": wall_s,
            "data_shape": list(trainer.p.data.shape), "num_classes": trainer.num_classes,
            "ganbench_version": __version__, "code": code_digest(), "torch_version": torch.__version__,
            "threads": torch.get_num_threads()}  # `study verify --retrain` trains it again with this count
    if trainer.scaler_d.is_enabled():  # fp16: the loss scales decide which steps are skipped
        meta["grad_scalers"] = {"d": trainer.scaler_d.state_dict(), "g": trainer.scaler_g.state_dict()}
    return meta
