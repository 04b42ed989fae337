"""A study's ``eval:`` block and what it decides before any run: the metrics, the extractor, the number of
samples, how often, and each dataset's primary value (the one that orders the leaderboard and selects each
run's "best" checkpoint), checked against the values the dataset's evaluation will produce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import PLUGIN_HINT, UserError, did_you_mean
from ..limits import MAX_SAMPLES

if TYPE_CHECKING:
    from .spec import StudySpec


class EvalSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[str] | None = None
    extractor: str | None = None
    n: int | None = Field(None, ge=10, le=MAX_SAMPLES, description="fake samples per evaluation (as `eval --n`)")
    every: int | None = Field(None, ge=1, description="evaluate every K steps (best and final known)")
    primary: str | dict[str, str] | None = Field(
        None, description="the quality value that ranks variants and selects 'best': one name, or per dataset")

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, v):
        from ..metrics.suite import METRICS

        for name in v or []:
            if name not in METRICS:
                raise UserError(f"unknown metric '{name}' in eval.metrics{did_you_mean(name, METRICS)}; "
                                f"valid: {', '.join(sorted(METRICS))}{PLUGIN_HINT}")
        if v is not None and not v:
            raise UserError("eval.metrics is empty; leave it out for the default metrics")
        return v

    @field_validator("extractor")
    @classmethod
    def _known_extractor(cls, v):
        from ..metrics.features import EXTRACTORS

        if v is not None and v not in EXTRACTORS:
            raise UserError(f"unknown extractor '{v}' in eval.extractor{did_you_mean(v, EXTRACTORS)}; "
                            f"valid: {', '.join(EXTRACTORS)}")
        return v


def evaluation_traits(spec: StudySpec, config: dict) -> tuple[str, bool, bool, bool, bool]:
    """(kind, mixture, labelled, conditional, has_logits): what the study's evaluation of a run of this config
    can compute, known before it runs (applicable_values / applicable_metrics take them in this order)."""
    from ..data.base import traits
    from ..metrics.features import HAS_LOGITS

    t = traits(config["data"])
    extractor = spec.eval.extractor or ("lenet" if t.kind == "images" else "points")
    return t.kind, t.mixture, t.labelled, bool(config.get("conditional")), HAS_LOGITS.get(extractor, True)


def applicable_for(spec: StudySpec, config: dict) -> list[str]:
    """The quality values the study's evaluation reports for a run of this config (known before it runs)."""
    from ..metrics.suite import applicable_values

    return applicable_values(*evaluation_traits(spec, config), spec.eval.metrics)


def primary_for(spec: StudySpec, dataset: str, config: dict) -> tuple[str, bool]:
    """The primary value of a dataset and whether the spec chose it (False: the default for its data);
    a name that does not apply is refused with the names that do."""
    from ..data.base import traits
    from ..metrics.declare import default_primary

    values = applicable_for(spec, config)
    chosen = spec.eval.primary.get(dataset) if isinstance(spec.eval.primary, dict) else spec.eval.primary
    if chosen is None:
        if not values:
            raise UserError(f"dataset '{dataset}': the evaluation produces no quality metric to rank by")
        return default_primary(traits(config["data"]).kind, values), False
    if chosen not in values:
        raise UserError(f"eval.primary '{chosen}' does not apply to dataset '{dataset}'"
                        f"{did_you_mean(chosen, values)}; metrics that apply: {', '.join(values)}")
    return chosen, True
