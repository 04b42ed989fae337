"""The study specification (strict YAML) and its expansion into run configs.

    name: quick
    base: {steps: 1500, ckpt_every: 500}          # any run-config keys
    datasets:                                      # a name, or a mapping of run-config overrides
      - ring8
      - {data: digits, generator: dcgan, discriminator: dcgan}
    grid: {loss: [ns, hinge]}                      # axes over any (dotted) config key ...
    variants:                                      # ... and/or named override sets
      hinge-sn: {loss: hinge, discriminator.norm: spectral}
    seeds: 3                                       # or an explicit list [0, 5, 9]
    budget: {steps: 2000}                          # or {seconds: 60} or {flops: 1e12} per run
    eval: {metrics: null, extractor: null, n: 2000, every: 500, primary: reverse_kl}
                                                   # primary: one value, or {ring8: reverse_kl, digits: fid}

Variants are the named sets crossed with the grid's points (either alone when the other is absent).
Each run's config = base, then the dataset's overrides, then the variant's, then the budget.
``eval.primary`` names the quality value that orders the leaderboard and selects each run's "best"
checkpoint; datasets it does not name get the default for their kind of data (declare.DEFAULT_PRIMARY).
It is checked against the values each dataset's evaluation will produce before anything runs (``evalspec.py``).
``reference:`` carries published numbers the study reproduces (see ``reference.py``); its datasets,
variants and metrics are checked the same way, and it is left out of the spec's digest. So is
``confirms:``, another study's verdicts that this one re-tests (``confirm.py``, ``ganbench study confirm``).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..config import COMPONENT_REGISTRIES, NET_FIELDS, NET_OPTIONS, RunConfig, make_config, read_yaml
from ..confine import check_config
from ..errors import UserError, did_you_mean
from ..limits import MAX_SEED, MAX_STEPS
from ..registry import format_validation_error
from .budget import Budget
from .confirm import Confirms, check_confirms
from .evalspec import EvalSpec, applicable_for, primary_for
from .reference import Reference, check_reference


SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")  # \Z: "$" matches before a final "\n" too
# A spec may come from a stranger's study directory, and even `study report` expands it: these bounds keep
# any spec from making a command allocate without limit, far above any real study (10 seeds, ~100 runs).
MAX_SEEDS = 1000
MAX_RUNS = 20_000
MAX_NAME_BYTES = 255  # a file name's limit on common file systems: a run directory's name is a run id
SAFE_VARIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+,-]*\Z")


class EnsembleSpec(BaseModel):
    """Training runs of equal network shapes together as one member-stacked model (training/stack.py).

    ``auto`` groups on an accelerator only: on CPU a stack measured no faster than the runs one after the
    other (benchmarks/ensemble.py). Grouping changes no result beyond float rounding, so it is not part of
    the spec's identity: a study may be resumed with another setting."""
    model_config = ConfigDict(extra="forbid")
    mode: Literal["auto", "on", "off"] = "auto"
    max_size: int = Field(16, ge=1, description="most runs in one group")


class StudySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "study"
    base: dict[str, Any] = Field(default_factory=dict)
    datasets: list[str | dict[str, Any]] = Field(default_factory=lambda: ["ring8"])
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    variants: dict[str, dict[str, Any]] = Field(default_factory=dict)
    seeds: int | list[int] = 3
    budget: Budget = Field(default_factory=Budget)
    eval: EvalSpec = Field(default_factory=EvalSpec)
    ensemble: EnsembleSpec = Field(default_factory=EnsembleSpec)
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = Field(
        "none", description="torch.compile mode of the training step (training/capture.py); how runs execute, "
                            "not what they are: left out of the spec's and the runs' identity, like grouping")
    reference: Reference | None = Field(None, description="published numbers this study reproduces")
    confirms: Confirms | None = Field(None, description="another study's verdicts this one re-tests (confirm.py)")

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        if not SAFE_NAME.match(v) or len(v) > 100:
            raise UserError(f"study name {v!r} must be a plain directory name: letters, digits, '.', '_', '-' "
                            "(it names studies/<name>)")
        return v

    @field_validator("datasets")
    @classmethod
    def _datasets(cls, v):
        if not v:
            raise UserError("'datasets' is empty; list at least one dataset")
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v):
        if isinstance(v, bool) or (isinstance(v, int) and v < 1):
            raise UserError(f"'seeds' must be a count >= 1 or a list of seeds; got {v!r}")
        check_seed_count(len(v) if isinstance(v, list) else v if isinstance(v, int) else 0)
        if isinstance(v, list):
            if not v or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in v):
                shown = repr(v) if len(repr(v)) < 200 else repr(v)[:200] + "..."
                raise UserError(f"'seeds' must list distinct integers from 0 to 2**64 - 1; got {shown}")
            if len(set(v)) != len(v):
                raise UserError(f"'seeds' lists a seed twice: {v!r}")
        return v

    @model_validator(mode="after")
    def _size(self):
        check_size(self)
        return self

    @field_validator("variants")
    @classmethod
    def _variant_names(cls, v):
        for name in v:
            if not SAFE_VARIANT.match(str(name)):
                raise UserError(f"variant name {name!r} must be safe as a directory name: letters, digits and "
                                "'.', '_', '-', '=', '+', ','")
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v):
        for key, values in v.items():
            if not values:
                raise UserError(f"grid axis '{key}' has no values")
            shown = [str(x) for x in values]  # as the run ids show them
            if twice := next((x for i, x in enumerate(shown) if x in shown[:i]), None):
                raise UserError(f"grid axis '{key}' lists {twice} twice; list each value once")
        return v

    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    def times(self, factor: float) -> "StudySpec":
        """The same study with every run's budget and the evaluation interval ``factor`` times as large, so
        that a steps budget keeps its number of evaluations (``--scale``, ``study confirm``)."""
        every = max(1, round(self.eval.every * factor)) if self.eval.every else None
        return self.model_copy(update={"budget": self.budget.times(factor),
                                       "eval": self.eval.model_copy(update={"every": every})})

    def digest(self) -> str:
        """Identity of what the study runs: how runs are grouped (ensemble) or compiled and published
        reference numbers or another study's verdicts (``confirms:``) change no result beyond rounding, so are left
        out."""
        tree = self.model_dump(mode="json", exclude={"ensemble", "compile", "reference", "confirms"})
        return hashlib.sha256(json.dumps(tree, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    run_id: str
    variant: str
    dataset: str
    seed: int
    config: dict  # the resolved run config (json-able)
    primary: str | None = None  # the quality value that selects this run's "best" checkpoint


def valid_keys() -> list[str]:
    """Every settable key: run-config fields, plus 'component.option' for every registered component."""
    keys = list(RunConfig.model_fields)
    for field, registry in COMPONENT_REGISTRIES.items():
        keys.append(f"{field}.name")
        for entry in registry:
            keys += [f"{field}.{opt}" for opt in entry.options.model_fields]
    for field in NET_FIELDS:  # the framework's options of every network family
        for opt, (_, model) in NET_OPTIONS.items():
            keys += [f"{field}.{opt}", *(f"{field}.{opt}.{sub}" for sub in model.model_fields)]
    return sorted(set(keys))


def check_keys(overrides: dict[str, Any], where: str) -> None:
    valid = valid_keys()
    for key in overrides:
        if key not in valid:
            raise UserError(f"unknown {where} key '{key}'{did_you_mean(key, valid)}")


def check_seed_count(n: int) -> None:
    if n > MAX_SEEDS:
        raise UserError(f"{n} seeds: a study has at most {MAX_SEEDS}")


def check_size(spec: StudySpec) -> None:
    """Refuse a study of more than MAX_RUNS runs before its grid or seed list is built."""
    n = len(spec.datasets) * max(1, len(spec.variants)) * math.prod(len(v) for v in spec.grid.values()) * (
        spec.seeds if isinstance(spec.seeds, int) else len(spec.seeds))
    if n > MAX_RUNS:
        raise UserError(f"the study has {n:,} runs (datasets x variants x grid points x seeds); at most {MAX_RUNS:,}")


def _variants(spec: StudySpec) -> list[tuple[str, dict]]:
    axes = list(spec.grid.items())
    grid_points = [dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]
    grid_named = [(",".join(f"{k}={v}" for k, v in point.items()), point) for point in grid_points] or [("", {})]
    named = list(spec.variants.items()) or [("", {})]
    for variant, overrides in spec.variants.items():  # a grid value would silently replace the variant's
        clash = [k for k in overrides for a in spec.grid if k == a or k.startswith(a + ".") or a.startswith(k + ".")]
        if clash:
            raise UserError(f"variant '{variant}' sets '{clash[0]}', which the grid also varies (the grid would "
                            "override it in every run); vary it in one place only")
    out = []
    for (n1, o1), (n2, o2) in itertools.product(named, grid_named):
        out.append(("+".join(x for x in (n1, n2) if x) or "base", {**o1, **o2}))
    return out


def _dataset(entry: str | dict) -> tuple[str, dict]:
    if isinstance(entry, str):
        return entry, {"data": entry}
    if "data" not in entry:
        raise UserError(f"a dataset entry needs a 'data' key: {entry}")
    data = entry["data"]
    return (data if isinstance(data, str) else data["name"]), dict(entry)


def _flops_budget(cfg, flops: float, where: str):
    """The run's steps set so that its training FLOPs reach the budget at its last step."""
    from ..training.flops import step_flops

    key = cfg.model_copy(update={"seed": 0}).digest()
    if key not in _FLOPS_MEMO:  # seeds share the measurement
        _FLOPS_MEMO[key] = step_flops(cfg)
    try:
        steps = _FLOPS_MEMO[key].steps_for(flops)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None
    if steps > MAX_STEPS:  # model_copy does not validate
        raise UserError(f"{where}: budget.flops {flops:.3g} would take {steps:.3g} training steps (at most "
                        f"{MAX_STEPS:,} per run)")
    return cfg.model_copy(update={"steps": steps})


_FLOPS_MEMO: dict = {}


def _check_dataset_names(spec: StudySpec) -> None:
    """Each entry's name (its data name, which names its runs) is distinct, and eval.primary names them."""
    datasets = [_dataset(entry)[0] for entry in spec.datasets]
    for i, name in enumerate(datasets):
        if name in datasets[:i]:
            raise UserError(f"'datasets' lists dataset '{name}' twice (entries {datasets.index(name) + 1} and "
                            f"{i + 1}); a dataset is named by its data name, so list it once and put the settings "
                            "that differ (say data.n or data.path) in 'grid' or 'variants'")
    if isinstance(spec.eval.primary, dict):
        for name in spec.eval.primary:
            if name not in datasets:
                raise UserError(f"eval.primary names dataset '{name}', which the study does not have"
                                f"{did_you_mean(name, datasets)}; datasets: {', '.join(datasets)}")


def expand(spec: StudySpec, stored: str | None = None) -> list[RunSpec]:
    """Every run of the study, configs validated; a bad key fails here, before anything runs.

    ``stored``: the spec was read back from a study directory (its plugins are not imported from it)."""
    check_keys(spec.base, "base")
    for name, overrides in spec.variants.items():
        check_keys(overrides, f"variant '{name}'")
    check_keys(spec.grid, "grid")
    budget = {}
    if spec.budget.steps:
        budget["steps"] = spec.budget.steps
    if spec.budget.seconds:
        budget["time_budget_s"] = spec.budget.seconds
    if spec.eval.every:
        budget["ckpt_every"] = spec.eval.every
    runs = []
    _check_dataset_names(spec)
    for entry in spec.datasets:
        ds_name, ds_overrides = _dataset(entry)
        check_keys(ds_overrides, f"dataset '{ds_name}'")
        primary = None
        for variant, overrides in _variants(spec):
            for seed in spec.seed_list():
                tree = dict(spec.base)
                dotted = {**ds_overrides, **overrides, **budget, "seed": seed}
                try:
                    cfg = make_config(tree, dotted, stored=stored)
                except UserError as exc:
                    raise UserError(f"dataset '{ds_name}', variant '{variant}': {exc}") from None
                check_config(cfg)  # a path read back from a study directory stays inside it (confine.py)
                if spec.budget.flops:
                    cfg = _flops_budget(cfg, spec.budget.flops, f"dataset '{ds_name}', variant '{variant}'")
                config = cfg.model_dump(mode="json")
                primary = primary or primary_for(spec, ds_name, config)[0]
                runs.append(RunSpec(f"{ds_name}__{variant}__s{seed}", variant, ds_name, seed, config, primary))
    from .worker import run_dir_name

    seen: dict[str, str] = {}
    for r in runs:  # two ids may map to one directory name ('a/b' and 'a_b'): refuse before any work
        folder = run_dir_name(r.run_id)
        if len(folder.encode()) > MAX_NAME_BYTES:  # else each run would fail when its directory is made
            shown = r.variant if len(r.variant) <= 60 else r.variant[:57] + "..."
            raise UserError(f"dataset '{r.dataset}', variant '{shown}' ({len(r.variant)} characters): its run "
                            f"directory name would be {len(folder.encode())} bytes, over the {MAX_NAME_BYTES} a file "
                            "name may have; name the variant shorter (a named entry of 'variants' instead of long "
                            "grid values)")
        if folder in seen:
            if seen[folder] == r.run_id:
                raise UserError(f"two runs of the study have the same id '{r.run_id}'; name each dataset, variant "
                                "and grid value once")
            raise UserError(f"runs '{seen[folder]}' and '{r.run_id}' would share one run directory; "
                            "give variants (or grid values) distinct names")
        seen[folder] = r.run_id
    if spec.reference is not None:
        first = {}
        for r in runs:
            first.setdefault(r.dataset, r.config)
        check_reference(spec.reference, set(first), {r.variant for r in runs},
                        lambda ds: applicable_for(spec, first[ds]))
    if spec.confirms is not None:
        check_confirms(spec.confirms, {r.dataset for r in runs}, {r.variant for r in runs},
                       {r.seed for r in runs})
    return runs


def scaled(spec: StudySpec, factor: float) -> StudySpec:
    """A first look at a long study: its budget (steps or seconds, and ``eval.every``) times ``factor``, and
    its seeds times ``factor`` but at least 3 (the fewest that still give a spread; all of them when the spec
    has fewer). Named ``NAME-xF``."""
    if not 0 < factor <= 1:
        raise UserError(f"--scale must be in (0, 1]; got {factor}")
    if not (spec.budget.steps or spec.budget.seconds):
        raise UserError("--scale shrinks budget.steps or budget.seconds; this spec sets neither")
    seeds = spec.seed_list()
    keep = seeds[:max(min(3, len(seeds)), math.ceil(len(seeds) * factor))]
    return spec.times(factor).model_copy(update={"name": f"{spec.name}-x{factor:g}",
                                                 "seeds": len(keep) if isinstance(spec.seeds, int) else keep})


def spec_of(tree: dict, where: str, stored: bool = False) -> StudySpec:
    """A spec from its YAML mapping. The plugin modules ``base`` lists come first, as in a run's config (the
    caller's spec imports them; one read back from a study directory, ``stored``, needs them imported already):
    its eval.metrics may name a plugin's metric."""
    from ..plugins import load_listed

    if isinstance(tree.get("base"), dict):
        load_listed(tree["base"], where if stored else None)
    try:
        return StudySpec(**tree)
    except pydantic.ValidationError as exc:
        raise UserError(f"{where}: {format_validation_error(exc, model=StudySpec)}") from None
    except UserError as exc:  # a validator's own check (seed count, study size, names): which file, too
        raise exc if str(exc).startswith(f"{where}:") else UserError(f"{where}: {exc}") from None


def with_plugins(spec: StudySpec, modules: list[str]) -> StudySpec:
    """The spec with ``--plugin`` modules in ``base.plugins``, as ``train`` records them in a run's config: the
    stored spec and every run's config.yaml then name what reading them needs."""
    listed = spec.base.get("plugins") or []
    return spec.model_copy(update={"base": {**spec.base, "plugins": sorted(set(listed) | set(modules))}})


def load_spec(path: str | Path) -> StudySpec:
    return spec_of(read_yaml(path), str(path))
