"""The `ganbench study` commands: run, extend, resume, confirm, report, rebuild, merge (parsed in
cli/study.py; cli/__init__.py maps errors to one line).

Each reads a study directory inside a path scope (confine.py): a spec read back from the directory may
only name data inside it, or paths the caller passes with --data-path; the caller's own spec names the
caller's paths. The API functions they call (run_study, resume_study, rebuild_store, build_report) enter
that scope themselves; a command that makes several such calls holds one scope around them all, which
the calls join.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..cli.common import json_out
from ..errors import UserError
from ..textsafe import say  # every line here may quote a stranger's study
from .plan import duration


def study_command(args: argparse.Namespace) -> int:
    """`ganbench study run|extend|resume|confirm|report|rebuild|merge`."""
    from ..confine import STUDY, reading
    from .runner import spec_paths
    from .spec import expand, load_spec, with_plugins

    if args.study_command == "rebuild":
        return _study_rebuild(args)
    if args.study_command == "merge":
        return _study_merge(args)
    if args.study_command == "verify":
        return _study_verify(args)
    if args.study_command == "confirm":
        return _study_confirm(args)
    if args.study_command == "extend":
        return _study_extend(args)
    if args.study_command in ("run", "plan"):
        spec = load_spec(args.spec)
        if args.plugin:
            spec = with_plugins(spec, args.plugin)
        if args.scale is not None:
            from .spec import scaled

            spec = scaled(spec, args.scale)
        if args.study_command == "plan":
            return _study_plan(args, spec)
        directory = args.dir or Path("studies") / spec.name
        # the caller's spec names the caller's paths, for the run and for the report after it
        consent = [*args.data_path, *spec_paths(expand(spec))]  # refuses bad specs before any worker starts
        with reading(directory, STUDY, consent):
            return _study_run(args, directory, spec)
    with reading(args.dir, STUDY, args.data_path):  # report: the completeness check and the report itself
        if args.study_command == "report":
            return _study_report(args)
        return _study_run(args, args.dir, None)


def _ensemble(args: argparse.Namespace, spec) -> tuple[str, int] | None:
    """--ensemble / --ensemble-size over the spec's ensemble block: (mode, max size), or None for the spec's."""
    if args.ensemble_size is not None and args.ensemble_size < 1:
        raise UserError("--ensemble-size must be at least 1")
    if args.ensemble or args.ensemble_size:
        return args.ensemble or spec.ensemble.mode, args.ensemble_size or spec.ensemble.max_size
    return None


def _study_plan(args: argparse.Namespace, spec) -> int:
    from ..fileio import atomic_write_text
    from .plan import describe, plan_study

    json_out(args.out, "the plan is")
    if args.probe_steps < 1:
        raise UserError(f"--probe-steps must be at least 1; got {args.probe_steps}")
    plan = plan_study(spec, args.workers, None if args.no_probe else args.probe_steps, True, args.data_path,
                      _ensemble(args, spec))
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(plan, indent=1))
    for line in describe(plan):  # a spec's names and values (a grid value is free text): one line each
        say(line)
    return 0


def _study_confirm(args: argparse.Namespace) -> int:
    """A new study: DIR's spec, budget x F, fresh seeds, DIR's verdicts to re-test (confirm.py). Only paths
    the user names (--data-path) are consented to: the spec comes from a study directory."""
    from ..confine import STUDY, reading
    from ..report.html import load_views
    from .confirm import confirmation_spec
    from .extend import check_not_half_extended
    from .rebuild import check_complete
    from .runner import StudyDir
    from .spec import expand
    from .store import Store
    from .threads import recorded

    with reading(args.dir, STUDY, args.data_path):
        origin = StudyDir(args.dir)
        check_not_half_extended(origin)  # before the views: they would read the new spec
        loaded = load_views(origin)
        check_complete(origin, expand(loaded.spec, stored=str(origin.spec_path)))  # verdicts of every run
        unfinished = [r["run_id"] for r in loaded.runs if r["status"] in ("queued", "running")]
        if unfinished:
            raise UserError(f"{args.dir}: {len(unfinished)} run(s) not finished (e.g. {unfinished[0]}); its verdicts "
                            f"are not final: ganbench study resume {args.dir}, then confirm")
        spec = confirmation_spec(loaded.spec, loaded.views, args.budget_x, args.seeds, args.first_seed)
        store = Store(origin.store_path, readonly=True)
        try:
            threads = recorded(store)  # the same recipe: its CPU thread count
        finally:
            store.close()
    directory = args.out or args.dir.parent / spec.name
    if directory.resolve() == args.dir.resolve():
        raise UserError(f"--out {directory} is the study being confirmed; the confirmation is a new study")
    target = StudyDir(directory)
    if not args.force_new and target.exists() and target.read_spec().digest() != spec.digest():  # the same one resumes
        raise UserError(f"{directory} holds another study; a confirmation is a new study: choose another --out "
                        "(or pass --force-new to replace that study)")
    say(f"confirming {len(spec.confirms.verdicts)} verdicts of study {loaded.spec.name!r} in {directory}: budget "
          f"x{args.budget_x:g}, seeds {spec.seed_list()}")
    with reading(directory, STUDY, args.data_path):
        code = _study_run(args, directory, spec, inherit_threads=threads)
        if code == 0:
            from ..report.confirmation import confirmation

            for view in load_views(StudyDir(directory)).views:
                if (found := confirmation(view)) is not None:
                    say(f"{view.name}: {found['summary']}")
    return code


def _study_extend(args: argparse.Namespace) -> int:
    """DIR's stored spec with more seeds, run in DIR with --extend (extend.py). The spec comes from the study
    directory, so only paths the user names (--data-path) are consented to, as for resume."""
    from ..confine import STUDY, reading
    from .extend import more_seeds
    from .runner import StudyDir
    from .spec import expand
    from .store import check_store

    study = StudyDir(args.dir)
    check_store(study.store_path)
    with reading(args.dir, STUDY, args.data_path):
        old = study.read_spec()
        expand(old, stored=str(study.spec_path))  # its stored plugins and paths are refused before any work
        spec = more_seeds(old, args.seeds)
        if spec is old:  # the extension itself is announced by the runner, once its checks have passed
            say(f"study {old.name!r} in {args.dir} has {args.seeds} seeds already: resuming it")
        args.extend = True
        return _study_run(args, args.dir, spec)


def _study_rebuild(args: argparse.Namespace) -> int:
    from .rebuild import rebuild_store
    from .runner import StudyDir

    study = StudyDir(args.dir)
    study.read_spec()  # a study directory, before the lock creates anything
    lock = study.lock()
    try:
        counts = rebuild_store(study, args.data_path)
    finally:
        lock.close()
    kept = f"; the old store is kept as {counts['kept'].name}" if counts["kept"] else ""
    say(f"rebuilt {study.store_path}: {counts['recovered']} finished runs recovered, {counts['queued']} "
          f"queued (continue with: ganbench study resume {args.dir}){kept}")
    if counts["reference_carried"]:
        say(f"the reference rows of {', '.join(counts['reference_carried'])} are carried from the old store "
              "(sound, and made for this same spec)")
    if counts["reference_missing"]:
        say(f"note: the reference rows (real data, trivial generators: each dataset's ceiling and floor) of "
              f"{', '.join(counts['reference_missing'])} are not kept in the runs' files and the old store could not "
              f"give them; `ganbench study resume {args.dir}` draws them again (the report has no floor until "
              "then)", file=sys.stderr)
    if counts["extensions_unknown"]:
        say(f"note: the study's record of extensions (seeds added after it had results) could not be recovered "
              f"({counts['extensions_unknown']}): the runs' own files do not hold it, and the report says whether "
              "seeds were added after a look is unknown", file=sys.stderr)
    if changed := counts["changed"]:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        say(f"note: {len(changed)} of the queued runs have results on disk for another config ({shown}): "
              f"{study.spec_path} was edited since they ran, and the store follows it; restore the file and "
              "rebuild again to keep those results", file=sys.stderr)
    return 0


def _study_merge(args: argparse.Namespace) -> int:
    from ..report.html import build_report
    from .merge import merge_studies

    counts = merge_studies(args.sources, args.out, args.name, args.link, args.data_path)
    say(f"merged {len(args.sources)} studies into {args.out}: {counts['taken']} finished runs taken, "
          f"{counts['queued']} of {counts['runs']} to train")
    if counts["threads_note"]:
        say(counts["threads_note"], file=sys.stderr)
    if len(counts["software"]) > 1:  # the report warns too, naming which variants each version made
        say(f"the finished runs were made by {len(counts['software'])} software versions: "
              f"{'; '.join(counts['software'])}", file=sys.stderr)
    if counts["queued"] or counts["uncalibrated"]:
        todo = ([f"{counts['queued']} run{'s' if counts['queued'] > 1 else ''}"] if counts["queued"] else []) + (
            [f"the reference rows of {', '.join(counts['uncalibrated'])}"] if counts["uncalibrated"] else [])
        say(f"{' and '.join(todo)} not in any source: ganbench study resume {args.out}")
        return 0
    out = build_report(args.out, args.data_path)
    say(f"wrote {out['report']} (+ results.csv, results.json)")
    return 0


def _study_verify(args: argparse.Namespace) -> int:
    """Exit 0 when every recomputed value is identical or agrees and every stored value was recomputed or
    left out for a reason the study or the options explain; 1 when one differs or cannot be checked (a
    finding, not an error)."""
    from ..confine import STUDY, reading
    from ..fileio import atomic_write_text
    from .accounting import describe
    from .verify import verify_study

    json_out(args.out, "the comparisons are")
    with reading(args.dir, STUDY, args.data_path):
        found = verify_study(args.dir, args.rows, args.runs, args.seed, reference=not args.no_reference,
                             retrain=args.retrain, workers=args.workers)
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(found, indent=1))
    c, values = found["counts"], found["values"]
    n = len(found["runs"])
    say(f"study {found['study']!r}: {found['rows']} evaluation rows of {n} run{'s' * (n != 1)} recomputed from "
          f"their checkpoints{', the reference rows drawn again' if found['reference'] else ''}, each run's choice "
          f"of best re-derived: {len(values)} values, "
          f"{c['identical']} identical, {c['agrees']} agree (within "
          f"{found['rule']['rtol']:g} relative), {c['differs']} differ")
    say(f"  stored: {describe('evaluation', found['stored']['evaluation'])}; "
        f"{describe('reference', found['stored']['reference'])}")
    if (again := found["retrained"]) is not None:
        n, groups = len(again["runs"]), again["trainings"]
        stacked = (f", each with the member-stacked group it trained in ({n} runs in {groups} group"
                   f"{'s' * (groups != 1)})") if groups < n else ""
        say(f"  trained again from their stored configs: {again['drawn']} of the {again['eligible']} runs trained "
              f"on a CPU without a compiled step{stacked} "
              f"({duration(again['seconds'])} of training); {again['identical']} of "
              f"their {again['values']} checkpoint parts (every checkpoint each ships) and final values identical")
    if (sw := found["software"])["made_by"] != [sw["verified_with"]]:  # the check is then also one of the code
        say(f"  made by {' and by '.join(sw['made_by'])}; recomputed with {sw['verified_with']}")
    for v in [v for v in values if v["verdict"] == "differs"][:20]:
        say(f"  differs: {v['run_id']} {v['checkpoint']} {v['metric']}: stored {v['stored']!r}, "
              f"recomputed {v['recomputed']!r}")
    if found["never_stored"]:
        say(f"  computed now but stored in none of the study's rows (made by a version without them, not a "
            f"deletion): {', '.join(found['never_stored'])}")
    for s in found["skipped"]:
        count = f" ({s['values']} value{'s' * (s['values'] != 1)})" if "values" in s else ""
        say(f"  not recomputed: {s['run_id']} {s['checkpoint']}{count}: {s['reason']}")
    if any(v["verdict"] == "differs" and v["device"] not in ("cpu", "") for v in values):
        say("  (some rows were evaluated on an accelerator: their last digits may differ on a CPU)")
    if found["unverified"]:
        say(f"  {found['unverified']} stored values could not be checked: the study is not verified")
    return 1 if c["differs"] or found["unverified"] else 0


def _study_report(args: argparse.Namespace) -> int:
    from ..report.html import build_report
    from .rebuild import check_readable
    from .runner import StudyDir

    check_readable(StudyDir(args.dir))
    target = args.out if args.out is not None else args.dir
    if target.resolve() != args.dir.resolve() and StudyDir(target).store_path.exists():
        raise UserError(f"--out {target} holds another study; its report would be replaced (choose another folder)")
    if target.resolve() != args.dir.resolve() and target.resolve().is_relative_to(args.dir.resolve()):
        raise UserError(f"--out {target} lies inside the study {args.dir} (a run's folder travels with it, into "
                        "merges too); write the report into the study itself (no --out) or outside it")
    if target.exists() and not target.is_dir():
        raise UserError(f"--out {target} is a file; --out names a folder for report.html, results.csv and results.json")
    if target.is_dir() and not os.access(target, os.W_OK):
        raise UserError(f"{target}: the directory is read-only (or not writable); the report and results files are "
                        "written into it" + ("; write them elsewhere with --out DIR" if args.out is None else ""))
    target.mkdir(parents=True, exist_ok=True)
    out = build_report(args.dir, args.data_path, out=target)
    say(f"wrote {out['report']} (+ results.csv, results.json)")
    return 0


def _study_run(args: argparse.Namespace, directory: Path, spec, inherit_threads: int | None = None) -> int:
    """Run the caller's ``spec``, or (None) resume the one stored in ``directory``; then the report."""
    from ..report.html import build_report
    from .executors import make_executor
    from .runner import StudyDir, resume_study, run_study
    from .spec import expand

    resuming = spec is None
    if resuming:  # its stored plugins and paths are refused before an executor (a Ray cluster) starts
        study = StudyDir(directory)
        spec = study.read_spec()
        expand(spec, stored=str(study.spec_path))
    executor = make_executor(args.executor, args.workers, args.address, args.gpus_per_run)
    ensemble = _ensemble(args, spec)
    options = {"progress": not args.no_progress, "ensemble": ensemble, "compile": args.compile,
               "retry_failed": getattr(args, "retry_failed", False)}
    # SIGTERM, like Ctrl-C (cli.main's sigterm_interrupts): the runs stop (a pool's workers too); resume goes on
    summary = (resume_study(directory, executor, **options) if resuming else
               run_study(directory, spec, executor, force_new=getattr(args, "force_new", False),
                         extend=getattr(args, "extend", False), inherit_threads=inherit_threads, **options))
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary["status"].items(), key=lambda kv: -kv[1]))
    say(f"study {spec.name}: {summary['executed']} of {summary['runs']} runs executed in "
          f"{duration(summary['seconds'])}; {counts or 'no runs'}")
    if summary["left_queued"]:
        say(f"ganbench: {len(summary['left_queued'])} run(s) stopped by infrastructure faults and left queued "
              f"(no result recorded); fix the cause, then: ganbench study resume {directory}", file=sys.stderr)
    if not args.no_report:
        say(f"wrote {build_report(directory)['report']}")
    return 1 if summary["left_queued"] else 0
