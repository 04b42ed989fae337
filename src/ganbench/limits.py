"""Bounds on what a user or a stored file may ask for, shared by the configs, study specs, the command
line and the Python API (no torch import: the CLI checks its flags with them before loading anything)."""

from .errors import UserError

# Run and sampling seeds are 64-bit: training/seeding.py masks every seed to 64 bits, so a larger one (or a
# negative one) would draw exactly what a smaller one does.
MAX_SEED = 2**64 - 1

# Samples per evaluation or `sample` call: far past any protocol (metrics are stable at 10,000-50,000); a
# typo beyond it would fill the memory.
MAX_SAMPLES = 1_000_000

# Generated data: a dataset's size option. A 2-D mixture point costs ~32 bytes while it is drawn (10 million:
# ~0.3 GB); a Stacked MNIST image 9.4 kB as float32 (1 million: 9.4 GB, 8x PacGAN's 128,000). The size is
# read from a run's config.yaml and checkpoint sidecars too, so `eval`, `sample` and the report of a stranger's run would build it.
MAX_POINTS = 10_000_000
MAX_IMAGES = MAX_SAMPLES

# Training steps per run: 1,000x the longest published GAN budgets we know (~10^6 steps); a typo beyond it
# is no budget (a stranger's spec would otherwise promise a resume that never ends).
MAX_STEPS = 10**9

# Samples per batch (each side, packs counted as their samples): 32x BigGAN's 2,048, the largest batch we
# know in a published GAN. A typo beyond it does not fail with a message: the kernel's out-of-memory killer
# ends the process (a 2-D batch of 10^9 points is ~8 GB before the networks see it).
MAX_BATCH = 2**16


def whole(value, what: str, low: int, high: int):
    """``value`` when it is an int (not a bool) from ``low`` to ``high``; else one line naming ``what``. The
    Python API's counts and seeds pass here, as the CLI's flags do, so ``n=0`` is refused, not read as unset."""
    if type(value) is not int or not low <= value <= high:
        raise UserError(f"{what} must be a whole number from {low:,} to {high:,}; got {value!r}")
    return value

# Files of a run or study directory, read whole into memory (a stranger's directory may hold a sparse file of
# any size). A config.yaml is ~1 kB, a spec.yaml a few kB: the YAML bound is 1,000x that and keeps the strict
# loader's node count (yamlio.MAX_NODES) within reach; the JSON files (status, eval, result, sidecars) grow
# with evaluations, kilobytes each; the metrics log with steps, ~150 bytes a logged step (1 GiB: ~7 million).
MAX_STORED_YAML = 2**20
MAX_STORED_JSON = 64 * 2**20
MAX_STORED_LOG = 2**30
# one line of it (~150 bytes; a row of many metrics a few kB): `train --resume` streams the log line by line
# (RunDir.truncate_log), so a log of any length resumes and only a line past this is refused
MAX_STORED_LOG_LINE = 2**24
