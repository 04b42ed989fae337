"""Network families. Each module registers its generator and discriminator on import."""

from . import dcgan, mlp, resnet, style  # noqa: F401
from .layers import Packed, packed_shape

__all__ = ["Packed", "packed_shape"]
