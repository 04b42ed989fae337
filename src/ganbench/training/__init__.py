"""Training: one loop for every combination of parts, checkpoints, EMA and seeded randomness."""
