"""`ganbench train` (one GAN from a YAML file and/or flags) and `ganbench ensemble` (several as one stack)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from ..textsafe import say
from .common import CAPTURE_MODES, data_path_flag, parse_assignment, yaml_value

# flag -> config key; values pass through the config's validation like YAML values do
TRAIN_FLAGS = {
    "data": str, "generator": str, "discriminator": str, "loss": str, "steps": int, "seed": int,
    "batch_size": int, "z_dim": int, "n_dis": int, "lr_g": float, "lr_d": float, "pack": int,
    "log_every": int, "ckpt_every": int, "device": str, "amp": str,
}


def add_parsers(sub) -> None:
    t = sub.add_parser("train", help="train one GAN", description="Train one GAN from a YAML file and/or flags.")
    t.add_argument("--config", type=Path, help="YAML run config; flags override it")
    for key, typ in TRAIN_FLAGS.items():
        t.add_argument("--" + key.replace("_", "-"), dest=key, type=typ, default=None)
    t.add_argument("--reg", action="append", default=None, metavar="NAME[:K=V,...]",
                   help="add a regularizer to the config's (repeatable): gp, r1:gamma=5, clip:limit=0.01, "
                        "dragan; a name the config already has gets these options instead; 'none' clears them")
    t.add_argument("--ema", type=yaml_value, default=None, help="EMA decay of G (e.g. 0.999) or 'null' for off")
    t.add_argument("--tensorboard", action="store_true", default=None, help="also write TensorBoard scalars")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, dotted for options: --set discriminator.norm=spectral")
    t.add_argument("--out", type=Path, help="run directory (default runs/<config hash>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    data_path_flag(t, "run")
    t.add_argument("--overwrite", action="store_true", help="replace whatever run --out holds")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--compile", choices=CAPTURE_MODES, default="none",
                   help="compile the training step's tensor work (passes, losses, Adam, EMA) with torch.compile "
                        "(none = the exact eager step; falls back to eager with one line where compiling is not "
                        "possible)")
    t.set_defaults(handler=cmd_train)

    e = sub.add_parser("ensemble", help="train several runs of equal network shapes as one stacked model",
                       description="Train the runs of several YAML configs (equal networks and data; they may "
                                   "differ in seed, learning rates, betas, EMA decay, regularizer weights) as one "
                                   "member-stacked model; each writes the run directory OUT_DIR/<config name>. "
                                   "One config trains as `ganbench train` does (no stack).")
    e.add_argument("configs", type=Path, nargs="+", help="YAML run configs, one per member")
    e.add_argument("--out-dir", type=Path, required=True, help="parent of the members' run directories")
    e.add_argument("--resume", action="store_true", help="continue the members from their last common checkpoint")
    e.add_argument("--overwrite", action="store_true", help="replace whatever the members' directories hold")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--compile", choices=CAPTURE_MODES, default="none",
                   help="compile the (stacked) training step with torch.compile (see ganbench train --compile)")
    e.set_defaults(handler=cmd_ensemble)


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


def cmd_train(args: argparse.Namespace) -> int:
    from ..api import train
    from ..config import make_config, read_yaml
    from ..training.rundir import RunDir

    typed = read_yaml(args.config) if args.config else {}
    stored = args.resume and args.out is not None and RunDir(args.out).exists()
    if args.resume and args.out is not None and not stored:
        if not args.config:  # nothing to continue and no recipe given: a mistyped --out would train the defaults
            raise UserError(f"--resume: {args.out} holds no run to continue (no config.yaml); check --out, or "
                            "drop --resume and give a --config to start one")
        print(f"ganbench: {args.out} holds no run yet; starting it from {args.config}", file=sys.stderr)
    # continuing the stored run: its config is the base, and the caller's --config and flags may change steps etc.
    base = {**RunDir(args.out).read_config().model_dump(mode="json"), **typed} if stored else typed
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
    if args.out is not None:
        _not_trained_elsewhere(args.out)
    # SIGTERM, like Ctrl-C, leaves status.json = interrupted (cli.main sets sigterm_interrupts)
    if stored:  # the API confines the stored config to --out; the paths the caller typed are the caller's
        result = train(None, args.out, resume=True, overwrite=args.overwrite, progress=not args.no_progress,
                       compile=args.compile, changes={**typed, **overrides},
                       data_paths=[*args.data_path, *_typed_paths(typed, overrides)])
    else:
        result = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite,
                       progress=not args.no_progress, compile=args.compile)
    if result.status != "done":
        say(f"ganbench: run {result.status}: {result.message}", file=sys.stderr)
        return 1
    print(f"done: {result.step} steps in {result.wall_s:.1f}s -> {result.out}")
    return 0


def _not_trained_elsewhere(out: Path) -> None:
    """Refuse a run directory that another live process of this machine is training now. (A study's retry of
    a run runs in the driver's own workers through the API, never through here.)"""
    from ..training.rundir import RunDir

    if (owner := RunDir(out).trained_elsewhere()) is not None:
        raise UserError(f"{out} is being trained now by process {owner} on this machine (its status.json: "
                        "running); two processes would overwrite each other's checkpoints: wait for it to end, "
                        "or stop it (Ctrl-C or SIGTERM leaves it resumable) and run this again")


def _typed_paths(base: dict, overrides: dict) -> list[str]:
    """The path options of the config the caller typed (its own --config and flags, without the stored run)."""
    from ..config import make_config
    from ..confine import config_paths

    try:
        return [value for _, value in config_paths(make_config(base, overrides))]
    except UserError:  # a partial config that only makes sense over the stored one names no path of its own
        return []


def cmd_ensemble(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..training.loop import train_group

    names = [p.stem for p in args.configs]
    if len(set(names)) != len(names):
        raise UserError("two configs have the same file name; their run directories would collide")
    cfgs = [load_config(p) for p in args.configs]
    for n in names:
        _not_trained_elsewhere(args.out_dir / n)
    from ..training.rundir import RunDir

    if args.resume and not any(RunDir(args.out_dir / n).exists() for n in names):
        print(f"ganbench: {args.out_dir} holds none of these runs yet; starting them", file=sys.stderr)

    # SIGTERM, like Ctrl-C, leaves every member's status.json = interrupted (cli.main sets sigterm_interrupts)
    results = train_group(cfgs, [args.out_dir / n for n in names], resume=args.resume,
                          overwrite=args.overwrite, progress=not args.no_progress,
                          stacked=len(cfgs) > 1, compile=args.compile)  # one config: the plain trainer
    for r in results:
        say(f"{r.status}: {r.step} steps -> {r.out}" + (f" ({r.message})" if r.message else ""))
    return 0 if all(r.status == "done" for r in results) else 1
