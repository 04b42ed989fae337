"""Which queued runs of a study train together as one member-stacked model (training/stack.py).

Runs whose configs share ``training.grouping.group_key`` (same networks, data, loss, schedule; other
seeds, learning rates, betas, EMA decay or regularizer weights) are grouped, at most ``max_size`` per
group. ``auto`` groups only runs that train on an accelerator: on CPU benchmarks/ensemble.py measured a
stack no faster than the runs one after the other. ``off`` trains every run alone. A run that cannot be
stacked (fp16 loss scaling, a time budget) always trains alone.

``queue`` gives the order the tasks start in: within each dataset seed-major (every variant's first seed,
then every variant's second, ...), so a machine whose load drifts during a study (other jobs, thermal
limits) slows every variant alike rather than whole variants; wall-clock seconds of a variant then describe
the recipe, not when it ran. Groups are formed on the spec's variant-major order first (their members and
stack order are what they were), then started in that order by their first run.
"""

from __future__ import annotations

from ..config import make_config
from ..training.build import resolve_device
from ..training.grouping import group_key, refusal


def queue(runs: list, mode: str = "auto", max_size: int = 16) -> list[list]:
    """The tasks (``plan_groups``) of ``runs`` in the order they start: datasets in the order of ``runs``;
    within one, by the place of each task's first run among its variant's runs in ``runs`` (its first seed,
    its second, ...), then by variant in the order of ``runs``."""
    dataset: dict = {}
    variant: dict = {}
    place: dict = {}
    seen: dict = {}
    for r in runs:
        dataset.setdefault(r.dataset, len(dataset))
        variant.setdefault((r.dataset, r.variant), len(variant))
        place[r.run_id] = seen.get((r.dataset, r.variant), 0)
        seen[r.dataset, r.variant] = place[r.run_id] + 1

    def key(group: list) -> tuple:
        r = group[0]
        return dataset[r.dataset], place[r.run_id], variant[r.dataset, r.variant]

    return sorted(plan_groups(runs, mode, max_size), key=key)


def plan_groups(runs: list, mode: str = "auto", max_size: int = 16) -> list[list]:
    """``runs`` (RunSpecs) split into groups, in the order of their first run."""
    if mode == "off" or max_size <= 1:
        return [[r] for r in runs]
    groups: list[list] = []
    open_group: dict[str, list] = {}
    for r in runs:
        cfg = make_config(r.config)
        alone = refusal(cfg) is not None or (mode == "auto" and resolve_device(cfg.device).type == "cpu")
        key = None if alone else group_key(cfg)
        group = open_group.get(key) if key is not None else None
        if group is None or len(group) >= max_size:
            group = []
            groups.append(group)
            if key is not None:
                open_group[key] = group
        group.append(r)
    return groups
