"""The one training loop: every generator/discriminator/loss/regularizer combination runs through it.

Per training step: ``n_dis`` discriminator updates (loss on a real and a fake batch, plus regularizer
penalties), then ``n_gen`` generator updates (one noise draw), then the EMA update (``update:
simultaneous`` instead steps both players at once from one batch, see ``schedule``). Budget = training
steps. All randomness comes from ``seeding`` counters, so a resumed run replays exactly what an
uninterrupted one would.
``train_group`` runs the same loop for k runs of equal network shapes stacked into one model, each
member writing its own run directory (``train`` is its k = 1 case without stacking).
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
from torch.func import vmap
from tqdm.auto import tqdm

from ..augment import diff_augment, parse_policy
from ..config import RunConfig
from ..errors import UserError
from ..latent import LATENTS, draw_latent
from ..regularizers import Draws
from . import checkpoint as ckpt
from .build import Parts, build_parts, resolve_device
from .capture import capture
from .grouping import check_group, refusal
from .ema import EMA
from .interrupt import interrupts_between_steps, status_on_interrupt
from .resume import check_resumable, checkpoint_meta, restore
from .rundir import RunDir, prepare
from .schedule import G_NOISE, SCHEDULES
from .sampler import BatchSampler
from .seeding import AUG, NOISE_D, REG, Generators, rng
from .stack import MemberAdam, MemberState, StackedAdam, StackedEMA, StackedNet, stack_regularizers


@dataclass
class RunResult:
    status: str  # done | diverged
    step: int
    out: Path
    wall_s: float
    message: str = ""
    compiled: str = "none"  # the compile mode it trained with (training/capture.py), or why it fell back


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Losses in float32 at least: AMP's half-precision outputs are widened, float64 ones kept."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def latent(seed: int, stream: int, counter: int, n: int, z_dim: int, device: torch.device,
           kind: str = "normal") -> torch.Tensor:
    """Drawn on the training device itself: no host-to-device copy per step."""
    return draw_latent(kind, n, z_dim, rng(seed, stream, counter, device), device)


def _latents(rows: torch.Tensor, gen: torch.Generator, trainer) -> None:
    LATENTS[trainer.cfg.latent](rows, gen)  # = latent(): the same fill of an empty tensor


# how many calls G makes per batch: PacGAN's code calls it once per pack member (g_call: per_pack_member)
G_CALLS = {"once": lambda cfg: 1, "per_pack_member": lambda cfg: cfg.pack}


def _labels(rows: torch.Tensor, gen: torch.Generator, trainer) -> None:
    rows.random_(0, trainer.num_classes, generator=gen)  # = torch.randint(num_classes, ...)


class Trainer:
    """Holds the parts of one run, or of k member-stacked runs (``Trainer.stacked``), and performs steps.

    The step is written once for both: samples of k members travel one after the other along the batch
    axis, every draw comes from the member's own seed streams, and losses are reduced per member
    (a single run is k = 1). ``run`` drives it with logging and checkpoints.
    """

    def __init__(self, cfg: RunConfig, parts: Parts, device: torch.device):
        self.cfg, self.p, self.device = cfg, parts, device
        self.cfgs, self.k, self.is_stacked = [cfg], 1, False
        self.G, self.D, self.opt_g, self.opt_d = parts.G, parts.D, parts.opt_g, parts.opt_d
        self.regularizers = parts.regularizers
        self.ema = EMA(parts.G, cfg.ema, cfg.ema_rampup) if cfg.ema is not None else None
        self._setup(cfg, parts, device)

    @classmethod
    def stacked(cls, cfgs: list[RunConfig], parts: list[Parts], device: torch.device) -> Trainer:
        """k runs (checked by grouping.check_group) as one member-stacked model (training/stack.py)."""
        self = cls.__new__(cls)
        cfg = cfgs[0]
        self.cfg, self.p, self.device = cfg, parts[0], device
        self.cfgs, self.k, self.is_stacked = cfgs, len(cfgs), True
        self.G, self.D = StackedNet([p.G for p in parts]), StackedNet([p.D for p in parts])
        self.opt_g = StackedAdam(list(self.G.parameters()), [c.lr_g for c in cfgs], [c.betas_g for c in cfgs])
        self.opt_d = StackedAdam(list(self.D.parameters()), [c.lr_d for c in cfgs], [c.betas_d for c in cfgs])
        self.groups = [(p.opt_g.state_dict()["param_groups"], p.opt_d.state_dict()["param_groups"]) for p in parts]
        self.regularizers = stack_regularizers([p.regularizers for p in parts], next(self.D.parameters()))
        self.ema = None
        if cfg.ema is not None:
            self.ema = StackedEMA(self.G, [c.ema for c in cfgs], [c.ema_rampup for c in cfgs])
            self.ema.opt = self.opt_g
        self._setup(cfg, parts[0], device)
        return self

    def capture(self, mode: str) -> None:
        """Compile the step's tensor work (training/capture.py); ``none`` keeps the exact eager step."""
        self.captured = capture(self, mode)

    def step(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One training step of the configured schedule: (d_loss, penalty, g_loss), per member for a stack."""
        run = lambda: SCHEDULES[self.cfg.update](self, step)  # noqa: E731
        return run() if self.captured is None else self.captured.step(run, self)

    def _setup(self, cfg: RunConfig, parts: Parts, device: torch.device) -> None:
        self.captured, self.D_eager = None, self.D
        self.seeds = [c.seed for c in self.cfgs]
        self.generators = Generators()
        self.samplers = [BatchSampler(parts.data.x, cfg.samples_per_batch, seed) for seed in self.seeds]
        self.num_classes = parts.num_classes
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        self.autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
        self.augment = parse_policy(cfg.augment)
        if self.augment and not parts.data.is_image:
            raise UserError("augment applies to image data only")
        use_scaler = cfg.amp == "fp16"
        self.scaler_d = torch.amp.GradScaler(device.type, enabled=use_scaler)
        self.scaler_g = torch.amp.GradScaler(device.type, enabled=use_scaler)

    # --- per-member draws and reductions -----------------------------------------------------------
    def _each(self, stream: int, counter: int, shape: tuple, dtype, fill) -> torch.Tensor:
        """fill(rows, generator) for each member's rows of one (k * n, ...) tensor, batches one after the
        other: member i's generator is seeded as its single run's, and filling its slice in place draws
        what torch.randn/randint would (they are empty + normal_/random_), without a concatenation."""
        out = torch.empty(self.k * shape[0], *shape[1:], dtype=dtype, device=self.device)
        for i, (rows, seed) in enumerate(zip(out.split(shape[0]), self.seeds)):
            fill(rows, self.generators((fill, i), seed, stream, counter, self.device), self)
        return out

    def gens(self, stream: int, counter: int, device=None):
        gens = [self.generators((stream, i), seed, stream, counter, device or self.device)
                for i, seed in enumerate(self.seeds)]
        return gens[0] if not self.is_stacked else gens

    def per_member(self, fn, *xs: torch.Tensor) -> torch.Tensor:
        """fn (a loss: batches -> scalar) for each member; a scalar for a single run, (k,) for a stack."""
        if not self.is_stacked:
            return fn(*xs)
        return vmap(fn)(*(x.view(self.k, -1, *x.shape[1:]) for x in xs))

    def freeze(self, i: int) -> None:
        """Member i diverged: its weights, optimizer state and EMA stop changing; the others go on."""
        self.opt_g.freeze(i)
        self.opt_d.freeze(i)

    # --- conditioning: labels travel with the samples when the run is class-conditional ----------------
    def real(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.cat([sampler(b) for sampler in self.samplers]) if self.k > 1 else self.samplers[0](b)
        data = self.p.data
        return data.x[idx], (data.y[idx] if self.num_classes else None)

    def fake_labels(self, stream: int, counter: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return self._each(stream, counter + (1 << 40), (self.cfg.samples_per_batch,), torch.long, _labels)

    def generate(self, stream: int, counter: int, y: torch.Tensor | None) -> torch.Tensor:
        z = self._each(stream, counter, (self.cfg.samples_per_batch, self.cfg.z_dim), None, _latents)
        calls = G_CALLS[self.cfg.g_call](self.cfg)
        if calls == 1:
            return self.G(z, y) if self.num_classes else self.G(z)
        # packs are m consecutive rows: call j takes rows j, j + m, ... (member j of every pack), so its batch
        # norm sees batch_size samples per member of a stack (packing excludes conditioning: no labels)
        zs = z.view(self.k, -1, calls, z.shape[-1])
        outs = [self.G(zs[:, :, j].reshape(-1, z.shape[-1])) for j in range(calls)]
        out = torch.stack([o.view(self.k, -1, *o.shape[1:]) for o in outs], dim=2)
        return out.reshape(-1, *out.shape[3:])

    def critic(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's adversarial output, and its class logits for an AC-GAN discriminator."""
        if not self.num_classes:
            return _at_least_float32(self.D(x)), None
        adv, cls = self.D(x, y)
        return _at_least_float32(adv), (None if cls is None else _at_least_float32(cls))

    def aug(self, x: torch.Tensor, counter: int, which: int) -> torch.Tensor:
        """DiffAugment (when configured) with draws fixed by (seed, counter, which batch)."""
        if not self.augment:
            return x
        return diff_augment(x, self.augment, self.gens(AUG, counter * 4 + which))

    def d_step(self, counter: int) -> tuple[torch.Tensor, torch.Tensor]:
        real, y_real = self.real(counter)
        real = self.aug(real, counter, 0)
        y_fake = self.fake_labels(NOISE_D, counter)
        with torch.no_grad(), self.autocast():
            fake = self.aug(self.generate(NOISE_D, counter, y_fake), counter, 1)
        with self.autocast():
            (d_real, c_real), (d_fake, c_fake) = self.critic(real, y_real), self.critic(fake, y_fake)
            loss = self.per_member(self.p.loss.d, d_real, d_fake)
            if c_real is not None:  # AC-GAN: D also classifies real and fake samples
                loss = loss + self.per_member(F.cross_entropy, c_real, y_real) \
                    + self.per_member(F.cross_entropy, c_fake, y_fake)
        penalty = torch.zeros(self.k if self.is_stacked else (), device=self.device)
        D = self.D_eager
        critic = D if not self.num_classes else (lambda x: _at_least_float32(D(x, y_real)[0]))
        for i, reg in enumerate(self.regularizers):
            if counter % reg.every == 0:
                draws = Draws(self.gens(REG, counter * 16 + i, "cpu"), self.cfg.pack)
                term = reg.penalty(critic, real, _at_least_float32(fake), draws)
                if term is not None:
                    penalty = penalty + reg.every * term
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale((loss + penalty).sum()).backward()  # members' losses are independent: sum
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        for reg in self.regularizers:
            reg.after_d_step(self.D)
        return loss.detach(), penalty.detach()

    def g_step(self, step: int) -> torch.Tensor:
        """One G update of training step ``step`` (``n_gen`` of them all draw this step's noise)."""
        stream, counter = G_NOISE[self.cfg.g_noise](self.cfg, step)
        y_fake = self.fake_labels(stream, counter)
        with self.autocast():
            fake = self.generate(stream, counter, y_fake)
            d_fake, c_fake = self.critic(self.aug(fake, step, 2), y_fake)
            if self.p.loss.g_needs_real:
                with torch.no_grad():
                    real, y_real = self.real(step * self.cfg.n_dis)
                    d_real = self.critic(self.aug(real, step, 3), y_real)[0]
            else:
                d_real = d_fake  # unused by the loss
        loss = self.per_member(self.p.loss.g, d_real, d_fake)
        if c_fake is not None:  # AC-GAN: G wants its samples classified as the class asked for
            loss = loss + self.per_member(F.cross_entropy, c_fake, y_fake)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss.sum()).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        return loss.detach()

    def modules(self, i: int = 0) -> dict:
        """What a checkpoint holds (member i's slice for a stack), under a single run's names."""
        view = (lambda net: MemberState(net, i)) if self.is_stacked else (lambda net: net)
        mods = {"G": view(self.G), "D": view(self.D)}
        if self.ema is not None:
            mods["G_ema"] = view(self.ema.shadow)
        return mods

    def optimizers(self, i: int = 0) -> dict:
        if not self.is_stacked:
            return {"opt_g": self.opt_g, "opt_d": self.opt_d}
        return {"opt_g": MemberAdam(self.opt_g, i, self.groups[i][0]),
                "opt_d": MemberAdam(self.opt_d, i, self.groups[i][1])}


def _tensorboard_writer():
    """The SummaryWriter class, imported only when asked for (checked before anything is written)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UserError("--tensorboard needs the tensorboard package: pip install 'ganbench[tensorboard]'") from None
    return SummaryWriter


def train(cfg: RunConfig, out: str | Path, resume: bool = False, overwrite: bool = False,
          progress: bool = True, compile: str = "none") -> RunResult:
    """Train one GAN as ``cfg`` says, writing the run directory ``out``."""
    return train_group([cfg], [out], resume, overwrite, progress, stacked=False, compile=compile)[0]


def make_trainer(cfgs: list[RunConfig], parts: list[Parts], device: torch.device, stacked: bool,
                 compile: str = "none") -> Trainer:
    """The trainer of k runs, captured as ``compile`` says. A compiled single run trains as a
    one-member stack (what capture.py compiles), unless it cannot stack (then it falls back to eager)."""
    if compile != "none" and not stacked and refusal(cfgs[0]) is None:
        stacked = True
    trainer = Trainer.stacked(cfgs, parts, device) if stacked else Trainer(cfgs[0], parts[0], device)
    trainer.capture(compile)
    return trainer


def train_group(cfgs: list[RunConfig], outs: list[str | Path], resume: bool = False, overwrite: bool = False,
                progress: bool = True, stacked: bool | None = None, compile: str = "none") -> list[RunResult]:
    """Train k runs as one member-stacked model (``stacked``; default when k > 1), each writing its own
    run directory exactly as ``train`` would. A member that diverges is frozen; the others go on.
    ``compile`` captures the step's tensor work (training/capture.py); ``none`` is the exact eager step."""
    stacked = len(cfgs) > 1 if stacked is None else stacked
    if stacked:
        check_group(cfgs)
    runs = [RunDir(out) for out in outs]
    if resume:
        check_resumable(runs, cfgs)
    writer_cls = _tensorboard_writer() if any(c.tensorboard for c in cfgs) else None
    device = resolve_device(cfgs[0].device)
    parts: list[Parts] = []
    for cfg in cfgs:  # every user error surfaces here, before a run directory is touched; data loaded once
        parts.append(build_parts(cfg, device, data=parts[0].data if parts else None))
    trainer = make_trainer(cfgs, parts, device, stacked, compile)
    del parts  # the stack holds its own copies of the weights
    resuming = [prepare(run, cfg, resume, overwrite) for run, cfg in zip(runs, cfgs)]
    start = ckpt.common_step([run.ckpt_dir for run in runs]) if all(resuming) else 0
    k, cfg = len(cfgs), cfgs[0]
    elapsed, resumed = restore(trainer, runs, start)
    for i, run in enumerate(runs):
        run.truncate_log(start)
        run.write_config(cfgs[i])
        run.write_running(start)
    writers = [writer_cls(str(run.path / "tensorboard")) if writer_cls and c.tensorboard else None
               for run, c in zip(runs, cfgs)]

    def save(i: int, step: int) -> None:
        meta = checkpoint_meta(cfgs[i], trainer, elapsed[i])
        ckpt.save_checkpoint(runs[i].ckpt_dir, step, trainer.modules(i), trainer.optimizers(i), meta)

    sums = torch.zeros(3, k, device=device)  # d_loss, penalty, g_loss per member, between log lines
    n_acc, t_mark, done = 0, time.perf_counter(), start
    status, messages, ended = ["done"] * k, [""] * k, [0] * k
    active = list(range(k))
    name = f"{cfg.loss['name']}/{cfg.generator['name']}/{cfg.data['name']}" + (f" x{k}" if stacked else "")
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, unit="step", dynamic_ncols=True, desc=name)
    threads = ckpt.recorded_threads(resumed, device)  # a resumed run goes on with its own thread count
    # Ctrl-C/SIGTERM take effect between steps (interrupt.py): raised inside torch, its unwinding can fail
    with status_on_interrupt(runs), interrupts_between_steps() as guard, bar, \
            contextlib.ExitStack() as stack, threads:
        logs = [stack.enter_context(run.log_file.open("a")) for run in runs]
        for w in writers:
            if w is not None:
                stack.enter_context(w)
        for step in range(start, cfg.steps):
            with guard.step():
                losses = trainer.step(step)
            sums += torch.stack(losses).view(3, -1)  # d_loss, penalty, g_loss
            n_acc += 1
            bar.update(1)
            done = step + 1
            out_of_time = bool(cfg.time_budget_s) and elapsed[0] + time.perf_counter() - t_mark >= cfg.time_budget_s
            if done % cfg.log_every and done % cfg.ckpt_every and done != cfg.steps and not out_of_time:
                continue
            now = time.perf_counter()
            share = (now - t_mark) / len(active)  # a stack's time is shared by its members
            avgs = (sums / torch.tensor([n_acc * cfg.n_dis] * 2 + [n_acc * cfg.n_gen], device=device)[:, None]).T.tolist()
            saved = []
            for i in list(active):
                elapsed[i] += share
                d_avg, pen_avg, g_avg = avgs[i]
                if not all(math.isfinite(v) for v in (d_avg, pen_avg, g_avg)):
                    status[i], ended[i] = "diverged", done
                    messages[i] = f"diverged near step {done}: d_loss={d_avg}, g_loss={g_avg}, penalty={pen_avg}"
                    active.remove(i)
                    if stacked:
                        trainer.freeze(i)
                    runs[i].write_status(status="diverged", step=done, wall_s=round(elapsed[i], 3),
                                         message=messages[i])
                    continue
                row = {"step": done, "d_loss": d_avg, "g_loss": g_avg, "penalty": pen_avg,
                       "wall_s": round(elapsed[i], 4), "sec_per_step": share / n_acc}
                logs[i].write(json.dumps(row) + "\n")
                logs[i].flush()
                if writers[i] is not None:
                    for key in ("d_loss", "g_loss", "penalty"):
                        writers[i].add_scalar(f"loss/{key}", row[key], done)
                if done % cfg.ckpt_every == 0 or done == cfg.steps or out_of_time:
                    save(i, done)
                    saved.append(i)
            # once all members saved: an interrupt between two saves leaves a shared step; and the newest step
            # every member saved (a diverged member saves no more) is kept, else a resume starts from step 0
            shared = ckpt.common_step([run.ckpt_dir for run in runs]) if saved and k > 1 else 0
            for i in saved:
                if cfgs[i].keep_checkpoints:
                    ckpt.prune(runs[i].ckpt_dir, cfgs[i].keep_checkpoints, also_keep=shared)
            if active:
                bar.set_postfix(d=f"{avgs[active[0]][0]:.3f}", g=f"{avgs[active[0]][2]:.3f}")
            sums.zero_()
            n_acc, t_mark = 0, time.perf_counter()
            if out_of_time:
                for i in active:
                    messages[i] = f"time budget of {cfg.time_budget_s}s reached after {done} steps"
                break
            if not active:
                break
    results, compiled = [], trainer.captured.describe() if trainer.captured is not None else "none"
    for i, run in enumerate(runs):
        if status[i] == "diverged":
            results.append(RunResult("diverged", ended[i], run.path, elapsed[i], messages[i], compiled))
            continue
        final_step = done if cfg.time_budget_s else max(start, cfg.steps)
        run.write_status(status="done", step=final_step, wall_s=round(elapsed[i], 3), message=messages[i])
        results.append(RunResult("done", final_step, run.path, elapsed[i], messages[i], compiled))
    return results
