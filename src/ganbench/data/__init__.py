"""Data sources. Each module registers its datasets on import; all return a ``Dataset``."""

from . import embedded, folder, stacked, toy2d  # noqa: F401
from .base import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
