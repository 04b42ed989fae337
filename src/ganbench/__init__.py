"""ganbench: compare GANs fairly.

    import ganbench
    result = ganbench.train({"data": "ring8", "loss": "hinge", "steps": 500}, out="runs/x")
    G = ganbench.load_generator("runs/x")

Heavy modules import lazily, so ``import ganbench`` stays fast.
"""

__version__ = "0.1.0"

_LAZY = {
    "train": "ganbench.api",
    "load_generator": "ganbench.api",
    "generate": "ganbench.api",
    "RunConfig": "ganbench.config",
    "UserError": "ganbench.errors",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganbench' has no attribute {name!r}")


__all__ = ["RunConfig", "UserError", "__version__", "generate", "load_generator", "train"]
