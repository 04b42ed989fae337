"""Which runs may train together as one member-stacked model, and why others may not.

Members must build networks of the same shapes and take the same kind of step; they may differ in
the seed and in scalar settings that enter the step as numbers (learning rates, Adam betas, EMA decay
and ramp-up, regularizer weights). ``group_key`` is equal for runs that may be stacked; ``check_group``
refuses a group with one line naming the first setting that differs.
"""

from __future__ import annotations

from ..config import RunConfig
from ..errors import UserError

# settings a member may have of its own
SCALAR = {"seed", "lr_g", "lr_d", "betas_g", "betas_d", "ema", "ema_rampup", "regularizers", "tensorboard",
          "keep_checkpoints"}


def _regularizer_shape(cfg: RunConfig) -> list:
    """Regularizers: the same kinds in the same order, applied on the same steps; weights may differ."""
    return [(r["name"], r.get("every", 1)) for r in cfg.regularizers]


def group_key(cfg: RunConfig) -> str:
    """Equal for runs that can train as one stack."""
    import json

    fixed = {k: v for k, v in cfg.model_dump(mode="json").items() if k not in SCALAR}
    fixed["regularizers"] = _regularizer_shape(cfg)
    fixed["ema"] = cfg.ema is None
    return json.dumps(fixed, sort_keys=True)


def refusal(cfg: RunConfig) -> str | None:
    """Why this run cannot train in a stack at all, or None."""
    if cfg.amp == "fp16":
        return ("amp: fp16 cannot train in an ensemble: loss scaling would skip a step for every member when one "
                "member overflows; use amp: bf16 or none")
    if cfg.time_budget_s:
        return "a time budget (time_budget_s) cannot train in an ensemble: members share one clock; use steps"
    return None


def check_group(cfgs: list[RunConfig]) -> None:
    """Refuse runs that cannot train together, naming the setting."""
    for cfg in cfgs:
        if (why := refusal(cfg)) is not None:
            raise UserError(why)
    first = cfgs[0]
    a = first.model_dump(mode="json")
    for cfg in cfgs[1:]:
        b = cfg.model_dump(mode="json")
        for key in a:
            if key not in SCALAR and a[key] != b[key]:
                raise UserError(f"runs with seeds {first.seed} and {cfg.seed} cannot train together: they differ in "
                                f"'{key}' ({a[key]!r} vs {b[key]!r}); members may differ only in "
                                f"{', '.join(sorted(SCALAR - {'tensorboard', 'keep_checkpoints'}))}")
        if (first.ema is None) != (cfg.ema is None):
            raise UserError(f"runs with seeds {first.seed} and {cfg.seed} cannot train together: one uses an EMA "
                            "of G's weights (ema) and the other does not")
        if _regularizer_shape(first) != _regularizer_shape(cfg):
            raise UserError(f"runs with seeds {first.seed} and {cfg.seed} cannot train together: they differ in "
                            f"'regularizers' kinds or 'every' ({_regularizer_shape(first)} vs "
                            f"{_regularizer_shape(cfg)}); only the regularizers' weights may differ")
