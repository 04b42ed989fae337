"""From a validated config to the objects a run needs: data, networks, loss, regularizers, optimizers."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import NET_OPTIONS, RunConfig
from ..data import Dataset, load_dataset
from ..errors import UserError
from ..losses import Loss, get_loss
from ..nets import Packed, packed_shape
from ..nets.batchnorm import apply_batch_norm
from ..nets.init import apply_init
from ..registry import DISCRIMINATORS, GENERATORS, REGULARIZERS
from ..regularizers import Regularizer
from .seeding import INIT, derive_seed


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but this torch build sees no CUDA GPU")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UserError("--device mps was asked for, but MPS is not available here")
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown device {name!r}; use cpu, cuda, cuda:N, mps or auto") from None


def _split(spec: dict) -> tuple[str, dict]:
    opts = dict(spec)
    return opts.pop("name"), opts


def _net_split(spec: dict) -> tuple[str, dict, dict]:
    """(name, the family's own options, the framework's options: ``init``, ``batch_norm``)."""
    name, opts = _split(spec)
    return name, opts, {key: opts.pop(key, None) for key in NET_OPTIONS}


def _framework_options(net: nn.Module, options: dict, where: str) -> nn.Module:
    apply_batch_norm(net, options["batch_norm"], where)
    return apply_init(net, options["init"])


def _framework(num_classes: int) -> dict:
    return {"num_classes": num_classes} if num_classes else {}


def build_generator(cfg: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> nn.Module:
    name, opts, options = _net_split(cfg.generator)
    G = GENERATORS.get(name).build(data_shape, cfg.z_dim, framework=_framework(num_classes), **opts)
    return _framework_options(G, options, "generator")


def build_discriminator(cfg: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0) -> nn.Module:
    name, opts, options = _net_split(cfg.discriminator)
    inner = DISCRIMINATORS.get(name).build(packed_shape(data_shape, cfg.pack), framework=_framework(num_classes),
                                           **opts)
    _framework_options(inner, options, "discriminator")
    return Packed(inner, cfg.pack) if cfg.pack > 1 else inner


def build_regularizers(cfg: RunConfig) -> list[Regularizer]:
    return [REGULARIZERS.get(name).build(**opts) for name, opts in map(_split, cfg.regularizers)]


@torch.no_grad()
def check_shapes(G: nn.Module, D: nn.Module, cfg: RunConfig, data_shape: tuple[int, ...], num_classes: int = 0):
    """Refuse a G/D pair that does not fit the data, before any training happens."""
    n = 2 * cfg.pack
    modes = (G.training, D.training)
    G.eval(), D.eval()
    y = torch.zeros(n, dtype=torch.long) if num_classes else None
    try:
        fake = G(torch.zeros(n, cfg.z_dim), y) if num_classes else G(torch.zeros(n, cfg.z_dim))
        if tuple(fake.shape[1:]) != tuple(data_shape):
            raise UserError(f"generator '{cfg.generator['name']}' makes samples of shape {tuple(fake.shape[1:])}, "
                            f"but data '{cfg.data['name']}' has shape {tuple(data_shape)}")
        out = D(fake, y)[0] if num_classes else D(fake)
    except RuntimeError as exc:
        raise UserError(f"generator/discriminator do not fit data of shape {tuple(data_shape)}: "
                        f"{str(exc).splitlines()[0]}") from None
    finally:
        G.train(modes[0]), D.train(modes[1])
    if out.numel() != n // cfg.pack:
        raise UserError(f"discriminator '{cfg.discriminator['name']}' gave {out.numel()} outputs for "
                        f"{n // cfg.pack} inputs; it must return one value per (packed) sample")


def check_fits(cfg: RunConfig, record: dict, tensors: dict[str, torch.Tensor],
               prefixes: tuple[str, ...] | None = None) -> None:
    """The networks ``cfg`` describes must fit a checkpoint's tensors (names and shapes) before they are built
    for real. A stored config is data: its sizes could ask for a network far larger than the checkpoint holds,
    so it is built first on the meta device, which allocates nothing. ``prefixes``: which of G, D and G_ema
    (default: those the checkpoint holds)."""
    from . import checkpoint as ckpt

    if prefixes is None:
        prefixes = tuple(p for p in ("G", "D", "G_ema") if any(name.startswith(f"{p}.") for name in tensors))
    shape, k = tuple(record["data_shape"]), record.get("num_classes", 0)
    with torch.device("meta"):
        for prefix in prefixes:
            build = build_generator if prefix.startswith("G") else build_discriminator
            ckpt.load_module(build(cfg, shape, k), tensors, prefix, check_only=True)


@dataclass
class Parts:
    data: Dataset
    G: nn.Module
    D: nn.Module
    loss: Loss
    regularizers: list[Regularizer]
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    num_classes: int = 0  # > 0: class-conditional run


def build_parts(cfg: RunConfig, device: torch.device, data: Dataset | None = None) -> Parts:
    """``data``: the training set when already loaded (the members of a stack share one copy)."""
    if cfg.amp == "fp16" and device.type == "cpu":  # float16 autocast + loss scaling is a GPU recipe
        raise UserError("amp: fp16 needs a GPU (device cuda); on the CPU use amp: bf16 or none")
    data = data if data is not None else load_dataset(cfg.data, "train")
    num_classes = 0
    if cfg.conditional:
        if data.y is None or not data.num_classes:
            raise UserError(f"conditional: true needs labelled data; '{cfg.data['name']}' has no labels")
        if cfg.pack > 1:
            raise UserError("PacGAN packing (pack > 1) and class-conditional training do not combine")
        num_classes = data.num_classes
        data.y = data.y.to(device)
    torch.manual_seed(derive_seed(cfg.seed, INIT))  # weight init is the only use of the global RNG
    G = build_generator(cfg, data.shape, num_classes)
    D = build_discriminator(cfg, data.shape, num_classes)
    check_shapes(G, D, cfg, data.shape, num_classes)
    G, D = G.to(device), D.to(device)
    data.x = data.x.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas_g)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas_d)
    return Parts(data, G, D, get_loss(cfg.loss["name"]), build_regularizers(cfg), opt_g, opt_d, num_classes)
