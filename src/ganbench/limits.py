"""Bounds on what a user or a stored file may ask for, shared by the configs, study specs and the command
line (no torch import: the CLI checks its flags with them before loading anything)."""

# Run and sampling seeds are 64-bit: training/seeding.py masks every seed to 64 bits, so a larger one (or a
# negative one) would draw exactly what a smaller one does.
MAX_SEED = 2**64 - 1

# Samples per evaluation or `sample` call: far past any protocol (metrics are stable at 10,000-50,000); a
# typo beyond it would fill the memory.
MAX_SAMPLES = 1_000_000
