"""The one training loop: every generator/discriminator/loss/regularizer combination runs through it.

Per generator step: ``n_dis`` discriminator steps (loss on a real and a fake batch, plus regularizer
penalties), then one generator step, then the EMA update (``update: simultaneous`` instead steps both
players at once from one batch, see ``schedule``). Budget = generator steps. All randomness
comes from ``seeding`` counters, so a resumed run replays exactly what an uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import __version__
from ..augment import diff_augment, parse_policy
from ..config import RunConfig
from ..errors import UserError
from . import checkpoint as ckpt
from .build import Parts, build_parts, resolve_device
from .ema import EMA
from .rundir import RunDir, prepare
from .schedule import SCHEDULES
from .seeding import AUG, DATA, NOISE_D, NOISE_G, REG, rng


@dataclass
class RunResult:
    status: str  # done | diverged
    step: int
    out: Path
    wall_s: float
    message: str = ""


class BatchSampler:
    """Batch number b -> real samples: epochs of seeded permutations, so any batch can be recomputed."""

    def __init__(self, x: torch.Tensor, batch_size: int, seed: int):
        self.x, self.batch_size, self.seed = x, batch_size, seed
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            if len(self._perms) > 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = torch.randperm(len(self.x), generator=rng(self.seed, DATA, epoch)).to(self.x.device)
        return self._perms[epoch]

    def __call__(self, b: int) -> torch.Tensor:
        """Indices of batch number b."""
        n, start = len(self.x), b * self.batch_size
        first_epoch, offset = divmod(start, n)
        if offset + self.batch_size <= n:  # the common case: inside one epoch
            return self._perm(first_epoch)[offset:offset + self.batch_size]
        pos = torch.arange(start, start + self.batch_size)  # spans epochs (several, for tiny data)
        epochs, offsets = pos // n, pos % n
        return torch.cat([self._perm(e)[offsets[epochs == e].to(self.x.device)] for e in epochs.unique().tolist()])


def latent(seed: int, stream: int, counter: int, n: int, z_dim: int, device: torch.device) -> torch.Tensor:
    """Drawn on the training device itself: no host-to-device copy per step."""
    return torch.randn(n, z_dim, generator=rng(seed, stream, counter, device), device=device)


class Trainer:
    """Holds a run's parts and performs steps; ``run`` drives it with logging and checkpoints."""

    def __init__(self, cfg: RunConfig, parts: Parts, device: torch.device):
        self.cfg, self.p, self.device = cfg, parts, device
        self.sampler = BatchSampler(parts.data.x, cfg.samples_per_batch, cfg.seed)
        self.num_classes = parts.num_classes
        self.ema = EMA(parts.G, cfg.ema, cfg.ema_rampup) if cfg.ema is not None else None
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
        self.augment = parse_policy(cfg.augment)
        if self.augment and not parts.data.is_image:
            raise UserError("augment applies to image data only")
        use_scaler = cfg.amp == "fp16"
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=use_scaler)
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=use_scaler)

    # --- conditioning: labels travel with the samples when the run is class-conditional ----------------
    def real(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.sampler(b)
        data = self.p.data
        return data.x[idx], (data.y[idx] if self.num_classes else None)

    def fake_labels(self, stream: int, counter: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        g = rng(self.cfg.seed, stream, counter + (1 << 40), self.device)
        return torch.randint(self.num_classes, (self.cfg.samples_per_batch,), generator=g, device=self.device)

    def generate(self, stream: int, counter: int, y: torch.Tensor | None) -> torch.Tensor:
        z = latent(self.cfg.seed, stream, counter, self.cfg.samples_per_batch, self.cfg.z_dim, self.device)
        return self.p.G(z, y) if self.num_classes else self.p.G(z)

    def critic(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's adversarial output, and its class logits for an AC-GAN discriminator."""
        if not self.num_classes:
            return self.p.D(x).float(), None
        adv, cls = self.p.D(x, y)
        return adv.float(), (None if cls is None else cls.float())

    def aug(self, x: torch.Tensor, counter: int, which: int) -> torch.Tensor:
        """DiffAugment (when configured) with draws fixed by (seed, counter, which batch)."""
        if not self.augment:
            return x
        return diff_augment(x, self.augment, rng(self.cfg.seed, AUG, counter * 4 + which, self.device))

    def d_step(self, counter: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, p = self.cfg, self.p
        real, y_real = self.real(counter)
        real = self.aug(real, counter, 0)
        y_fake = self.fake_labels(NOISE_D, counter)
        with torch.no_grad(), self.autocast():
            fake = self.aug(self.generate(NOISE_D, counter, y_fake), counter, 1)
        with self.autocast():
            (d_real, c_real), (d_fake, c_fake) = self.critic(real, y_real), self.critic(fake, y_fake)
            loss = p.loss.d(d_real, d_fake)
            if c_real is not None:  # AC-GAN: D also classifies real and fake samples
                loss = loss + F.cross_entropy(c_real, y_real) + F.cross_entropy(c_fake, y_fake)
        penalty = torch.zeros((), device=self.device)
        critic = p.D if not self.num_classes else (lambda x: self.critic(x, y_real)[0])
        for i, reg in enumerate(p.regularizers):
            if counter % reg.every == 0:
                term = reg.penalty(critic, real, fake.float(), rng(cfg.seed, REG, counter * 16 + i))
                if term is not None:
                    penalty = penalty + reg.every * term
        p.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss + penalty).backward()
        self.scaler_d.step(p.opt_d)
        self.scaler_d.update()
        for reg in p.regularizers:
            reg.after_d_step(p.D)
        return loss.detach(), penalty.detach()

    def g_step(self, step: int) -> torch.Tensor:
        cfg, p = self.cfg, self.p
        y_fake = self.fake_labels(NOISE_G, step)
        with self.autocast():
            fake = self.generate(NOISE_G, step, y_fake)
            d_fake, c_fake = self.critic(self.aug(fake, step, 2), y_fake)
            if p.loss.g_needs_real:
                with torch.no_grad():
                    real, y_real = self.real(step * cfg.n_dis)
                    d_real = self.critic(self.aug(real, step, 3), y_real)[0]
            else:
                d_real = d_fake  # unused by the loss
        loss = p.loss.g(d_real, d_fake)
        if c_fake is not None:  # AC-GAN: G wants its samples classified as the class asked for
            loss = loss + F.cross_entropy(c_fake, y_fake)
        p.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss).backward()
        self.scaler_g.step(p.opt_g)
        self.scaler_g.update()
        if self.ema is not None:
            self.ema.update(step + 1)
        return loss.detach()

    def modules(self) -> dict[str, torch.nn.Module]:
        mods = {"G": self.p.G, "D": self.p.D}
        if self.ema is not None:
            mods["G_ema"] = self.ema.shadow
        return mods

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.p.opt_g, "opt_d": self.p.opt_d}


def _tensorboard_writer():
    """The SummaryWriter class, imported only when asked for (checked before anything is written)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--tensorboard needs the tensorboard package: pip install 'ganbench[tensorboard]'") from None
    return SummaryWriter


def train(cfg: RunConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True) -> RunResult:
    """Train one GAN as ``cfg`` says, writing the run directory ``out``."""
    run = RunDir(out)
    writer_cls = _tensorboard_writer() if cfg.tensorboard else None
    device = resolve_device(cfg.device)
    parts = build_parts(cfg, device)  # every user error surfaces here, before the run directory is touched
    trainer = Trainer(cfg, parts, device)
    resuming = prepare(run, cfg, resume, overwrite)
    start, elapsed = 0, 0.0
    if resuming and (latest := run.latest_checkpoint()) is not None:
        record, tensors = ckpt.read_checkpoint(latest)
        ckpt.restore(record, tensors, trainer.modules(), trainer.optimizers())
        start, elapsed = record["step"], record["wall_s"]
    run.truncate_log(start)
    run.write_config(cfg)
    run.write_status(status="running", step=start)
    writer = writer_cls(str(run.path / "tensorboard")) if writer_cls else None

    def save(step: int) -> None:
        meta = {"config": cfg.model_dump(mode="json"), "config_digest": cfg.digest(), "wall_s": elapsed,
                "data_shape": list(parts.data.shape), "num_classes": parts.num_classes,
                "ganbench_version": __version__, "torch_version": torch.__version__}
        ckpt.save_checkpoint(run.ckpt_dir, step, trainer.modules(), trainer.optimizers(), meta)
        if cfg.keep_checkpoints:
            ckpt.prune(run.ckpt_dir, cfg.keep_checkpoints)

    sums = torch.zeros(3, device=device)  # d_loss, penalty, g_loss accumulated between log lines
    n_acc, t_mark, done = 0, time.perf_counter(), start
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, unit="step", dynamic_ncols=True,
               desc=f"{cfg.loss['name']}/{cfg.generator['name']}/{cfg.data['name']}")
    message = ""
    status = "done"
    with bar, (writer or contextlib.nullcontext()), run.log_file.open("a") as log:
        for step in range(start, cfg.steps):
            sums += torch.stack(SCHEDULES[cfg.update](trainer, step))  # d_loss, penalty, g_loss
            n_acc += 1
            bar.update(1)
            done = step + 1
            out_of_time = bool(cfg.time_budget_s) and elapsed + time.perf_counter() - t_mark >= cfg.time_budget_s
            if done % cfg.log_every and done % cfg.ckpt_every and done != cfg.steps and not out_of_time:
                continue
            now = time.perf_counter()
            elapsed += now - t_mark
            d_avg, pen_avg, g_avg = (sums / torch.tensor([n_acc * cfg.n_dis] * 2 + [n_acc], device=device)).tolist()
            if not all(math.isfinite(v) for v in (d_avg, pen_avg, g_avg)):
                status = "diverged"
                message = f"diverged near step {done}: d_loss={d_avg}, g_loss={g_avg}, penalty={pen_avg}"
                break
            row = {"step": done, "d_loss": d_avg, "g_loss": g_avg, "penalty": pen_avg, "wall_s": round(elapsed, 4),
                   "sec_per_step": (now - t_mark) / n_acc}
            log.write(json.dumps(row) + "\n")
            log.flush()
            bar.set_postfix(d=f"{d_avg:.3f}", g=f"{g_avg:.3f}")
            if writer is not None:
                for key in ("d_loss", "g_loss", "penalty"):
                    writer.add_scalar(f"loss/{key}", row[key], done)
            if done % cfg.ckpt_every == 0 or done == cfg.steps or out_of_time:
                save(done)
            sums.zero_()
            n_acc, t_mark = 0, time.perf_counter()
            if out_of_time:
                message = f"time budget of {cfg.time_budget_s}s reached after {done} steps"
                break
    final_step = done if status == "diverged" or cfg.time_budget_s else max(start, cfg.steps)
    run.write_status(status=status, step=final_step, wall_s=round(elapsed, 3), message=message)
    return RunResult(status, final_step, run.path, elapsed, message)
