"""Which software and which machine made a number.

A study can take weeks and outlive many edits of the code: a run resumed after a ``git pull``, a study
merged from two laptops, a verdict re-tested a month later. Each study run therefore records, beside its
results, the software that trained and evaluated it and the machine it ran on (``record``). The report
states them and warns when the runs it compares were made by different code, which would confound the
recipe with the code version, or timed on different machines, which makes their seconds incomparable.

``code`` is a digest of ganbench's own source files (their paths and bytes): the package version alone
does not change with every edit, and a digest needs no git checkout, so it names the same code in a wheel,
an editable install and a copied tree alike.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from collections import Counter, defaultdict
from pathlib import Path

from . import __version__
from .textsafe import shown  # a stranger's store may hold anything: at most 160 characters, no controls

PACKAGE = Path(__file__).resolve().parent
SOFTWARE_KEYS = ("ganbench", "code", "torch", "numpy", "python")  # what decides the numbers; `machine` the times


@functools.cache
def code_digest() -> str:
    """The digest of the ganbench this process runs (computed once)."""
    return source_digest(PACKAGE)


def source_digest(root: Path) -> str:
    """sha256 over the .py files under ``root`` (relative path and bytes, in path order), 12 hex digits."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.relative_to(root).parts):
        h.update(path.relative_to(root).as_posix().encode() + b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:12]


@functools.cache
def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine(device: str = "cpu") -> str:
    """The processor a run's numbers were timed on: the GPU's name, or the CPU's with its core count."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    if dev.type != "cpu":
        return dev.type
    return f"{cpu_name()} ({os.cpu_count()} logical cores)"


def record(device: str = "cpu") -> dict:
    """The software and machine of this process, as a study run's result records them."""
    import numpy
    import torch

    return {"ganbench": __version__, "code": code_digest(), "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "machine": machine(device)}


def software_label(rec: dict | None) -> str:
    if not isinstance(rec, dict) or not rec:
        return "not recorded (made by a ganbench older than this record)"
    return shown(f"ganbench {rec.get('ganbench', '?')} (code {rec.get('code', '?')}), torch {rec.get('torch', '?')}, "
                  f"numpy {rec.get('numpy', '?')}, Python {rec.get('python', '?')}")


def machine_label(rec: dict | None) -> str:
    return shown(rec["machine"]) if isinstance(rec, dict) and rec.get("machine") else "not recorded"


def _with_results(runs: list[dict]) -> list[dict]:
    """The runs whose training made numbers: done, or diverged (a failed run has none)."""
    return [r for r in runs if r.get("status") in ("done", "diverged")]


def _count(runs: list[dict], label) -> Counter:
    return Counter(label(r.get("software")) for r in runs)


def notes(runs: list[dict]) -> list[str]:
    """The report's protocol lines: each software version and each machine, with how many runs it made."""
    finished = _with_results(runs)
    out = []
    for what, label in (("Software", software_label), ("Machine", machine_label)):
        counts = _count(finished, label)
        for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            share = f"all {n} runs" if len(counts) == 1 else f"{n} of {len(finished)} runs"
            out.append(f"{what}: {name}: {share}.")
    return out


def mixed_software(runs: list[dict]) -> str | None:
    """A warning when the runs with results were made by more than one software version (or some by an
    unrecorded one): which variants each version made, so a reader sees whether code and recipe are confounded."""
    finished = _with_results(runs)
    made: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in finished:
        made[software_label(r.get("software"))][f"{r['dataset']}/{r['variant']}"].append(r["seed"])
    if len(made) < 2:
        return None
    parts = []
    for label, cells in sorted(made.items(), key=lambda kv: -sum(len(s) for s in kv[1].values())):
        n = sum(len(s) for s in cells.values())
        which = "; ".join(f"{cell} seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
                          for cell, seeds in sorted(cells.items()))
        parts.append(f"{label}: {n} run{'s' if n > 1 else ''} ({which})")
    return (f"The runs of this study were made by {len(made)} software versions, so a difference between variants "
            "can be a difference between versions of the code rather than between recipes. " + " — ".join(parts)
            + ". " + _confounded(finished) + "Train the runs again with one version (`ganbench study verify "
            "--retrain K` shows whether a run trains to the same weights with the code at hand).")


def unequal_seconds(runs: list[dict], seconds: float | None) -> str | None:
    """A warning when a budget in seconds was spent on more than one machine (a study resumed, extended or run
    by Ray elsewhere): a faster machine trains more steps in the same seconds, so the budgets were not equal.
    Names which runs each machine trained, as mixed_software does for versions."""
    if not seconds:
        return None
    made: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for r in _with_results(runs):
        made[machine_label(r.get("software"))][f"{r['dataset']}/{r['variant']}"].append(r["seed"])
    if len(made) < 2:
        return None
    parts = [f"{label}: " + "; ".join(f"{cell} seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))}"
                                      for cell, seeds in sorted(cells.items()))
             for label, cells in sorted(made.items())]
    return (f"Every run got {seconds:g} training seconds, but they were spent on {len(made)} machines, and a faster "
            "one trains more steps in them: the runs did not get equal budgets, and a difference between variants "
            "can be one between machines. " + " — ".join(parts) + ".")


def _confounded(runs: list[dict]) -> str:
    """The pairs of variants of a dataset that share no version at all: their comparison cannot tell code
    from recipe."""
    versions: dict[tuple, set] = defaultdict(set)
    for r in runs:
        versions[r["dataset"], r["variant"]].add(software_label(r.get("software")))
    found = [f"{a} and {b} on {ds}" for (ds, a), va in sorted(versions.items()) for (ds2, b), vb in sorted(versions.items())
             if ds == ds2 and a < b and not va & vb]
    if not found:
        return ""
    shown = "; ".join(found[:5]) + (f" and {len(found) - 5} more pairs" if len(found) > 5 else "")
    return (f"Not one version made runs of both variants of {shown}: there a difference confounds code with "
            "recipe. ")


def mixed_machines(runs: list[dict]) -> str | None:
    """A note for the cost table when its seconds were measured on more than one machine."""
    counts = _count([r for r in runs if r.get("status") == "done"], machine_label)
    if len(counts) < 2:
        return None
    listed = "; ".join(f"{name}: {n} run{'s' if n > 1 else ''}" for name, n in sorted(counts.items()))
    return (f"Train seconds were measured on {len(counts)} machines ({listed}): compare training FLOPs, "
            "which do not depend on the machine.")


def software_of(runs: list[dict]) -> set[str]:
    """The distinct software labels of the runs with results (for merge and verify)."""
    return {software_label(r.get("software")) for r in _with_results(runs)}
