"""The Python API: train a run, load a trained generator, draw samples.

A run directory is data (confine.py): what these functions read from one may only name paths inside it,
or under the ``data_paths`` the caller passes (the CLI's ``--data-path``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from .config import RunConfig, load_config, make_config
from .confine import RUN, check_config, reading
from .errors import UserError
from .latent import draw_latent
from .limits import MAX_SAMPLES, MAX_SEED, whole
from .training import checkpoint as ckpt
from .training.build import build_generator, check_fits, resolve_device
from .training.loop import RunResult
from .training.loop import train as _train
from .training.rundir import RunDir
from .training.seeding import SAMPLE, rng


def as_config(config: RunConfig | dict | str | Path) -> RunConfig:
    if isinstance(config, RunConfig):
        return config
    if isinstance(config, (str, Path)):
        return load_config(config)
    return make_config(config)


def train(config: RunConfig | dict | str | Path | None = None, out: str | Path | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool = True, compile: str = "none", changes: dict | None = None,
          data_paths: Iterable[str | Path] = ()) -> RunResult:
    """Train one GAN. ``config``: a RunConfig, a dict of config keys, or a YAML path; it is yours, so its
    paths are followed as they are. ``compile``: see training/capture.py (``none``, the default, is the
    exact eager step).

    ``config=None`` with ``resume=True`` continues the run stored in ``out`` with its stored config,
    ``changes`` (dotted keys, e.g. ``{"steps": 4000}``) applied over it. That config is data: its path
    options must lie inside ``out`` or under one of ``data_paths``, else a UserError names the path.
    """
    if out is not None and not isinstance(out, (str, Path)):
        raise UserError(f"out must be a directory path; got {out!r}")
    if config is not None:
        cfg = as_config(config)
        if changes:
            cfg = make_config(cfg.model_dump(mode="json"), changes)
        return _train(cfg, out or Path("runs") / cfg.digest(), resume=resume, overwrite=overwrite,
                      progress=progress, compile=compile)
    if not resume or out is None or not RunDir(out).exists():
        raise UserError("train needs a config, or resume=True with out= a run directory to continue")
    with reading(out, RUN, data_paths):
        cfg = make_config(RunDir(out).read_config().model_dump(mode="json"), changes)
        check_config(cfg)  # before anything is loaded or written
        return _train(cfg, out, resume=True, overwrite=overwrite, progress=progress, compile=compile)


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint's JSON sidecar: the latest of a run directory, or the one a .json/.safetensors path names."""
    p = Path(path)
    if p.is_dir():
        found = ckpt.list_checkpoints(RunDir(p).ckpt_dir)
        if not found:
            raise UserError(f"{p} holds no checkpoint (is it a ganbench run directory?)")
        return found[-1]
    if p.suffix not in (".json", ".safetensors"):  # a config.yaml, an image... given in the wrong place
        raise UserError(f"{path} is not a run directory or checkpoint; give a run directory, or one of its "
                        "checkpoints (RUN/checkpoints/step_N.json or step_N.safetensors)")
    if p.suffix == ".safetensors":
        p = p.with_suffix(".json")
    if not p.is_file():
        raise UserError(f"no checkpoint at {path}")
    return p


def run_root(path: str | Path) -> Path:
    """The run directory a run or checkpoint path belongs to."""
    p = Path(path)
    if p.is_dir():
        return p
    return p.parent.parent if p.parent.name == "checkpoints" else p.parent


def load_generator(path: str | Path, ema: bool = True, device: str = "cpu",
                   data_paths: Iterable[str | Path] = ()) -> nn.Module:
    """A trained generator in eval mode, from a run directory or checkpoint file (safetensors, no pickle).

    The EMA weights are used when the run kept them and ``ema`` is true. The returned module carries
    ``.config`` (the run's RunConfig), ``.data_shape`` and ``.step``. The stored config is data: its path
    options (``data.path`` too, so ``.config`` names no unchecked path) must lie inside the run directory
    or under one of ``data_paths``.
    """
    if not isinstance(path, (str, Path)):
        raise UserError(f"load_generator needs a run directory or checkpoint path; got {path!r}")
    if type(ema) is not bool:
        raise UserError(f"ema must be True or False; got {ema!r}")
    with reading(run_root(path), RUN, data_paths):
        return _load_generator(path, ema, device)


def _load_generator(path: str | Path, ema: bool, device: str) -> nn.Module:
    found = find_checkpoint(path)
    record, tensors = ckpt.read_checkpoint(found)
    cfg = make_config(record["config"], stored=str(found))
    check_config(cfg)
    shape = tuple(record["data_shape"])
    prefix = "G_ema" if ema and any(k.startswith("G_ema.") for k in tensors) else "G"
    check_fits(cfg, record, tensors, (prefix,))  # on the meta device, before a network is built for real
    G = build_generator(cfg, shape, record.get("num_classes", 0))
    ckpt.load_module(G, tensors, prefix)
    G.config, G.data_shape, G.step, G.used_ema = cfg, shape, record["step"], prefix == "G_ema"
    G.num_classes = record.get("num_classes", 0)
    return G.eval().to(resolve_device(device))


def class_labels(G: nn.Module, n: int, label: int | None = None) -> torch.Tensor | None:
    """Labels for a class-conditional G: all ``label``, or every class in turn (balanced); None otherwise."""
    k = getattr(G, "num_classes", 0)
    if not k:
        if label is not None:
            raise UserError("this generator is not class-conditional; --class does not apply")
        return None
    if label is not None and not 0 <= label < k:
        raise UserError(f"class {label} is out of range 0..{k - 1}")
    return torch.full((n,), label) if label is not None else torch.arange(n) % k


@torch.no_grad()
def generate(G: nn.Module, n: int, seed: int = 0, batch_size: int = 500, labels: torch.Tensor | None = None
             ) -> torch.Tensor:
    """``n`` samples from G (on CPU), reproducible for a seed; ``labels`` for class-conditional G
    (default: every class in turn)."""
    if not isinstance(G, nn.Module):
        raise UserError(f"generate needs a generator module (ganbench.load_generator(run) gives one); got {G!r}")
    whole(n, "n (samples)", 1, MAX_SAMPLES)
    whole(seed, "seed", 0, MAX_SEED)
    z_dim = G.config.z_dim if hasattr(G, "config") else G.z_dim
    kind = G.config.latent if hasattr(G, "config") else getattr(G, "latent", "normal")
    z = draw_latent(kind, n, z_dim, rng(seed, SAMPLE))  # the run's latent distribution
    device = next(G.parameters()).device
    if labels is None:
        labels = class_labels(G, n)
    out = []
    for i in range(0, n, batch_size):
        zi = z[i:i + batch_size].to(device)
        out.append((G(zi, labels[i:i + batch_size].to(device)) if labels is not None else G(zi)).float().cpu())
    return torch.cat(out)
