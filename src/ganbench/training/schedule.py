"""Update schedules: how the two players' steps are ordered within one training step.

``alternating`` (the default, used by most GAN code): ``n_dis`` discriminator updates, each on fresh fake
samples, then ``n_gen`` generator updates that see the updated discriminator (``Trainer.d_step`` /
``g_step``), then the EMA of G's weights. The ``n_gen`` updates of one step all draw the same latents, as
the TensorFlow DCGAN code that PacGAN's Stacked MNIST experiment runs does (model.py:192-212: one
``feed_dict`` per iteration, ``g_optim`` run twice); with ``g_noise: same_as_d`` those latents are the
ones the step's last D update drew (that code's D and G updates share its feed too). A training step
(the unit of ``steps``, of logging and of checkpoints) is one such iteration: with ``n_gen: 2`` a budget
of N steps makes N * n_dis D updates and 2N G updates; the logged g_loss is the mean over its updates.

``simultaneous`` (ALI's ``ali_algorithm``, which PacGAN's 2-D experiments train with): one real batch and
one noise draw; D's and G's gradients are both taken at the current parameters, from the same forward
pass, and only then are both optimizers stepped. G never sees the D that this batch produced.
"""

from __future__ import annotations

import torch

from ..errors import UserError
from ..regularizers import Draws
from .seeding import NOISE_D, NOISE_G, REG


def check_schedule(cfg) -> None:
    """Refuse combinations that have no defined meaning, in one line (a RunConfig)."""
    if cfg.update != "simultaneous":
        return
    if cfg.n_dis != 1 or cfg.n_gen != 1:
        raise UserError(f"update: simultaneous takes one update of each player at once; n_dis and n_gen must be 1, "
                        f"not {cfg.n_dis} and {cfg.n_gen}")
    if cfg.g_noise != "fresh":
        raise UserError("g_noise: same_as_d applies to update: alternating (a simultaneous step already gives "
                        "both players one noise draw)")
    if cfg.conditional:
        raise UserError("update: simultaneous is not available for class-conditional runs")


# g_noise -> the (stream, counter) of the latents (and labels) G's updates of training step ``step`` draw
G_NOISE = {
    "fresh": lambda cfg, step: (NOISE_G, step),
    "same_as_d": lambda cfg, step: (NOISE_D, step * cfg.n_dis + cfg.n_dis - 1),  # = the last d_step's draw
}


def simultaneous_step(trainer, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of both players from the same batch and noise; returns (d_loss, penalty, g_loss)
    (per member for a member-stacked trainer)."""
    p = trainer.p
    real, _ = trainer.real(step)  # batch number = step, as d_step's with n_dis = 1
    real = trainer.aug(real, step, 0)
    with trainer.autocast():
        fake = trainer.generate(NOISE_G, step, None)  # one forward pass of G, kept for G's gradient
        d_real, _ = trainer.critic(real, None)
        fake = trainer.aug(fake, step, 1)  # what D sees; penalties take it too, as d_step's do
        d_fake, _ = trainer.critic(fake, None)
    d_loss, g_loss = trainer.per_member(p.loss.d, d_real, d_fake), trainer.per_member(p.loss.g, d_real, d_fake)
    penalty = torch.zeros(trainer.k if trainer.is_stacked else (), device=trainer.device)
    for i, reg in enumerate(trainer.regularizers):
        if step % reg.every == 0:
            draws = Draws(trainer.gens(REG, step * 16 + i, "cpu"), trainer.cfg.pack)
            term = reg.penalty(trainer.D_eager, real, fake.detach().to(torch.promote_types(fake.dtype, torch.float32)), draws)
            if term is not None:
                penalty = penalty + reg.every * term
    trainer.opt_d.zero_grad(set_to_none=True)
    trainer.opt_g.zero_grad(set_to_none=True)
    # each loss reaches only its own player's parameters, and both backward passes run before any update
    trainer.scaler_d.scale((d_loss + penalty).sum()).backward(inputs=list(trainer.D.parameters()), retain_graph=True)
    trainer.scaler_g.scale(g_loss.sum()).backward(inputs=list(trainer.G.parameters()))
    for opt, scaler in ((trainer.opt_d, trainer.scaler_d), (trainer.opt_g, trainer.scaler_g)):
        scaler.step(opt)
        scaler.update()
    for reg in trainer.regularizers:
        reg.after_d_step(trainer.D)
    if trainer.ema is not None:
        trainer.ema.update(step + 1)
    return d_loss.detach(), penalty.detach(), g_loss.detach()


def alternating_step(trainer, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n_dis`` D updates then ``n_gen`` G updates, then the EMA; returns D's loss and penalty summed
    over its updates, and G's loss summed over its updates."""
    d_sum = pen_sum = torch.zeros(trainer.k if trainer.is_stacked else (), device=trainer.device)
    for k in range(trainer.cfg.n_dis):
        d_loss, penalty = trainer.d_step(step * trainer.cfg.n_dis + k)
        d_sum, pen_sum = d_sum + d_loss, pen_sum + penalty
    g_sum = trainer.g_step(step)
    for _ in range(trainer.cfg.n_gen - 1):
        g_sum = g_sum + trainer.g_step(step)
    if trainer.ema is not None:
        trainer.ema.update(step + 1)
    return d_sum, pen_sum, g_sum


SCHEDULES = {"alternating": alternating_step, "simultaneous": simultaneous_step}
