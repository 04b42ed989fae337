"""`ganbench study plan|run|extend|resume|confirm|report|rebuild|merge|verify`: parsed here, carried out by study/commands.py."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import CAPTURE_MODES, data_path_flag


def add_parsers(sub) -> None:
    st = sub.add_parser("study", help="comparison studies: plan, run, extend, resume, confirm, report, rebuild, "
                                      "merge, verify")
    st.set_defaults(handler=cmd_study)
    ss = st.add_subparsers(dest="study_command", required=True)
    sr = ss.add_parser("run", help="run a study spec (resumes an existing study directory)")
    sr.add_argument("spec", type=Path, help="study YAML, e.g. presets/quick.yaml")
    sr.add_argument("--dir", type=Path, default=None, help="study directory (default studies/<name>)")
    sr.add_argument("--force-new", action="store_true", help="replace a study directory holding another spec")
    sr.add_argument("--scale", type=float, default=None, metavar="F",
                    help="a first look, 0 < F <= 1: budgets (steps or seconds) x F, seeds x F (at least 3, or all "
                         "of them when the spec has fewer); "
                         "the study is named NAME-xF")
    sr.add_argument("--extend", action="store_true",
                    help="DIR holds a study that SPEC only adds seeds, variants or datasets to: keep its runs, run "
                         "the new ones (the report notes when seeds were added after results existed)")
    pl = ss.add_parser("plan", help="check a study spec and estimate its time and disk on this machine, without "
                                    "starting it (times a few steps of each recipe)")
    pl.add_argument("spec", type=Path, help="study YAML, e.g. presets/quick.yaml")
    pl.add_argument("--scale", type=float, default=None, metavar="F", help="plan the spec as `study run --scale F` runs it")
    pl.add_argument("--workers", type=int, default=None, help="pool workers the estimate assumes (default: one per core)")
    pl.add_argument("--probe-steps", type=int, default=20, metavar="K",
                    help="training steps timed per recipe, after as many warm-up steps (default 20)")
    pl.add_argument("--no-probe", action="store_true", help="only the checks, the runs and the verdicts' reach")
    pl.add_argument("--out", type=Path, default=None, help="also write the plan to this .json file")
    ex = ss.add_parser("extend", help="give the study in DIR more seeds, keeping the runs it has")
    ex.add_argument("dir", type=Path)
    ex.add_argument("--seeds", type=int, required=True, metavar="N",
                    help="seeds in all (more than it has); the new ones follow its largest")
    rs = ss.add_parser("resume", help="continue the study in DIR from where it stopped")
    rs.add_argument("dir", type=Path)
    rs.add_argument("--retry-failed", action="store_true", help="queue the runs recorded as failed again")
    cf = ss.add_parser("confirm", help="re-test a finished study's verdicts: its spec trained longer on fresh "
                                       "seeds, as a new study whose report says which orders survive and which "
                                       "significant verdicts a one-sided re-test confirms (Holm per dataset)")
    cf.add_argument("dir", type=Path, help="the finished study directory whose verdicts are re-tested")
    cf.add_argument("--budget-x", type=float, default=3.0, metavar="F",
                    help="the budget (and evaluation interval) times F (default 3)")
    cf.add_argument("--seeds", type=int, default=None, metavar="N",
                    help="fresh seeds, after the study's own (default: as many as it has)")
    cf.add_argument("--first-seed", type=int, default=None, metavar="S",
                    help="the first fresh seed (default: the one after the study's largest); a second "
                         "confirmation of the same study starts past the first's seeds")
    cf.add_argument("--out", type=Path, default=None,
                    help="the new study's directory (default: next to DIR, named NAME-confirm-xF)")
    cf.add_argument("--force-new", action="store_true", help="replace a directory holding another spec")
    for p in (sr, ex, rs, cf, pl):
        p.add_argument("--ensemble", choices=["auto", "on", "off"], default=None,
                       help="train runs of equal network shapes together as one stacked model (default: the "
                            "spec's ensemble.mode, auto = on an accelerator only)")
        p.add_argument("--ensemble-size", type=int, default=None, help="most runs in one stacked group")
    for p in (sr, ex, rs, cf):
        p.add_argument("--executor", default="pool", choices=["pool", "inprocess", "ray"],
                       help="pool: worker processes (default); inprocess: one run at a time in this process; "
                            "ray: a Ray cluster")
        p.add_argument("--workers", type=int, default=None, help="pool workers (default: one per core)")
        p.add_argument("--address", default=None, help="Ray cluster HOST:PORT (default: RAY_ADDRESS or local)")
        p.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray: GPUs reserved per run")
        p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
        p.add_argument("--compile", choices=CAPTURE_MODES, default=None,
                       help="torch.compile mode of the training step (default: the spec's compile, none); recorded "
                            "in the report's protocol, not part of the study's identity")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
    rp = ss.add_parser("report", help="write report.html, results.csv and results.json for a study")
    rp.add_argument("dir", type=Path)
    rp.add_argument("--out", type=Path, default=None,
                    help="write the files into this folder instead (DIR is then only read: a study on read-only "
                         "media, or someone else's)")
    rb = ss.add_parser("rebuild", help="a fresh study.sqlite from spec.yaml and the runs' own result files")
    rb.add_argument("dir", type=Path)
    mg = ss.add_parser("merge", help="join studies of one recipe, budget and evaluation (other seeds, variants or "
                                     "datasets) into a new study with one report")
    mg.add_argument("sources", type=Path, nargs="+", metavar="SRC", help="study directories, two or more")
    mg.add_argument("--out", type=Path, required=True, help="the merged study's directory (new or empty)")
    mg.add_argument("--name", default=None, help="the merged study's name (default: the --out folder's name)")
    mg.add_argument("--link", action="store_true",
                    help="hard-link the runs' files instead of copying them (same file system; saves the space, "
                         "but the sources' finished runs must then stay untouched)")
    vf = ss.add_parser("verify", help="recompute a study's stored evaluations from its runs' checkpoints and compare "
                                      "them value by value (the study is only read)")
    vf.add_argument("dir", type=Path)
    vf.add_argument("--rows", choices=["headline", "all"], default="headline",
                    help="headline: each run's final and held-out best evaluation (what the verdicts rest on); "
                         "all: every stored evaluation whose checkpoint was kept")
    vf.add_argument("--runs", type=int, default=None, metavar="K", help="K finished runs drawn at random (default all)")
    vf.add_argument("--seed", type=int, default=0, help="seed of that draw")
    vf.add_argument("--no-reference", action="store_true",
                    help="skip the reference rows (real data, trivial generators), drawn again per dataset and seed")
    vf.add_argument("--retrain", type=int, default=0, metavar="K",
                    help="also train K finished runs again from their stored configs (drawn at random with --seed "
                         "among those trained on a CPU without a compiled step; a run that trained in a member-stacked group "
                         "trains again with its group; each takes as long as it took) and compare "
                         "every checkpoint they ship tensor by tensor and their final evaluations value by value")
    vf.add_argument("--workers", type=int, default=None,
                    help="processes checking runs at once, one run (or one dataset's reference rows) each; every "
                         "value is recomputed with the thread count it records, so the verdicts do not depend on it "
                         "(default one per core; 1: in this process)")
    vf.add_argument("--out", type=Path, default=None, help="also write every comparison to this .json file")
    for p in (sr, pl, ex, rs, cf, rp, rb, mg, vf):
        data_path_flag(p, "study")


def cmd_study(args: argparse.Namespace) -> int:
    from ..study.commands import study_command

    return study_command(args)
