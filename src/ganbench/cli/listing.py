"""`ganbench list`: every registered component with its options, every metric and feature extractor."""

from __future__ import annotations

import argparse


def add_parsers(sub) -> None:
    sub.add_parser("list", help="list every registered component with its options").set_defaults(handler=cmd_list)


def cmd_list(args: argparse.Namespace) -> int:
    from ..registry import ALL, load_components

    load_components()
    for kind, registry in ALL.items():
        print(f"{kind}:")
        for entry in registry:
            opts = entry.option_help()
            tag = " [conditional]" if "num_classes" in entry.accepts else ""
            print(f"  {entry.name:<13} {entry.description}{tag}" + (f"\n  {'':<13} options: {opts}" if opts else ""))
    from ..metrics.features import EXTRACTORS
    from ..metrics.suite import METRICS

    print("metrics:")
    for name, m in METRICS.items():
        print(f"  {name:<13} {m.description}")
    print("extractors:")
    for name, (_, description) in EXTRACTORS.items():
        print(f"  {name:<13} {description}")
    return 0
