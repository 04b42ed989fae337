"""How much training every run of a study gets; also the unit a published result's training is stated in
(``reference.budget``), so that the two can be compared."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import UserError


def amount_text(x: float, unit: str) -> str:
    """An amount of training in a Budget.kind() unit, as the report writes it: '1,200 steps', '60 s'."""
    return f"{x:,.0f} steps" if unit == "steps" else f"{x:,.4g} s" if unit == "seconds" else f"{x:.3g} FLOPs"


class Budget(BaseModel):
    """What every run gets the same of: training steps (n_dis D and n_gen G updates each), seconds, or FLOPs."""

    model_config = ConfigDict(extra="forbid")
    steps: int | None = Field(None, ge=1)
    seconds: float | None = Field(None, gt=0)
    flops: float | None = Field(None, gt=0, description="training FLOPs; a run stops at the first step past them")

    @model_validator(mode="after")
    def _one_kind(self):
        if self.flops and (self.steps or self.seconds):
            raise UserError("budget: give flops alone (it sets every run's steps), not with steps or seconds")
        return self

    def kind(self) -> str:
        return "FLOPs" if self.flops else "seconds" if self.seconds else "steps"

    def amount(self) -> float | None:
        """The budget in its own unit (``kind``); None when nothing is set."""
        return self.flops or self.seconds or self.steps

    def times(self, factor: float) -> "Budget":
        """The same kind of budget ``factor`` times as large (steps rounded, at least 1)."""
        if self.flops:
            return Budget(flops=self.flops * factor)
        return Budget(steps=max(1, round(self.steps * factor)) if self.steps else None,
                      seconds=self.seconds * factor if self.seconds else None)
