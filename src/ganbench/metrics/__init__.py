"""Metrics: pure functions from samples or features to numbers."""
