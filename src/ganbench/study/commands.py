"""The `ganbench study` commands: run, resume, report, rebuild (parsed in cli/study.py; cli/__init__.py
maps errors to one line).

Each reads a study directory inside a path scope (confine.py): a spec read back from the directory may
only name data inside it, or paths the caller passes with --data-path; the caller's own spec names the
caller's paths.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import UserError


def _duration(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if m else f"{s} s"


def study_command(args: argparse.Namespace) -> int:
    """`ganbench study run|resume|report|rebuild`."""
    from ..confine import config_paths, confined
    from .runner import StudyDir
    from .spec import expand, load_spec

    if args.study_command in ("rebuild", "report"):
        with confined(args.dir, "study directory", args.data_path):
            return _study_rebuild(args) if args.study_command == "rebuild" else _study_report(args)
    if args.study_command == "run":
        spec = load_spec(args.spec)
        if args.scale is not None:
            from .spec import scaled

            spec = scaled(spec, args.scale)
        directory = args.dir or Path("studies") / spec.name
        # refuse bad specs before starting workers or a cluster; the caller's spec names the caller's paths
        typed = [value for r in expand(spec) for _, value in config_paths(r.config)]
        with confined(directory, "study directory", [*args.data_path, *typed]):
            return _study_run(args, directory, spec)
    directory, spec = args.dir, StudyDir(args.dir).read_spec()
    with confined(directory, "study directory", args.data_path):
        # a spec read back from a study directory is data: its plugins must come from --plugin, its paths
        # must stay inside it or come from --data-path
        expand(spec, stored=str(directory / "spec.yaml"))
        return _study_run(args, directory, spec)


def _study_rebuild(args: argparse.Namespace) -> int:
    from .rebuild import rebuild_store
    from .runner import StudyDir

    study = StudyDir(args.dir)
    study.read_spec()  # a study directory, before the lock creates anything
    lock = study.lock()
    try:
        counts = rebuild_store(study)
    finally:
        lock.close()
    print(f"rebuilt {study.store_path}: {counts['recovered']} finished runs recovered, {counts['queued']} "
          f"queued (continue with: ganbench study resume {args.dir})")
    return 0


def _study_report(args: argparse.Namespace) -> int:
    from ..report.html import build_report
    from .rebuild import check_complete
    from .runner import StudyDir
    from .spec import expand
    from .store import check_store

    study = StudyDir(args.dir)
    check_store(study.store_path)  # never replace good results with those of a bad store
    if not os.access(args.dir, os.W_OK):
        raise UserError(f"{args.dir}: the study directory is read-only (or not writable); the report and "
                        "results files are written into it")
    check_complete(study, expand(study.read_spec(), stored=str(study.spec_path)))  # nor with fewer runs
    out = build_report(args.dir)
    print(f"wrote {out['report']} (+ results.csv, results.json)")
    return 0


def _study_run(args: argparse.Namespace, directory: Path, spec) -> int:
    from ..report.html import build_report
    from .executors import make_executor
    from .runner import run_study

    executor = make_executor(args.executor, args.workers, args.address, args.gpus_per_run)
    if args.ensemble_size is not None and args.ensemble_size < 1:
        raise UserError("--ensemble-size must be at least 1")
    ensemble = None
    if args.ensemble or args.ensemble_size:
        ensemble = (args.ensemble or spec.ensemble.mode, args.ensemble_size or spec.ensemble.max_size)
    summary = run_study(directory, spec, executor, force_new=getattr(args, "force_new", False),
                        progress=not args.no_progress, ensemble=ensemble,
                        retry_failed=getattr(args, "retry_failed", False), compile=args.compile)
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary["status"].items(), key=lambda kv: -kv[1]))
    print(f"study {spec.name}: {summary['executed']} of {summary['runs']} runs executed in "
          f"{_duration(summary['seconds'])}; {counts or 'no runs'}")
    if summary["left_queued"]:
        print(f"ganbench: {len(summary['left_queued'])} run(s) stopped by infrastructure faults and left queued "
              f"(no result recorded); fix the cause, then: ganbench study resume {directory}", file=sys.stderr)
    if not args.no_report:
        print(f"wrote {build_report(directory)['report']}")
    return 1 if summary["left_queued"] else 0
