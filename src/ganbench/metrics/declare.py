"""What each number a metric returns means: the one declaration that ranking, testing, "best" selection,
the report's arrows and the CSV read.

A metric function in ``suite.py`` returns a dict of named values; each name is declared once, next to the
function, with ``quality(...)`` (a number to rank and test: it has a direction) or ``auxiliary(...)``
(a spread, a count of samples, a protocol value: shown, never ranked). Nothing else in ganbench lists
metric names or directions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..registry import RegistrationError

Direction = Literal["higher", "lower"]


@dataclass(frozen=True)
class Value:
    name: str
    direction: Direction | None  # None for auxiliary numbers
    quality: bool  # ranked and tested across variants
    bounds: tuple[float | None, float | None]  # the value's possible range (None = unbounded)
    unit: str
    meaning: str
    # the upper bound set by the dataset's number of modes or classes k (modes covered <= k, a KL to the uniform
    # histogram <= ln k), where the dataset declares k (data.base.declared_classes)
    per_class: Callable[[int], float] | None = None

    @property
    def arrow(self) -> str:
        return {"higher": "↑", "lower": "↓"}.get(self.direction or "", "")

    def better(self, a: float, b: float) -> bool:
        """Is a strictly better than b? Only quality values have a 'better'."""
        if not self.quality:
            raise ValueError(f"'{self.name}' is an auxiliary number; it is never ranked")
        return a < b if self.direction == "lower" else a > b

    def clip(self, x: float) -> float:
        """x moved inside the declared bounds (a confidence interval may not leave them)."""
        low, high = self.bounds
        if low is not None and x < low:
            return float(low)
        if high is not None and x > high:
            return float(high)
        return x

    def clip_for(self, classes: int | None):
        """``clip`` with the upper bound the dataset's ``classes`` sets, when this value has one."""
        if self.per_class is None or not classes:
            return self.clip
        cap = float(self.per_class(classes))
        return lambda x: min(self.clip(x), cap)

    def worst(self) -> float:
        return math.inf if self.direction == "lower" else -math.inf


VALUES: dict[str, Value] = {}


def quality(name: str, direction: Direction, meaning: str, bounds=(None, None), unit: str = "",
            per_class: Callable[[int], float] | None = None) -> Value:
    if direction not in ("higher", "lower"):
        raise RegistrationError(f"direction of '{name}' must be 'higher' or 'lower', got {direction!r}")
    return Value(name, direction, True, tuple(bounds), unit, meaning, per_class)


def auxiliary(name: str, meaning: str, bounds=(None, None), unit: str = "") -> Value:
    return Value(name, None, False, tuple(bounds), unit, meaning)


def _load() -> None:
    """The declarations live next to the metric functions in suite.py: import it once."""
    from . import suite  # noqa: F401


def declare(values) -> None:
    for v in values:
        if v.name in VALUES:
            raise RegistrationError(f"metric value '{v.name}' is declared twice")
        VALUES[v.name] = v


def info(name: str) -> Value:
    """The declaration of a value; an undeclared one (e.g. from an old store) is an auxiliary number."""
    _load()
    return VALUES.get(name) or auxiliary(name, "(not declared)")


def is_quality(name: str) -> bool:
    return info(name).quality


def better(name: str, a: float, b: float) -> bool:
    return info(name).better(a, b)


def quality_names() -> list[str]:
    _load()
    return [n for n, v in VALUES.items() if v.quality]


# The primary value (orders the leaderboard, selects "best") when a study names none, per kind of data:
# the first of these that applies. Mixtures: PacGAN's share of high-quality samples.
DEFAULT_PRIMARY = {"points": ("high_quality", "w1", "fid"), "images": ("fid",)}


def default_primary(kind: str, applicable) -> str:
    return next((m for m in DEFAULT_PRIMARY[kind] if m in applicable), None) or sorted(applicable)[0]
