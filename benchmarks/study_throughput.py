"""Runs per hour of the quick preset's toy runs: process pool vs one-at-a-time in this process.

Both execute the same runs (presets/quick.yaml restricted to its 2-D datasets, one seed by default)
into fresh temporary study directories; the ratio pool / in-process is expected close to the number
of cores for these small models.

    python benchmarks/study_throughput.py [--seeds 1] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from ganbench.study.executors import InProcess, Pool
from ganbench.study.runner import run_study
from ganbench.study.spec import expand, load_spec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    spec = load_spec(Path(__file__).parents[1] / "presets" / "quick.yaml")
    spec = spec.model_copy(update={"seeds": args.seeds, "datasets": [d for d in spec.datasets
                                                                    if "digits" not in str(d)]})
    n = len(expand(spec))
    rates = {}
    for name, make in (("in-process", InProcess), ("pool", lambda: Pool(args.workers))):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            summary = run_study(Path(tmp) / "s", spec, make(), progress=False)
            seconds = time.perf_counter() - t
        assert summary["executed"] == n
        rates[name] = n / seconds * 3600
        print(f"{name:>10}: {n} runs in {seconds:.1f}s = {rates[name]:.0f} runs/hour", flush=True)
    print(f"pool / in-process: {rates['pool'] / rates['in-process']:.2f}x on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
