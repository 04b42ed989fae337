"""What every command group of the `ganbench` command line shares: flag parsing helpers."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from ..errors import UserError
from ..limits import MAX_SAMPLES, MAX_SEED

# training/capture.py MODES, here without importing torch (a test keeps them equal)
CAPTURE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


def json_out(out, what: str) -> None:
    """A command that writes ``what`` (e.g. "the results are") to --out as JSON refuses any other name before
    the work (eval, metrics, study verify, study plan)."""
    if out is not None and out.suffix.lower() != ".json":
        raise UserError(f"--out {out}: {what} written as JSON; name a .json file")


def yaml_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, ValueError):  # ValueError: an int past 4,300 digits; the option's check names it
        return text


def parse_assignment(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise UserError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    return key.strip(), yaml_value(value)


def seed(text: str) -> int:
    """A sampling seed, bounded as run seeds are (limits.py)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got '{text}'") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is from 0 to 2**64 - 1; got {value}")
    return value


def sample_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples, got '{text}'") from None
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"{value} is more than {MAX_SAMPLES:,} samples; metrics are stable at "
                                         "10,000-50,000")
    return value


def names(text: str) -> list[str]:
    found = [t.strip() for t in text.split(",") if t.strip()]
    if not found:  # an empty list would mean "the defaults", which the flag was given to avoid
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got '{text}'")
    return found


def data_path_flag(p: argparse.ArgumentParser, kind: str) -> None:
    p.add_argument("--data-path", action="append", default=[], metavar="PATH",
                   help=f"read PATH although it lies outside the {kind} directory whose stored config names it "
                        "(e.g. your own data.path); repeatable. Paths in files you pass yourself need no flag")
