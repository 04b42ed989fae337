"""Run configuration: one strict pydantic model, loaded from YAML and/or CLI overrides.

Components are written as a name (``loss: hinge``) or a mapping with options
(``discriminator: {name: dcgan, norm: spectral}``). Their options are checked against the registered
component's signature when the config is validated, so a typo fails before anything is built.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import itertools
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .errors import UserError
from .limits import MAX_BATCH, MAX_SEED, MAX_STEPS
from .latent import LATENTS
from .yamlio import load_yaml
from .nets.batchnorm import BatchNormSpec, parse_batch_norm
from .nets.init import InitSpec, parse_init
from .registry import (
    DATASETS,
    DISCRIMINATORS,
    GENERATORS,
    LOSSES,
    REGULARIZERS,
    Registry,
    format_validation_error,
)

Component = dict[str, Any]
Beta = Annotated[float, Field(ge=0, lt=1)]  # Adam's moment decays
COMPONENT_REGISTRIES = {"data": DATASETS, "generator": GENERATORS, "discriminator": DISCRIMINATORS, "loss": LOSSES}
COMPONENT_FIELDS = tuple(COMPONENT_REGISTRIES)
NET_FIELDS = ("generator", "discriminator")  # these also take the framework's options below
# options of every network family (plugins included), handled by ganbench rather than the family's class
# (name -> its parser, and the model whose fields may be set one by one: ``generator.batch_norm.eps``)
NET_OPTIONS = {"init": (parse_init, InitSpec), "batch_norm": (parse_batch_norm, BatchNormSpec)}
# options added after runs existed: at these values they are left out of result_dict (and so of the digest)
LATE_DEFAULTS = {"batch_unit": "samples", "update": "alternating", "n_gen": 1, "g_noise": "fresh",
                 "g_call": "once", "latent": "normal"}


def _component(value: Any, registry: Registry, field: str) -> Component:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise UserError(f"'{field}' must be a name or a mapping with a 'name' key; got {value!r}")
    opts = dict(value)
    entry = registry.get(opts.pop("name"))
    extra = {}
    if field in NET_FIELDS:
        extra = {key: parse(opts.pop(key), f"{field}.{key}") for key, (parse, _) in NET_OPTIONS.items() if key in opts}
    return {"name": entry.name, **entry.validate(opts, where=field), **extra}


class RunConfig(BaseModel):
    """Everything that determines a training run's result (plus where and how it runs)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)

    data: Component = Field(default_factory=lambda: {"name": "ring8"})
    generator: Component = Field(default_factory=lambda: {"name": "mlp"})
    discriminator: Component = Field(default_factory=lambda: {"name": "mlp"})
    loss: Component = Field(default_factory=lambda: {"name": "ns"})
    regularizers: list[Component] = Field(default_factory=list)
    pack: int = Field(1, ge=1, description="PacGAN packing degree m (1 = off)")
    conditional: bool = Field(False, description="class-conditional G and D (labelled data)")
    augment: str | None = Field(None, description="DiffAugment policy for D's inputs, e.g. 'color,translation,cutout'")
    z_dim: int | None = Field(None, ge=1, description="latent size; null = the dataset's suggestion")
    batch_size: int = Field(64, ge=1, description="samples per batch, or packs with batch_unit: packs")
    batch_unit: Literal["samples", "packs"] = Field(
        "samples", description="what batch_size counts: samples, or packs of `pack` samples (PacGAN's convention)")
    steps: int = Field(2000, ge=1, le=MAX_STEPS,
                       description="budget in training steps (one step: n_dis D updates, n_gen G updates)")
    time_budget_s: float | None = Field(None, gt=0, description="stop after this much training time")
    n_dis: int = Field(1, ge=1, description="discriminator updates per training step")
    n_gen: int = Field(1, ge=1, description="generator updates per training step, all on one noise draw")
    g_noise: Literal["fresh", "same_as_d"] = Field(
        "fresh", description="G's latents: its own draw, or those of the step's last D update (TF DCGAN)")
    g_call: Literal["once", "per_pack_member"] = Field(
        "once", description="G runs once on the whole batch, or once per pack member (batch-norm statistics "
                            "over batch_size samples each, as PacGAN's code)")
    latent: Literal[tuple(LATENTS)] = Field("normal", description="latent distribution: normal N(0,1) or uniform U(-1,1)")
    update: Literal["alternating", "simultaneous"] = Field(
        "alternating", description="alternating D then G steps, or both from one batch, applied together")
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(2e-4, gt=0)
    betas_g: tuple[Beta, Beta] = (0.5, 0.999)
    betas_d: tuple[Beta, Beta] = (0.5, 0.999)
    ema: float | None = Field(0.999, ge=0, lt=1, description="EMA decay of G's weights; null = off")
    ema_rampup: float | None = Field(0.05, gt=0, description="cap EMA half-life at this fraction of steps done")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="run seed; every random stream derives from it (64 bits: "
                      "a larger one would draw exactly what a smaller one does)")
    log_every: int = Field(50, ge=1)
    ckpt_every: int = Field(500, ge=1)
    keep_checkpoints: int | None = Field(None, ge=1, description="keep only the newest K checkpoints")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"
    tensorboard: bool = False
    plugins: list[str] = Field(default_factory=list, description="modules imported before building")

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, values: Any) -> Any:
        """``steps: true`` is a mistake, not one step: only yes/no fields take true/false."""
        if isinstance(values, dict):
            for key, value in values.items():
                field = cls.model_fields.get(key)
                if isinstance(value, bool) and field is not None and field.annotation is not bool:
                    raise UserError(f"bad value for '{key}': expected a number, got {str(value).lower()}")
        return values

    @field_validator(*COMPONENT_FIELDS, mode="before")
    @classmethod
    def _components(cls, v, info: ValidationInfo):
        return _component(v, COMPONENT_REGISTRIES[info.field_name], info.field_name)

    @field_validator("regularizers", mode="before")
    @classmethod
    def _regs(cls, v):
        if v is None:
            return []
        if not isinstance(v, list):
            v = [v]
        return [_component(r, REGULARIZERS, f"regularizers[{i}]") for i, r in enumerate(v)]

    @model_validator(mode="after")
    def _check(self):
        if self.z_dim is None:
            self.z_dim = DATASETS.get(self.data["name"]).extra.get("z_dim", 128)
        from .augment import parse_policy

        parse_policy(self.augment)
        from .training.schedule import check_schedule

        check_schedule(self)
        if self.samples_per_batch > MAX_BATCH:
            raise UserError(f"batch_size {self.batch_size} ({self.samples_per_batch} samples per batch) is over the "
                            f"bound of {MAX_BATCH} samples (32x the largest published GAN batch); a larger one would "
                            "be ended by the out-of-memory killer without a message")
        if self.batch_unit == "samples" and self.batch_size % self.pack:
            raise UserError(f"batch_size {self.batch_size} is not a multiple of pack {self.pack} "
                            "(or set batch_unit: packs to count the batch in packs)")
        return self

    @property
    def samples_per_batch(self) -> int:
        """Samples G makes and D sees per batch (each side): PacGAN's 100 packs of m are 100*m samples."""
        return self.batch_size * self.pack if self.batch_unit == "packs" else self.batch_size

    # --- identity -------------------------------------------------------------------------------------
    def result_dict(self) -> dict:
        """The fields that change the trained weights (not where/how progress is shown)."""
        out = self.model_dump(mode="json", exclude={"tensorboard", "keep_checkpoints", "log_every"})
        for key, default in LATE_DEFAULTS.items():
            if out[key] == default:  # defaults left out, so runs made before the option keep their digest
                del out[key]
        return out

    def digest(self) -> str:
        blob = json.dumps(self.result_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def set_dotted(tree: dict, key: str, value: Any) -> None:
    """``set_dotted(cfg, "discriminator.norm", "spectral")``; a component given as a name is expanded (and
    ``init: normal`` as its kind, so ``generator.init.std`` refines it)."""
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if isinstance(child, str):  # a component named (``loss: hinge``), or an init kind (``init: normal``)
            child = {("kind" if part == "init" else "name"): child}
        elif child is None:
            child = {}
        elif not isinstance(child, dict):
            raise UserError(f"cannot set '{key}': '{part}' is not a mapping")
        node[part] = child
        node = child
    node[parts[-1]] = value


def make_config(base: dict | None = None, overrides: dict[str, Any] | None = None, stored: str | None = None
                ) -> RunConfig:
    """Validate a config dict with dotted-key overrides applied; raise UserError on bad input.

    A config the caller wrote imports the plugin modules it lists. A config read back from a run or
    study directory (``stored`` names where) is data: its plugins must already be imported (``--plugin``,
    the caller's own config, entry points), otherwise it is refused with the modules it needs.
    """
    if not isinstance(base or {}, dict):
        raise UserError(f"{stored or 'config'}: expected a mapping of config keys")
    tree = json.loads(json.dumps(base or {}))  # deep copy of plain data
    for key in COMPONENT_FIELDS:  # so "--set generator.width=8" refines the default generator
        if key not in tree:
            tree[key] = RunConfig.model_fields[key].default_factory()
    for key, value in (overrides or {}).items():  # copied too: a later dotted key must not write into the caller's
        set_dotted(tree, key, copy.deepcopy(value))  # mapping (a study's dataset entry shared by all its variants)
    from .plugins import load_listed

    load_listed(tree, stored)
    try:
        return RunConfig(**tree)
    except pydantic.ValidationError as exc:
        raise UserError(format_validation_error(exc, model=RunConfig)) from None


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}{_meant(p)}")
    tree = load_yaml(p.read_bytes(), str(p)) or {}
    if not isinstance(tree, dict):
        raise UserError(f"{p}: expected a mapping of config keys at the top level")
    return tree


def _meant(missing: Path) -> str:
    """What a missing YAML path may have meant: the closest names of YAML files in its folder (and in
    ``presets/`` for a bare name: ``quick`` for presets/quick.yaml), or that its folder is not there."""
    folder = missing.parent
    if not folder.is_dir():
        return f" (there is no folder {folder}{'' if missing.is_absolute() else f' in {Path.cwd()}'})"
    found = {}
    for where in (folder, folder / "presets") if folder == Path(".") else (folder,):
        try:  # a huge folder is not listed whole for a hint
            files = [f for f in itertools.islice(where.iterdir(), 10_000) if f.suffix in (".yaml", ".yml")]
        except OSError:
            continue
        for f in files:
            found.setdefault(f.stem, str(f))
    close = difflib.get_close_matches(missing.stem, list(found), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(found[c] for c in close)}?)" if close else ""


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    return make_config(read_yaml(path), overrides)


from .registry import load_components

load_components()
