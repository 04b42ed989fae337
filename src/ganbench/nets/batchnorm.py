"""Batch-norm constants, one option for every network family (and plugins): ``batch_norm`` in a G or D spec.

    generator: {name: mlp, norm: batch, batch_norm: {eps: 1.0e-4, momentum: 0.05}}

Frameworks disagree on these two numbers and a reproduction has to say which it uses: PyTorch's
BatchNorm adds eps = 1e-5 to the variance and moves its running statistics by momentum = 0.1 per call;
TensorFlow's DCGAN code uses the same (``decay`` 0.9 is momentum 0.1); Theano's blocks library, which
PacGAN's 2-D experiments are written in, adds 1e-4 (blocks/bricks/bn.py:131) and PacGAN's code moves
the population statistics by 0.05 per step (pacgan_task.py:150). The option sets ``eps`` and
``momentum`` of every batch-norm layer of the network, including conditional batch norm's inner one;
a network without batch norm refuses it, so a setting never silently does nothing.

``momentum`` is per call, as in PyTorch: with ``g_call: per_pack_member`` G runs m times per step, so
the running statistics move m times. Left unset, nothing is written into the config (digests of runs
made before the option stay as they were) and the layers keep PyTorch's defaults.
"""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..errors import UserError
from ..registry import format_validation_error


class BatchNormSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    eps: float = Field(1e-5, gt=0, description="added to the batch variance before its square root")
    momentum: float = Field(0.1, gt=0, le=1, description="weight of each call's statistics in the running ones")


def parse_batch_norm(value: Any, where: str) -> dict:
    """``{eps: 1.0e-4, momentum: 0.05}`` -> the full spec as a plain dict; UserError if bad."""
    if not isinstance(value, dict):
        raise UserError(f"'{where}' must be a mapping with 'eps' and/or 'momentum'; got {value!r}")
    try:
        return BatchNormSpec(**value).model_dump()
    except pydantic.ValidationError as exc:
        raise UserError(format_validation_error(exc, prefix=where, model=BatchNormSpec)) from None


def apply_batch_norm(net: nn.Module, spec: dict | None, where: str) -> nn.Module:
    """Set eps and momentum of every batch-norm layer of ``net`` (a no-op for ``None``)."""
    if spec is None:
        return net
    s = BatchNormSpec(**spec)
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        raise UserError(f"{where}.batch_norm is set, but this network has no batch-norm layer "
                        f"(set {where}.norm: batch, or drop the option)")
    for m in layers:
        m.eps, m.momentum = s.eps, s.momentum
    return net
