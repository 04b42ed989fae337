"""A small image study with each process's extractors reused (memo.py) vs built for every evaluation.

The study: digits, tiny DCGANs, 2 variants x 2 seeds, every run evaluated 3 times (all checkpoints, the
repeat, the held-out "best") plus the dataset's calibration, in this process. The two modes alternate
(the machine may be busy) and each is repeated; printed: LeNet constructions, the seconds spent
constructing, in evaluation and in the whole study, as min and spread, and the ratio of the minima.

    python benchmarks/extractor_reuse.py [--repeats 3] [--steps 40]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ganbench import evaluate
from ganbench.metrics.features import lenet, memo
from ganbench.study.executors import InProcess
from ganbench.study.runner import run_study
from ganbench.study.spec import StudySpec

NET = {"name": "dcgan", "width": 8}
INPUTS, INIT, EVALUATE = dict(memo.INPUTS), lenet.LeNetFeatures.__init__, evaluate.evaluate_run  # as shipped


def study(steps: int) -> StudySpec:
    return StudySpec(name="reuse", base={"batch_size": 16, "log_every": 10, "generator": NET, "discriminator": NET},
                     datasets=[{"data": "digits"}], grid={"loss": ["ns", "hinge"]}, seeds=2,
                     budget={"steps": steps}, eval={"n": 200, "every": steps // 2})


class Timed:
    """Wraps a function: calls counted, seconds summed."""

    def __init__(self, fn):
        self.fn, self.calls, self.seconds = fn, 0, 0.0

    def __call__(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return self.fn(*args, **kwargs)
        finally:
            self.calls, self.seconds = self.calls + 1, self.seconds + time.perf_counter() - t


def once(spec: StudySpec, reuse: bool) -> dict:
    memo.forget()
    memo.INPUTS = dict(INPUTS) if reuse else {}  # no inputs declared: built every time, the old behaviour
    build, ev = Timed(INIT), Timed(EVALUATE)
    lenet.LeNetFeatures.__init__ = lambda self, *a, **k: build(self, *a, **k)
    evaluate.evaluate_run = ev  # the study's evaluation imports it at call time
    try:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            run_study(Path(tmp) / "s", spec, InProcess(), progress=False)
            total = time.perf_counter() - t
    finally:
        lenet.LeNetFeatures.__init__, evaluate.evaluate_run, memo.INPUTS = INIT, EVALUATE, dict(INPUTS)
    return {"builds": build.calls, "build_s": build.seconds, "evals": ev.calls, "eval_s": ev.seconds,
            "study_s": total}


def spread(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows]
    return f"{key} min {min(values):.2f} (max - min {max(values) - min(values):.2f})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    spec = study(args.steps)
    once(spec, True)  # warm-up: the classifier trained or read once, imports done
    results = {"built each time": [], "reused": []}
    for _ in range(args.repeats):
        for mode in results:
            results[mode].append(once(spec, mode == "reused"))
    for mode, rows in results.items():
        print(f"{mode:>15}: {rows[0]['builds']} LeNet builds for {rows[0]['evals']} evaluations + calibration; "
              + "; ".join(spread(rows, k) for k in ("build_s", "eval_s", "study_s")))
    old, new = results["built each time"], results["reused"]
    for k in ("eval_s", "study_s"):
        print(f"{k} reused / built each time (min over {args.repeats}): "
              f"{min(r[k] for r in new) / min(r[k] for r in old):.3f}")
    print(f"per evaluation (median): {statistics.median(r['eval_s'] for r in old) / old[0]['evals']:.3f} s -> "
          f"{statistics.median(r['eval_s'] for r in new) / new[0]['evals']:.3f} s")


if __name__ == "__main__":
    main()
