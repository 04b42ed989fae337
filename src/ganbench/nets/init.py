"""Weight initialisation, one option for every network family (and plugins): ``init`` in a G or D spec.

    generator: {name: mlp, init: {kind: normal, std: 0.02}}     # or simply  init: normal
    discriminator: {name: dcgan, init: orthogonal}

Recipes differ here and it matters: PacGAN's and DCGAN's official code draw every weight from N(0, 0.02)
with zero biases (TensorFlow DCGAN's convolutions from a *truncated* N(0, 0.02): ``truncated_normal``),
PyTorch's default is a fan-in scaled uniform. ``default`` leaves the framework's
initialisation alone. Other kinds set the weights of every Linear / Conv / ConvTranspose / Embedding
layer and zero their biases; normalisation layers keep gain 1 and shift 0, and layers that carry their
own weight scaling (StyleGAN2's modulated convolutions) are left as they are. Under spectral
normalisation the unnormalised weight is initialised, and the power iteration's start-up is run again on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize

from ..errors import UserError
from ..registry import format_validation_error

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
           nn.ConvTranspose3d, nn.Embedding)


Kind = Literal["default", "normal", "truncated_normal", "xavier", "orthogonal"]


class InitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Kind = "default"
    std: float = Field(0.02, gt=0, description="standard deviation for 'normal' and 'truncated_normal'")
    gain: float = Field(1.0, gt=0, description="gain for 'xavier' (uniform) and 'orthogonal'")
    # TensorFlow DCGAN draws its convolutions truncated and its linear layers plain (ops.py:57 vs :98)
    linear: Kind | None = Field(None, description="another kind for Linear layers (same std and gain); null = kind")


# kind -> how to fill one weight tensor in place (``default`` has no entry: nothing is touched)
_FILL: dict[str, Callable[[Tensor, InitSpec], Any]] = {
    "normal": lambda w, s: nn.init.normal_(w, 0.0, s.std),
    # TF's truncated_normal_initializer: N(0, std) with draws beyond 2 std redrawn, i.e. N(0, std)
    # conditioned on [-2 std, 2 std] (std is the untruncated one); torch samples the same distribution
    # by inverting its CDF instead of redrawing (ops.py:57 of PacGAN's Stacked MNIST code)
    "truncated_normal": lambda w, s: nn.init.trunc_normal_(w, 0.0, s.std, -2.0 * s.std, 2.0 * s.std),
    "xavier": lambda w, s: nn.init.xavier_uniform_(w, gain=s.gain),
    "orthogonal": lambda w, s: nn.init.orthogonal_(w, gain=s.gain),
}


def parse_init(value: Any, where: str) -> dict:
    """``normal`` or ``{kind: normal, std: 0.01}`` -> the full spec as a plain dict; UserError if bad."""
    if isinstance(value, str):
        value = {"kind": value}
    if not isinstance(value, dict):
        raise UserError(f"'{where}' must be a kind (default, normal, truncated_normal, xavier, orthogonal) or a mapping "
                        f"with 'kind'; got {value!r}")
    try:
        out = InitSpec(**value).model_dump()
    except pydantic.ValidationError as exc:
        raise UserError(format_validation_error(exc, prefix=where, model=InitSpec)) from None
    if out["linear"] is None:  # left out unset, so configs (and digests) written before it stay as they were
        del out["linear"]
    return out


def _weight(module: nn.Module) -> Tensor | None:
    """The tensor to fill: under a parametrisation (spectral norm) the original, unnormalised weight."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return getattr(module, "weight", None)


def _restart_power_iteration(module: nn.Module, weight: Tensor) -> None:
    """Spectral norm ran its start-up power iterations (torch's 15) on the weight it was registered with;
    run them again on the weight just filled, so that step 0's sigma estimate is the new weight's (as when
    torch's spectral_norm is applied after the init) and not one iteration's (-20 % on a 128 x 1024 conv)."""
    if not parametrize.is_parametrized(module, "weight") or weight.ndim < 2:
        return
    for p in module.parametrizations.weight:
        if isinstance(p, parametrizations._SpectralNorm):
            p._power_method(p._reshape_weight_to_matrix(weight), 15)


def apply_init(net: nn.Module, spec: dict | None) -> nn.Module:
    """Initialise ``net`` in place as ``spec`` says (draws from torch's global RNG, seeded by the caller)."""
    s = InitSpec(**(spec or {}))
    for module in net.modules():
        if not isinstance(module, _LAYERS):
            continue
        fill = _FILL.get(s.linear if s.linear is not None and isinstance(module, nn.Linear) else s.kind)
        if fill is None:  # ``default``: the layer keeps the framework's initialisation
            continue
        weight = _weight(module)
        if weight is not None:
            fill(weight, s)  # nn.init works under no_grad itself
            _restart_power_iteration(module, weight)
        bias = getattr(module, "bias", None)
        if isinstance(bias, Tensor):
            nn.init.zeros_(bias)
    return net
