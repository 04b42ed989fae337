"""Comparison studies: a grid of variants x datasets x seeds, run under equal budgets, stored in SQLite."""
