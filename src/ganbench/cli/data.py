"""`ganbench data fetch|export|prepare`: get MNIST-like datasets, write samples, train LeNet ahead of time."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from ..textsafe import say


def add_parsers(sub) -> None:
    d = sub.add_parser("data", help="datasets: fetch MNIST / Fashion-MNIST into the cache, export samples to .npz, "
                                        "prepare a LeNet classifier")
    d.set_defaults(handler=cmd_data)
    ds = d.add_subparsers(dest="data_command", required=True)
    df = ds.add_parser("fetch", help="find, verify and cache a dataset")
    df.add_argument("name", choices=["mnist", "fashion-mnist"])
    df.add_argument("--path", default=None, help="a folder holding the four idx files (raw or .gz)")
    df.add_argument("--offline", action="store_true", help="do not try the web mirrors")
    dx = ds.add_parser("export", help="write a dataset's samples to an .npz file (e.g. the real side of `metrics`)")
    dx.add_argument("name", help="a dataset name, e.g. digits")
    dx.add_argument("--split", default="test", choices=["train", "test"], help="which split (default: test)")
    dx.add_argument("--n", type=int, default=None, help="the first N samples (default: all)")
    dx.add_argument("--out", type=Path, required=True, help="an .npz file: x (float NCHW in [-1, 1] or points), y")

    dp = ds.add_parser("prepare", help="train and cache a dataset's LeNet classifier now (carry GANBENCH_CACHE "
                                       "to another machine to skip it there)")
    dp.add_argument("name", help="a labelled image dataset, e.g. mnist or stacked-mnist (its MNIST classifier)")


def cmd_data(args: argparse.Namespace) -> int:
    from ..data.mnist import fetch

    if args.data_command == "export":
        from ..config import make_config
        from ..data import load_dataset
        from ..fileio import atomic_save_npz

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
        from ..config import make_config
        from ..metrics.features import build_extractor

        ext = build_extractor("lenet", make_config({"data": args.name}).data)
        lenet = getattr(ext, "inner", ext)  # stacked-mnist: its per-channel MNIST classifier
        took = f" in {lenet.meta['train_seconds']} s" if "train_seconds" in lenet.meta else ""
        # the cache may have been carried from another machine: its record is printed as textsafe.py makes it
        say(f"{lenet.identity}: test accuracy {100 * lenet.meta['test_accuracy']:.2f} %, trained with torch "
            f"{lenet.meta.get('torch', '?')}{took}; cached at {lenet.weights_file}")
        return 0
    if args.path is not None and not Path(args.path).is_dir():
        raise UserError(f"--path {args.path}: no such folder (it should hold the four idx files, raw or .gz)")
    folder = fetch(args.name, args.path, offline=args.offline or None)
    print(f"{args.name}: verified idx files in {folder}")
    return 0
