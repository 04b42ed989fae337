"""`ganbench` command line: train, sample, list.

User errors print one line ``ganbench: error: ...`` and exit with code 2; no tracebacks.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError

# training/capture.py MODES, here without importing torch (a test keeps them equal)
CAPTURE_MODES = ("none", "default", "reduce-overhead", "max-autotune")

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def deco(fn):
        COMMANDS[name] = fn
        return fn

    return deco


def _yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise UserError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    return key.strip(), _yaml_value(value)


def parse_component(text: str) -> dict:
    """'gp' or 'gp:weight=5,every=2' -> {'name': 'gp', 'weight': 5, 'every': 2}."""
    name, _, rest = text.partition(":")
    spec = {"name": name}
    for item in filter(None, rest.split(",")):
        spec.update([parse_assignment(item)])
    return spec


def merge_regularizers(current, flags: list[str]) -> list[dict]:
    """``--reg`` adds to the config's regularizers: a new name is appended, a name already there gets
    the flag's options instead of its own; ``--reg none`` clears the list (later flags add again)."""
    regs = [r if isinstance(r, dict) else {"name": r} for r in
            (current if isinstance(current, list) else [current] if current else [])]
    for text in flags:
        if text.strip() == "none":
            regs = []
            continue
        spec = parse_component(text)
        regs = [r for r in regs if r.get("name") != spec["name"]] + [spec]
    return regs


# flag -> config key; values pass through the config's validation like YAML values do
TRAIN_FLAGS = {
    "data": str, "generator": str, "discriminator": str, "loss": str, "steps": int, "seed": int,
    "batch_size": int, "z_dim": int, "n_dis": int, "lr_g": float, "lr_d": float, "pack": int,
    "log_every": int, "ckpt_every": int, "device": str, "amp": str,
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line like every other user error (the usage is behind --help)."""

    def error(self, message: str):
        self.exit(2, f"ganbench: error: {message} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ganbench", description="Compare GANs fairly.")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first (it registers its own components)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one GAN", description="Train one GAN from a YAML file and/or flags.")
    t.add_argument("--config", type=Path, help="YAML run config; flags override it")
    for key, typ in TRAIN_FLAGS.items():
        t.add_argument("--" + key.replace("_", "-"), dest=key, type=typ, default=None)
    t.add_argument("--reg", action="append", default=None, metavar="NAME[:K=V,...]",
                   help="add a regularizer to the config's (repeatable): gp, r1:gamma=5, clip:limit=0.01, "
                        "dragan; a name the config already has gets these options instead; 'none' clears them")
    t.add_argument("--ema", type=_yaml_value, default=None, help="EMA decay of G (e.g. 0.999) or 'null' for off")
    t.add_argument("--tensorboard", action="store_true", default=None, help="also write TensorBoard scalars")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, dotted for options: --set discriminator.norm=spectral")
    t.add_argument("--out", type=Path, help="run directory (default runs/<config hash>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    _data_path_flag(t, "run")
    t.add_argument("--overwrite", action="store_true", help="replace whatever run --out holds")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--compile", choices=CAPTURE_MODES, default="none",
                   help="compile the training step's tensor work (passes, losses, Adam, EMA) with torch.compile "
                        "(none = the exact eager step; falls back to eager with one line where compiling is not "
                        "possible)")

    e = sub.add_parser("ensemble", help="train several runs of equal network shapes as one stacked model",
                       description="Train the runs of several YAML configs (equal networks and data; they may "
                                   "differ in seed, learning rates, betas, EMA decay, regularizer weights) as one "
                                   "member-stacked model; each writes the run directory OUT_DIR/<config name>.")
    e.add_argument("configs", type=Path, nargs="+", help="YAML run configs, one per member")
    e.add_argument("--out-dir", type=Path, required=True, help="parent of the members' run directories")
    e.add_argument("--resume", action="store_true", help="continue the members from their last common checkpoint")
    e.add_argument("--overwrite", action="store_true", help="replace whatever the members' directories hold")
    e.add_argument("--no-progress", action="store_true")
    e.add_argument("--compile", choices=CAPTURE_MODES, default="none",
                   help="compile the stacked training step with torch.compile (see ganbench train --compile)")

    s = sub.add_parser("sample", help="draw samples from a trained run into a PNG or an .npz file")
    s.add_argument("run", type=Path, help="run directory or checkpoint file")
    s.add_argument("--n", type=int, default=None, help="number of samples (default 64; 2000 for 2-D data)")
    s.add_argument("--out", type=Path, default=Path("samples.png"),
                   help=".png: an image grid (a scatter plot for 2-D data); .npz: the samples as arrays "
                        "(x: float NCHW images in [-1, 1] or (N, D) points; y: the classes asked for), "
                        "readable by `ganbench metrics`")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA")
    s.add_argument("--class", dest="label", type=int, default=None, help="class-conditional runs: this class only")
    _data_path_flag(s, "run")

    e = sub.add_parser("eval", help="evaluate a run's checkpoints; writes RUN/eval.json")
    e.add_argument("run", type=Path, help="run directory")
    e.add_argument("--metrics", type=_names, default=None, help="comma-separated (default: all that apply)")
    e.add_argument("--extractor", default=None, help="lenet | inception | points (default: lenet for images)")
    e.add_argument("--n", type=int, default=None, help="fake samples (default 2000 images, 2500 points)")
    e.add_argument("--checkpoint", default="final", help="best | final | all")
    e.add_argument("--split", default="train", choices=["train", "test"], help="real data split")
    e.add_argument("--seed", type=int, default=0, help="sampling seed")
    e.add_argument("--no-ema", action="store_true", help="evaluate the raw generator, not its EMA")
    e.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"],
                   help="where to generate and extract features (metrics themselves run on the CPU)")
    _data_path_flag(e, "run")

    m = sub.add_parser("metrics", help="compare two sample sets (image folders or .npz arrays)")
    m.add_argument("--real", type=Path, required=True)
    m.add_argument("--fake", type=Path, required=True)
    m.add_argument("--metrics", type=_names, default=None, help="comma-separated (default: fid,kid,prdc)")
    m.add_argument("--extractor", default=None, help="inception (default for images) | lenet | points")
    m.add_argument("--dataset", default=None, help="dataset the lenet extractor is trained on, e.g. digits")
    m.add_argument("--out", type=Path, default=None, help="also write the results to this JSON file")
    m.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"], help="feature extraction device")

    st = sub.add_parser("study", help="comparison studies: run, resume, report")
    ss = st.add_subparsers(dest="study_command", required=True)
    sr = ss.add_parser("run", help="run a study spec (resumes an existing study directory)")
    sr.add_argument("spec", type=Path, help="study YAML, e.g. presets/quick.yaml")
    sr.add_argument("--dir", type=Path, default=None, help="study directory (default studies/<name>)")
    sr.add_argument("--force-new", action="store_true", help="replace a study directory holding another spec")
    sr.add_argument("--scale", type=float, default=None, metavar="F",
                    help="a first look: budgets x F, seeds x F (at least 3); the study is named NAME-xF")
    rs = ss.add_parser("resume", help="continue the study in DIR from where it stopped")
    rs.add_argument("dir", type=Path)
    rs.add_argument("--retry-failed", action="store_true", help="queue the runs recorded as failed again")
    for p in (sr, rs):
        p.add_argument("--executor", default="pool", choices=["pool", "inprocess", "ray"])
        p.add_argument("--workers", type=int, default=None, help="pool workers (default: one per core)")
        p.add_argument("--address", default=None, help="Ray cluster HOST:PORT (default: RAY_ADDRESS or local)")
        p.add_argument("--gpus-per-run", type=float, default=0.0, help="Ray: GPUs reserved per run")
        p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
        p.add_argument("--ensemble", choices=["auto", "on", "off"], default=None,
                       help="train runs of equal network shapes together as one stacked model (default: the "
                            "spec's ensemble.mode, auto = on an accelerator only)")
        p.add_argument("--ensemble-size", type=int, default=None, help="most runs in one stacked group")
        p.add_argument("--compile", choices=CAPTURE_MODES, default=None,
                       help="torch.compile mode of the training step (default: the spec's compile, none); recorded "
                            "in the report's protocol, not part of the study's identity")
        p.add_argument("--no-progress", action="store_true")
    rp = ss.add_parser("report", help="write report.html, results.csv and results.json for a study")
    rp.add_argument("dir", type=Path)
    rb = ss.add_parser("rebuild", help="a fresh study.sqlite from spec.yaml and the runs' own result files")
    rb.add_argument("dir", type=Path)
    for p in (sr, rs, rp, rb):
        _data_path_flag(p, "study")

    d = sub.add_parser("data", help="datasets: fetch MNIST / Fashion-MNIST into the cache")
    ds = d.add_subparsers(dest="data_command", required=True)
    df = ds.add_parser("fetch", help="find, verify and cache a dataset")
    df.add_argument("name", choices=["mnist", "fashion-mnist"])
    df.add_argument("--path", default=None, help="a folder holding the four idx files (raw or .gz)")
    df.add_argument("--offline", action="store_true", help="do not try the web mirrors")
    dx = ds.add_parser("export", help="write a dataset's samples to an .npz file (e.g. the real side of `metrics`)")
    dx.add_argument("name", help="a dataset name, e.g. digits")
    dx.add_argument("--split", default="test", choices=["train", "test"])
    dx.add_argument("--n", type=int, default=None, help="the first N samples (default: all)")
    dx.add_argument("--out", type=Path, required=True, help="an .npz file: x (float NCHW in [-1, 1] or points), y")

    dp = ds.add_parser("prepare", help="train and cache a dataset's LeNet classifier now (carry GANBENCH_CACHE "
                                       "to another machine to skip it there)")
    dp.add_argument("name", help="a labelled image dataset, e.g. mnist or stacked-mnist (its MNIST classifier)")

    sub.add_parser("list", help="list every registered component with its options")
    return parser


def _data_path_flag(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("--data-path", action="append", default=[], metavar="PATH",
                   help=f"read PATH although it lies outside the {kind} directory whose stored config names it "
                        "(e.g. your own data.path); repeatable. Paths in files you pass yourself need no flag")


def _run_root(path: Path) -> Path:
    """The run directory a `sample` argument (a run, or one of its checkpoint files) belongs to."""
    if path.is_dir():
        return path
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    from .api import train
    from .config import make_config, read_yaml

    base = read_yaml(args.config) if args.config else {}
    if args.resume and args.out is not None:
        from .training.rundir import RunDir

        stored = RunDir(args.out)
        if stored.exists():  # continue the stored run: its config is the base, flags may change steps etc.
            base = {**stored.read_config().model_dump(mode="json"), **base}
    overrides: dict[str, Any] = {k: getattr(args, k) for k in TRAIN_FLAGS if getattr(args, k) is not None}
    if args.reg is not None:
        overrides["regularizers"] = merge_regularizers(base.get("regularizers"), args.reg)
    if args.ema is not None:
        overrides["ema"] = args.ema
    if args.tensorboard:
        overrides["tensorboard"] = True
    if args.plugin:
        overrides["plugins"] = sorted(set(base.get("plugins", [])) | set(args.plugin))
    overrides.update(parse_assignment(a) for a in args.set)
    cfg = make_config(base, overrides)
    if args.dry_run:
        print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
        return 0
    from .confine import check_config, confined
    from .training.interrupt import sigterm_interrupts

    scope = nullcontext()
    if args.resume and args.out is not None:  # the stored config is data; the caller's flags and --config are not
        typed = _typed_paths(read_yaml(args.config) if args.config else {}, overrides)
        scope = confined(args.out, "run directory", [*args.data_path, *typed])
    with scope, sigterm_interrupts():  # SIGTERM, like Ctrl-C, leaves status.json = interrupted
        check_config(cfg)
        result = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress,
                       compile=args.compile)
    if result.status != "done":
        print(f"ganbench: run {result.status}: {result.message}", file=sys.stderr)
        return 1
    print(f"done: {result.step} steps in {result.wall_s:.1f}s -> {result.out}")
    return 0


def _typed_paths(base: dict, overrides: dict) -> list[str]:
    """The path options of the config the caller typed (its own --config and flags, without the stored run)."""
    from .config import make_config
    from .confine import config_paths

    try:
        return [value for _, value in config_paths(make_config(base, overrides))]
    except UserError:  # a partial config that only makes sense over the stored one names no path of its own
        return []


@command("ensemble")
def cmd_ensemble(args: argparse.Namespace) -> int:
    from .config import load_config
    from .training.loop import train_group

    names = [p.stem for p in args.configs]
    if len(set(names)) != len(names):
        raise UserError("two configs have the same file name; their run directories would collide")
    cfgs = [load_config(p) for p in args.configs]
    from .training.interrupt import sigterm_interrupts

    with sigterm_interrupts():  # SIGTERM, like Ctrl-C, leaves every member's status.json = interrupted
        results = train_group(cfgs, [args.out_dir / n for n in names], resume=args.resume,
                              overwrite=args.overwrite, progress=not args.no_progress, stacked=True,
                              compile=args.compile)
    for r in results:
        print(f"{r.status}: {r.step} steps -> {r.out}" + (f" ({r.message})" if r.message else ""))
    return 0 if all(r.status == "done" for r in results) else 1


@command("sample")
def cmd_sample(args: argparse.Namespace) -> int:
    if args.n is not None and args.n < 1:
        raise UserError("--n must be at least 1")
    kind = args.out.suffix.lower()
    if kind not in (".png", ".npz"):
        raise UserError(f"--out {args.out}: write .png (a picture) or .npz (arrays); got '{kind or 'no extension'}'")
    from .confine import confined

    with confined(_run_root(args.run), "run directory", args.data_path):
        return _sample(args, kind)


def _sample(args: argparse.Namespace, kind: str) -> int:
    from .api import class_labels, generate, load_generator
    from .plots import save_grid, save_scatter

    G = load_generator(args.run, ema=not args.no_ema)
    if kind == ".npz":
        from .fileio import atomic_save_npz

        n = args.n or (64 if len(G.data_shape) == 3 else 2000)
        labels = class_labels(G, n, args.label)
        arrays = {"x": generate(G, n, seed=args.seed, labels=labels).float().cpu().numpy()}
        if labels is not None:
            arrays["y"] = labels.cpu().numpy()
        atomic_save_npz(arrays, args.out)
    elif len(G.data_shape) == 3:
        n = args.n or 64
        from .data.base import standard_pixels

        save_grid(standard_pixels(generate(G, n, seed=args.seed, labels=class_labels(G, n, args.label)),
                                  G.config.data), args.out)
    else:
        from .data import load_dataset

        data = load_dataset(G.config.data, "test")
        pts = generate(G, args.n or 2000, seed=args.seed)
        save_scatter(pts[:, :2], args.out, data.modes, title=f"{G.config.data['name']}, step {G.step}")
    print(f"wrote {args.out}")
    return 0


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


@command("eval")
def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_run

    if args.n is not None and args.n > 1_000_000:  # far past any protocol; a typo that would fill the memory
        raise UserError(f"--n {args.n} is more than 1,000,000 samples; metrics are stable at 10,000-50,000")
    if args.n is not None and args.n < 2:
        raise UserError("--n must be at least 2")
    from .confine import confined

    with confined(args.run, "run directory", args.data_path):
        result = evaluate_run(args.run, args.metrics, args.extractor, args.n, args.checkpoint, args.split, args.seed,
                              ema=not args.no_ema, device=args.device)
    for row in result["results"]:
        tags = f" [{', '.join(row['tags'])}]" if row["tags"] else ""
        print(f"{row['checkpoint']}{tags}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in row["metrics"].items()))
    p = result["results"][-1]["protocol"]
    print(f"protocol: {p['dataset']['name']}/{p['split']}, n_real={p['n_real']}, n_fake={p['n_fake']}, "
          f"extractor={p['extractor']} -> {args.run / 'eval.json'} (beside other protocols, as '{result['key']}')")
    return 0


@command("metrics")
def cmd_metrics(args: argparse.Namespace) -> int:
    from .data.arrays import read_samples
    from .evaluate import _extract
    from .fileio import atomic_write_text
    from .metrics.features import build_extractor, check_fits
    from .metrics.suite import Context, check_names, compute

    real, fake = read_samples(args.real), read_samples(args.fake)
    if real.shape[1:] != fake.shape[1:]:
        raise UserError(f"real and fake samples differ in shape: {tuple(real.shape[1:])} vs {tuple(fake.shape[1:])}")
    name = args.extractor or ("points" if real.dim() == 2 else "inception")
    check_fits(name, "points" if real.dim() == 2 else "images")
    check_names(args.metrics)
    from .training.build import resolve_device

    ext = build_extractor(name, {"name": args.dataset} if args.dataset else None, resolve_device(args.device))
    r, f = _extract(ext, real, "real features"), _extract(ext, fake, "fake features")
    values = compute(args.metrics or ["fid", "kid", "prdc"], r, f, Context())
    out = {"metrics": values, "protocol": {"real": str(args.real), "fake": str(args.fake), "n_real": len(real),
                                           "n_fake": len(fake), "extractor": ext.identity}}
    text = json.dumps(out, indent=1)
    if args.out:
        atomic_write_text(args.out, text)
    print(text)
    return 0


@command("study")
def cmd_study(args: argparse.Namespace) -> int:
    from .study.commands import study_command

    return study_command(args)


@command("data")
def cmd_data(args: argparse.Namespace) -> int:
    from .data.mnist import fetch

    if args.data_command == "export":
        from .config import make_config
        from .data import load_dataset
        from .fileio import atomic_save_npz

        if args.out.suffix.lower() != ".npz":
            raise UserError(f"--out {args.out}: data export writes .npz files")
        if args.n is not None and args.n < 1:
            raise UserError("--n must be at least 1")
        data = load_dataset(make_config({"data": args.name}).data, args.split)
        arrays = {"x": data.x[:args.n].float().numpy()}
        if data.y is not None:
            arrays["y"] = data.y[:args.n].numpy()
        atomic_save_npz(arrays, args.out)
        print(f"wrote {len(arrays['x'])} {args.name}/{args.split} samples to {args.out}")
        return 0
    if args.data_command == "prepare":
        from .config import make_config
        from .metrics.features import build_extractor

        ext = build_extractor("lenet", make_config({"data": args.name}).data)
        lenet = getattr(ext, "inner", ext)  # stacked-mnist: its per-channel MNIST classifier
        took = f" in {lenet.meta['train_seconds']} s" if "train_seconds" in lenet.meta else ""
        print(f"{lenet.identity}: test accuracy {100 * lenet.meta['test_accuracy']:.2f} %, trained with torch "
              f"{lenet.meta.get('torch', '?')}{took}; cached at {lenet.cache_path}")
        return 0
    folder = fetch(args.name, args.path, offline=args.offline or None)
    print(f"{args.name}: verified idx files in {folder}")
    return 0


@command("list")
def cmd_list(args: argparse.Namespace) -> int:
    from .registry import ALL, load_components

    load_components()
    for kind, registry in ALL.items():
        print(f"{kind}:")
        for entry in registry:
            opts = entry.option_help()
            tag = " [conditional]" if "num_classes" in entry.accepts else ""
            print(f"  {entry.name:<13} {entry.description}{tag}" + (f"\n  {'':<13} options: {opts}" if opts else ""))
    from .metrics.features import EXTRACTORS
    from .metrics.suite import METRICS

    print("metrics:")
    for name, m in METRICS.items():
        print(f"  {name:<13} {m.description}")
    print("extractors:")
    for name, (_, description) in EXTRACTORS.items():
        print(f"  {name:<13} {description}")
    return 0


# errno -> what the user can do about it
_OS_HINTS = {
    errno.ENOSPC: "the disk is full; free space and run the command again (add --resume to continue a run)",
    errno.EDQUOT: "the disk quota is exhausted; free space and run the command again",
    errno.EACCES: "permission denied; check its permissions or choose another path",
    errno.EPERM: "operation not permitted; check its permissions or choose another path",
    errno.EROFS: "the file system is read-only; choose a writable path",
    errno.ENOENT: "no such file or directory; check the path",
    errno.EISDIR: "it is a directory; give a file path",
    errno.ENOTDIR: "a part of the path is a file, not a directory; check the path",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop); fix or remove the link",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EEXIST: "it exists and is not a directory (a file, or a symlink loop); choose another path",
    errno.EIO: "an input/output error (failing disk or network file system); check the device and retry",
}


def describe_error(exc: BaseException) -> str | None:
    """One line for an error the user can cause or fix, naming the file where known; None for a bug."""
    import json as _json
    import sqlite3
    import zipfile

    from safetensors import SafetensorError

    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        where = exc.filename if exc.filename is not None else "file system"
        hint = _OS_HINTS.get(exc.errno, exc.strerror or str(exc))
        return f"{where}: {hint}"
    if isinstance(exc, _json.JSONDecodeError):
        return f"a JSON file is not valid ({exc}); restore or delete it"
    if isinstance(exc, UnicodeDecodeError):
        return f"a text file is not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8"
    if isinstance(exc, yaml.YAMLError):
        return f"a YAML file is not valid ({str(exc).splitlines()[0]})"
    if isinstance(exc, SafetensorError):
        return f"a checkpoint or cache file is not readable safetensors ({exc}); delete or restore it"
    if isinstance(exc, zipfile.BadZipFile):
        return f"an .npz file is not a valid zip archive ({exc})"
    if type(exc) is sqlite3.DatabaseError or isinstance(exc, sqlite3.OperationalError):  # not a bug's IntegrityError
        return (f"the study store could not be read or written ({exc}); check the disk, then "
                "`ganbench study rebuild DIR` re-reads finished runs into a fresh store")
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)):
        return "out of memory; use smaller sizes (batch, --n, resolution) or a larger machine"
    try:
        from PIL import Image, UnidentifiedImageError

        if isinstance(exc, Image.DecompressionBombError):
            return f"an image is too large to decode safely ({exc})"
        if isinstance(exc, UnidentifiedImageError):
            return f"an image file cannot be read ({exc})"
    except ImportError:
        pass
    return None


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag already said in one line
        return exc.code if isinstance(exc.code, int) else 2
    try:
        if args.plugin:
            from .plugins import import_plugins

            import_plugins(args.plugin)
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("ganbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001  (the one place user errors become one line)
        line = describe_error(exc)
        if line is None or args.debug:
            raise
        print(f"ganbench: error: {' '.join(line.split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
