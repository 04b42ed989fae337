"""`ganbench sample`, `eval` and `metrics`: draw samples from a trained run, and measure samples."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from ..errors import UserError
from ..textsafe import say
from .common import data_path_flag, json_out, names, sample_count, seed


def add_parsers(sub) -> None:
    s = sub.add_parser("sample", help="draw samples from a trained run into a PNG or an .npz file")
    s.add_argument("run", type=Path, help="run directory or checkpoint file")
    s.add_argument("--n", type=sample_count, default=None, help="number of samples (default 64; 2000 for 2-D data)")
    s.add_argument("--out", type=Path, default=Path("samples.png"),
                   help=".png: an image grid (a scatter plot for 2-D data); .npz: the samples as arrays "
                        "(x: float NCHW images in [-1, 1] or (N, D) points; y: the classes asked for), "
                        "readable by `ganbench metrics`")
    s.add_argument("--seed", type=seed, default=0, help="sampling seed")
    s.add_argument("--no-ema", action="store_true", help="use the raw generator, not its EMA")
    s.add_argument("--class", dest="label", type=int, default=None, help="class-conditional runs: this class only")
    data_path_flag(s, "run")
    s.set_defaults(handler=cmd_sample)

    e = sub.add_parser("eval", help="evaluate a run's checkpoints; writes RUN/eval.json (or --out)")
    e.add_argument("run", type=Path, help="run directory")
    e.add_argument("--out", type=Path, default=None,
                   help="write the results to this .json file instead of RUN/eval.json (RUN is then only read: a "
                        "run on read-only media, or someone else's)")
    e.add_argument("--metrics", type=names, default=None, help="comma-separated (default: modes,wasserstein,fid,prdc on 2-D points; fid,kid,prdc and "
                        "is,classes,class_accuracy where they apply on images; efficiency only when named)")
    e.add_argument("--extractor", default=None,
                   help="lenet | inception | points (default: lenet for images, points for 2-D data)")
    e.add_argument("--n", type=sample_count, default=None, help="fake samples (default 2000 images, 2500 points)")
    e.add_argument("--checkpoint", default="final",
                   help="best | final | all | step_N, one checkpoint by name (default: final)")
    e.add_argument("--split", default="train", choices=["train", "test"], help="real data split (default: train)")
    e.add_argument("--seed", type=seed, default=0, help="sampling seed")
    e.add_argument("--no-ema", action="store_true", help="evaluate the raw generator, not its EMA")
    e.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"],
                   help="where to generate and extract features (default: cpu; metrics themselves run on the CPU)")
    data_path_flag(e, "run")
    e.set_defaults(handler=cmd_eval)

    m = sub.add_parser("metrics", help="compare two sample sets (image folders or .npz arrays)")
    m.add_argument("--real", type=Path, required=True, help="a folder of PNG/JPEG images or an .npz file (x)")
    m.add_argument("--fake", type=Path, required=True, help="the same, for the generated samples")
    m.add_argument("--metrics", type=names, default=None, help="comma-separated (default: fid,kid,prdc)")
    m.add_argument("--extractor", default=None,
                   help="inception | lenet | points (default: inception for images, points for 2-D data)")
    m.add_argument("--dataset", default=None, help="dataset the lenet extractor is trained on, e.g. digits")
    m.add_argument("--out", type=Path, default=None, help="also write the results to this JSON file")
    m.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda", "mps"], help="feature extraction device (default: cpu)")
    m.set_defaults(handler=cmd_metrics)


def cmd_sample(args: argparse.Namespace) -> int:
    if args.n is not None and args.n < 1:
        raise UserError("--n must be at least 1")
    kind = args.out.suffix.lower()
    if kind not in (".png", ".npz"):
        raise UserError(f"--out {args.out}: write .png (a picture) or .npz (arrays); got '{kind or 'no extension'}'")
    from ..api import run_root
    from ..confine import RUN, reading

    # one scope for the whole command: load_generator joins it, and a 2-D run's scatter reads its data too
    with reading(run_root(args.run), RUN, args.data_path):
        return _sample(args, kind)


def _sample(args: argparse.Namespace, kind: str) -> int:
    from ..api import class_labels, generate, load_generator
    from ..plots import save_grid, save_scatter

    G = load_generator(args.run, ema=not args.no_ema)
    images = len(G.data_shape) == 3
    n = args.n or (64 if images else 2000)
    # a 2-D run's scatter draws no labels, unless --class asks for one (refused when G is not conditional)
    labels = class_labels(G, n, args.label) if kind == ".npz" or images or args.label is not None else None
    x = generate(G, n, seed=args.seed, labels=labels)
    if kind == ".npz":
        from ..fileio import atomic_save_npz

        arrays = {"x": x.float().cpu().numpy()}
        if labels is not None:
            arrays["y"] = labels.cpu().numpy()
        atomic_save_npz(arrays, args.out)
    elif images:
        from ..data.base import standard_pixels

        save_grid(standard_pixels(x, G.config.data), args.out)
    else:
        from ..data import load_dataset

        data = load_dataset(G.config.data, "test")
        save_scatter(x[:, :2], args.out, data.modes, title=f"{G.config.data['name']}, step {G.step}")
    say(f"wrote {args.out}")
    _say_if_not_finite(G, x)
    return 0


def _say_if_not_finite(G, x) -> None:
    """A generator whose weights went NaN or Inf (a run that diverged, or a stranger's checkpoint) draws
    samples that are no picture and no data: the file is written as asked, and this says so on stderr."""
    import sys

    import torch

    bad = int((~torch.isfinite(x.reshape(len(x), -1))).any(dim=1).sum())
    if bad:
        weights = "its weights are not finite" if any(not torch.isfinite(p).all() for p in G.parameters()) else \
            "its weights are finite"
        say(f"warning: {bad} of {len(x)} samples hold NaN or Inf ({weights}; step {G.step}): this generator "
            "does not draw data; a diverged run's last finite checkpoint is an earlier step_N.json", file=sys.stderr)


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def cmd_eval(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate_run

    if args.n is not None and args.n < 2:
        raise UserError("--n must be at least 2")
    json_out(args.out, "the results are")
    if args.out is None and args.run.is_dir() and not os.access(args.run, os.W_OK):  # before minutes of work
        raise UserError(f"{args.run}: the run directory is read-only (or not writable), and its results go to "
                        "eval.json in it; write them elsewhere with --out FILE.json")
    result = evaluate_run(args.run, args.metrics, args.extractor, args.n, args.checkpoint, args.split, args.seed,
                          ema=not args.no_ema, device=args.device, data_paths=args.data_path,
                          write=args.out is None)
    if args.out is not None:
        from ..fileio import atomic_write_text

        # laid out as eval.json is, holding this one evaluation
        atomic_write_text(args.out, json.dumps({"run": result["run"], "evaluations": {result["key"]: result}},
                                               indent=1))
    for row in result["results"]:
        tags = f" [{', '.join(row['tags'])}]" if row["tags"] else ""
        say(f"{row['checkpoint']}{tags}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in row["metrics"].items()))
    p = result["results"][-1]["protocol"]
    where = (str(args.out) if args.out is not None
             else f"{args.run / 'eval.json'} (beside other protocols, as '{result['key']}')")
    say(f"protocol: {p['dataset']['name']}/{p['split']}, n_real={p['n_real']}, n_fake={p['n_fake']}, "
          f"extractor={p['extractor']} -> {where}")
    return 0


_FROM_A_RUN = {"mixture": "the mixture's modes", "labels": "the dataset's class labels",
               "conditional": "a conditional generator", "generator": "the generator"}


def cmd_metrics(args: argparse.Namespace) -> int:
    from ..data.arrays import read_samples
    from ..evaluate import _extract
    from ..fileio import atomic_write_text
    from ..metrics.features import build_extractor, check_fits
    from ..metrics.suite import METRICS, Context, check_names, compute, size_problem

    json_out(args.out, "the results are")
    names = args.metrics or ["fid", "kid", "prdc"]
    check_names(names)
    for metric in names:  # two sample sets carry no modes, labels or generator
        beyond = [need for need in METRICS[metric].needs if need not in ("features", "logits", "samples")]
        if beyond:
            what = " and ".join(_FROM_A_RUN.get(need, need) for need in beyond)
            raise UserError(f"metric '{metric}' needs {what}, which two sample sets do not have; evaluate a run "
                            f"with `ganbench eval RUN --metrics {metric}`")
    real, fake = read_samples(args.real), read_samples(args.fake)
    if real.shape[1:] != fake.shape[1:]:
        raise UserError(f"real and fake samples differ in shape: {tuple(real.shape[1:])} vs {tuple(fake.shape[1:])}")
    found = size_problem(names, len(real), len(fake), f"--real {args.real}", f"--fake {args.fake}")
    if found:  # before minutes of feature extraction
        raise UserError(found[0])
    name = args.extractor or ("points" if real.dim() == 2 else "inception")
    check_fits(name, "points" if real.dim() == 2 else "images")
    from ..training.build import resolve_device

    ext = build_extractor(name, {"name": args.dataset} if args.dataset else None, resolve_device(args.device))
    r, f = _extract(ext, real, "real features"), _extract(ext, fake, "fake features")
    values = compute(names, r, f, Context())
    out = {"metrics": values, "protocol": {"real": str(args.real), "fake": str(args.fake), "n_real": len(real),
                                           "n_fake": len(fake), "extractor": ext.identity}}
    text = json.dumps(out, indent=1)
    if args.out:
        atomic_write_text(args.out, text)
    print(text)
    return 0
