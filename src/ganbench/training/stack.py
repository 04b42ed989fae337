"""Member stacking: k runs with networks of the same shapes trained as one batched model.

Every parameter and buffer of the k members' networks is stacked along a new leading dimension
(``torch.func.stack_module_state``) and the network is run once for all members with
``torch.func.vmap`` over ``functional_call``: one kernel per layer instead of k. Batch-norm statistics,
spectral-norm vectors and EMA shadows are buffers, so they are stacked (one per member) like weights.

Outside the networks the k members' batches travel one after the other along the batch axis (a
"folded" batch of k * n rows): per-sample work (augmentation, gradient penalties) needs no change, and
per-member reductions (losses, penalty means) view it as (k, n). Adam is batched here too, with each
member's own learning rate and betas; it performs torch.optim.Adam's arithmetic in the same order,
so a member's update equals its single run's (up to the rounding of batched kernels).

``MemberState`` and ``MemberAdam`` expose one member's slice with the ``state_dict``/``load_state_dict``
pair that checkpoint.py uses, so a member's checkpoint is byte-for-byte in a single run's format.
"""

from __future__ import annotations

import copy
import itertools

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap


class StackedNet(nn.Module):
    """k copies of one architecture with stacked weights; called on folded (k * n, ...) batches."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.k = len(members)
        self.keys = list(members[0].state_dict())  # checkpoint keys, as a single run writes them
        params, buffers = stack_module_state(members)
        self.params = {name: p.detach().requires_grad_(True) for name, p in params.items()}
        self.buffers_ = buffers
        self.base = [copy.deepcopy(members[0]).to("meta")]  # a list: not a registered submodule
        self.training = members[0].training

    def train(self, mode: bool = True):
        self.training = mode
        self.base[0].train(mode)
        return self

    def parameters(self, recurse: bool = True):
        return iter(self.params.values())

    def tensors(self) -> dict[str, Tensor]:
        return {**self.params, **self.buffers_}

    def forward(self, x: Tensor, y: Tensor | None = None):
        base, k = self.base[0], self.k

        def one(params, buffers, x, y):
            out = functional_call(base, (params, buffers), (x,) if y is None else (x, y), tie_weights=False)
            # a projection discriminator returns (logit, None); vmap wants tensors only
            return (out[0], torch.zeros(())) if isinstance(out, tuple) and out[1] is None else out

        xs = x.view(k, -1, *x.shape[1:])
        ys = None if y is None else y.view(k, -1, *y.shape[1:])
        out = vmap(one, in_dims=(0, 0, 0, None if y is None else 0))(self.params, self.buffers_, xs, ys)
        if isinstance(out, tuple):
            adv, cls = out
            return adv.flatten(0, 1), (None if cls.dim() == 1 else cls.flatten(0, 1))
        return out.flatten(0, 1)


def per_member_scalar(values: list[float], like: Tensor) -> Tensor | float:
    """A float when all members agree (keeps a single run's scalar arithmetic), else a (k,) tensor."""
    if all(v == values[0] for v in values):
        return values[0]
    return torch.tensor(values, dtype=like.dtype, device=like.device)


class PerStep:
    """Per-member values that change with the step (bias corrections, EMA ramp-up), without a
    host-to-device copy per step.

    ``fn(t)`` gives the k members' values at step t as Python floats: the single run's arithmetic. They
    are computed for a block of steps at once and sent to the device in one copy; step t then reads its
    row as a view. As ``per_member_scalar``, a row whose members agree is a plain float.
    """

    BLOCK = 256

    def __init__(self, fn, like: Tensor):
        self.fn, self.like, self.start, self.rows, self.table = fn, like, -1, [], None
        self.buffer: Tensor | None = None

    def __call__(self, t: int) -> Tensor | float:
        if not 0 <= t - self.start < len(self.rows):
            self.start, self.rows = t, [self.fn(s) for s in range(t, t + self.BLOCK)]
            self.table = None
            if any(any(v != row[0] for v in row) for row in self.rows):
                self.table = torch.tensor(self.rows, dtype=self.like.dtype, device=self.like.device)
        row = self.rows[t - self.start]
        return row[0] if all(v == row[0] for v in row) else self.table[t - self.start]

    def device(self, t: int) -> Tensor:
        """Step t's (k,) values in one persistent device tensor, for a compiled update: it sees the
        same input tensor every step (no recompiling for a new float, no host input for a CUDA graph)."""
        if self.buffer is None:
            self.buffer = torch.empty(len(self.fn(1)), dtype=self.like.dtype, device=self.like.device)
        value = self(t)
        return self.buffer.copy_(value) if torch.is_tensor(value) else self.buffer.fill_(value)


def _lead(v: Tensor | float, p: Tensor) -> Tensor | float:
    return v.view(-1, *(1,) * (p.dim() - 1)) if torch.is_tensor(v) else v


class StackedAdam:
    """torch.optim.Adam over member-stacked parameters, each member with its own lr and betas.

    The arithmetic mirrors torch's single-tensor Adam step by step (lerp, mul/addcmul, bias
    corrections in Python floats, sqrt/div/add eps, then param + (-step_size * m) / denom). A frozen
    member (``active[i]`` False: it diverged) keeps its weights.

    The moments of all parameters live in one flat buffer, parameter after parameter (``exp_avg[j]``
    is a view of parameter j's part), so the moment arithmetic is a handful of kernels for the whole
    network instead of a handful per parameter: the same elementwise operations, in the same order.
    Per-member values reach the flat layout through ``member_of`` (which member each element is of).
    """

    def __init__(self, params: list[Tensor], lrs: list[float], betas: list[tuple[float, float]], eps: float = 1e-8):
        self.params, self.lrs, self.betas, self.eps = params, lrs, betas, eps
        self.k = params[0].shape[0]
        like = params[0]
        self.sizes = [p.numel() for p in params]
        flat_m, flat_v = (torch.zeros(sum(self.sizes), dtype=like.dtype, device=like.device) for _ in range(2))
        self.flat = (flat_m, flat_v)
        self.exp_avg = [c.view_as(p) for c, p in zip(flat_m.split(self.sizes), params)]
        self.exp_avg_sq = [c.view_as(p) for c, p in zip(flat_v.split(self.sizes), params)]
        self.member_of = torch.cat([torch.arange(self.k, device=like.device).repeat_interleave(p[0].numel())
                                    for p in params])
        self.steps = 0
        self.active = torch.ones(self.k, dtype=torch.bool, device=like.device)
        self.all_active = True
        # per-member constants live on the device from the start, already spread over the flat layout
        self.one_minus_b1 = self._full(per_member_scalar([1 - b1 for b1, _ in betas], like))
        self.b2 = self._full(per_member_scalar([b[1] for b in betas], like))
        self.one_minus_b2 = self._full(per_member_scalar([1 - b[1] for b in betas], like))
        self.neg_step = PerStep(lambda t: [-(lr / (1 - b1 ** t)) for lr, (b1, _) in zip(lrs, betas)], like)
        self.bc2_sqrt = PerStep(lambda t: [(1 - b2_ ** t) ** 0.5 for _, b2_ in betas], like)
        self.captured = None  # a training/capture.Capture when the update is compiled

    def _full(self, v: Tensor | float) -> Tensor | float:
        """A (k,) per-member value spread over the flat layout (one gather); a float stays a float."""
        return v[self.member_of] if torch.is_tensor(v) else v

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def freeze(self, i: int) -> None:
        self.active[i] = False
        self.all_active = False

    def scalars(self, t: int) -> tuple[Tensor | float, Tensor | float]:
        """Step t's -lr / (1 - beta1^t) and sqrt(1 - beta2^t): Python floats (or a table row) for the
        exact eager step, persistent device tensors for a compiled update (training/capture.py)."""
        if self.captured is not None and not self.captured.failed:
            return self.neg_step.device(t), self.bc2_sqrt.device(t)
        return self.neg_step(t), self.bc2_sqrt(t)

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        scalars = self.scalars(self.steps)
        grads = [p.grad for p in self.params]
        if any(g is None for g in grads):  # a parameter without a gradient keeps its moments, as in torch
            present = [j for j, g in enumerate(grads) if g is not None]
            offsets = [0, *itertools.accumulate(self.sizes)]
            where = torch.cat([torch.arange(offsets[j], offsets[j + 1], device=self.member_of.device)
                               for j in present] or [self.member_of.new_zeros(0)])
            return self.update([self.params[j] for j in present], [grads[j] for j in present], where, *scalars)
        return self.update(self.params, grads, None, *scalars)

    def update(self, params: list[Tensor], grads: list[Tensor], where: Tensor | None,
               neg_step: Tensor | float, bc2_sqrt: Tensor | float) -> None:
        """The moment arithmetic on the flat layout (restricted to ``where`` when some gradients are
        missing), then the parameter update: one multi-tensor kernel when no member is frozen. Tensors
        in, nothing out, no host work: the part ``compile`` captures."""
        flat_m, flat_v = self.flat
        pick = (lambda x: x) if where is None else (lambda x: x[where] if torch.is_tensor(x) else x)
        m, v = pick(flat_m), pick(flat_v)
        g = torch.cat([g.reshape(-1) for g in grads]) if grads else flat_m.new_zeros(0)
        one_minus_b1, b2, one_minus_b2 = pick(self.one_minus_b1), pick(self.b2), pick(self.one_minus_b2)
        neg_step, bc2_sqrt = pick(self._full(neg_step)), pick(self._full(bc2_sqrt))
        m.lerp_(g, one_minus_b1)
        if torch.is_tensor(b2):
            v.mul_(b2).add_(one_minus_b2 * g * g)
        else:
            v.mul_(b2).addcmul_(g, g, value=one_minus_b2)
        denom = (v.sqrt() / bc2_sqrt).add_(self.eps)
        update = neg_step * m / denom if torch.is_tensor(neg_step) else None
        if where is not None:  # write the moments back (m, v were gathered copies)
            flat_m[where], flat_v[where] = m, v
        sizes = [p.numel() for p in params]
        ms = [c.view_as(p) for c, p in zip(m.split(sizes), params)]
        ds = [c.view_as(p) for c, p in zip(denom.split(sizes), params)]
        us = None if update is None else [c.view_as(p) for c, p in zip(update.split(sizes), params)]
        if self.all_active:
            if us is None:
                torch._foreach_addcdiv_(params, ms, ds, neg_step)
            else:
                torch._foreach_add_(params, us)
            return
        for j, p in enumerate(params):
            new = p.addcdiv(ms[j], ds[j], value=neg_step) if us is None else p + us[j]
            p.copy_(torch.where(_lead(self.active, p), new, p))


class StackedEMA:
    """The EMA of training/ema.py for member-stacked weights, each member with its decay and ramp-up."""

    def __init__(self, net: StackedNet, decays: list[float], rampups: list[float | None]):
        self.net, self.decays, self.rampups = net, decays, rampups
        self.shadow = StackedNet.__new__(StackedNet)
        nn.Module.__init__(self.shadow)
        self.shadow.k, self.shadow.keys, self.shadow.base = net.k, net.keys, [copy.deepcopy(net.base[0]).eval()]
        self.shadow.training = False
        self.shadow.params = {n: p.detach().clone() for n, p in net.params.items()}
        self.shadow.buffers_ = {n: b.clone() for n, b in net.buffers_.items()}
        self.opt: StackedAdam | None = None  # set by the trainer: members it froze keep their shadow
        self.weight = PerStep(lambda step: [1.0 - self.beta(i, step) for i in range(net.k)],
                              next(iter(net.params.values())))
        self.captured = None  # as StackedAdam's

    def beta(self, i: int, step: int) -> float:
        decay, rampup = self.decays[i], self.rampups[i]
        return decay if not rampup else min(decay, 0.5 ** (1.0 / max(rampup * step, 1e-8)))

    @torch.no_grad()
    def update(self, step: int) -> None:
        captured = self.captured is not None and not self.captured.failed
        self.average(self.weight.device(step) if captured else self.weight(step))

    def average(self, weight: Tensor | float) -> None:
        """shadow <- lerp(shadow, weights, weight), per member; the part ``compile`` captures."""
        frozen = self.opt is not None and not self.opt.all_active  # a Python flag: no device sync
        if not frozen:  # multi-tensor kernels (the per-tensor lerp/copy where they cannot fuse)
            names = list(self.net.params)
            dsts, srcs = [self.shadow.params[n] for n in names], [self.net.params[n].detach() for n in names]
            if torch.is_tensor(weight):
                torch._foreach_lerp_(dsts, srcs, [_lead(weight, d) for d in dsts])
            else:
                torch._foreach_lerp_(dsts, srcs, weight)
            if self.net.buffers_:
                torch._foreach_copy_([self.shadow.buffers_[n] for n in self.net.buffers_], list(self.net.buffers_.values()))
            return
        for name, src in self.net.params.items():
            dst = self.shadow.params[name]
            new = torch.lerp(dst, src.detach(), _lead(weight, dst))
            dst.copy_(torch.where(_lead(self.opt.active, dst), new, dst) if frozen else new)
        for name, src in self.net.buffers_.items():
            dst = self.shadow.buffers_[name]
            dst.copy_(torch.where(_lead(self.opt.active, dst), src, dst) if frozen else src)


class MemberState:
    """Member i's slice of a StackedNet, read and written like a module's state dict."""

    def __init__(self, net: StackedNet, i: int):
        self.net, self.i = net, i

    def state_dict(self) -> dict[str, Tensor]:
        tensors = self.net.tensors()
        return {key: tensors[key][self.i] for key in self.net.keys}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        if set(state) != set(self.net.keys):
            missing, extra = set(self.net.keys) - set(state), set(state) - set(self.net.keys)
            raise RuntimeError(f"checkpoint does not fit: missing {sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}")
        tensors = self.net.tensors()
        for key, value in state.items():
            tensors[key][self.i].copy_(value)


class MemberAdam:
    """Member i's slice of a StackedAdam, as torch.optim.Adam's state dict (same keys and groups)."""

    def __init__(self, opt: StackedAdam, i: int, param_groups: list[dict]):
        self.opt, self.i, self.param_groups = opt, i, param_groups

    def state_dict(self) -> dict:
        if self.opt.steps == 0:
            return {"state": {}, "param_groups": copy.deepcopy(self.param_groups)}
        dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        state = {j: {"step": torch.tensor(float(self.opt.steps), dtype=dtype), "exp_avg": m[self.i], "exp_avg_sq": v[self.i]}
                 for j, (m, v) in enumerate(zip(self.opt.exp_avg, self.opt.exp_avg_sq))}
        return {"state": state, "param_groups": copy.deepcopy(self.param_groups)}

    @torch.no_grad()
    def load_state_dict(self, sd: dict) -> None:
        state = sd["state"]
        if not state:
            return
        steps = {int(s["step"].item()) for s in state.values()}
        if len(steps) != 1:
            raise RuntimeError("optimizer state holds different step counts")
        self.opt.steps = steps.pop()
        for j, (m, v) in enumerate(zip(self.opt.exp_avg, self.opt.exp_avg_sq)):
            m[self.i].copy_(state[j]["exp_avg"])
            v[self.i].copy_(state[j]["exp_avg_sq"])


def stack_regularizers(per_member: list[list], like: Tensor) -> list:
    """One regularizer per position whose numeric options that differ between members are (k,) tensors."""
    out = []
    for regs in zip(*per_member):
        reg = copy.copy(regs[0])
        for name, first in vars(regs[0]).items():
            values = [vars(r)[name] for r in regs]
            if any(v != first for v in values):
                setattr(reg, name, torch.tensor(values, dtype=like.dtype, device=like.device))
        out.append(reg)
    return out
