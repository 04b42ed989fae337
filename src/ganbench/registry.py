"""Named registries of components.

A component is a plain function or class. Registering it records its name, a one-line description
(the first line of its docstring) and its options: the keyword arguments of its signature after the
positional ones the framework passes (data shape, z_dim, ...). Options are validated strictly with a
pydantic model built from the signature, so a typo or a wrong type is reported before anything runs.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydantic

from .errors import PLUGIN_HINT, UserError, did_you_mean

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*\Z")  # \Z: "$" matches before a final "\n" too
# keywords the framework passes (never user options), with what accepting them means
FRAMEWORK_KWARGS = {"num_classes": "class-conditional training (conditional: true)"}


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    description: str
    options: type[pydantic.BaseModel]
    extra: dict = field(default_factory=dict)
    kind: str = ""
    accepts: frozenset = frozenset()  # framework keywords the component takes

    def validate(self, opts: dict, where: str | None = None) -> dict:
        """Return options with defaults filled in; raise UserError naming the bad key (under ``where``).

        Options registered as ``late_options`` (added after runs existed) are left out at their default,
        so the resolved config, and with it the digest of every earlier run, stays as it was."""
        try:
            out = self.options(**opts).model_dump()
        except pydantic.ValidationError as exc:
            raise UserError(format_validation_error(exc, prefix=where or self.name, model=self.options,
                                                     owner=f"{self.kind} '{self.name}'")) from None
        for key in self.extra.get("late_options", ()):
            if out[key] == self.options.model_fields[key].default:
                del out[key]
        return out

    def option_help(self) -> str:
        parts = []
        for key, f in self.options.model_fields.items():
            parts.append(f"{key}={f.default!r}")
        return ", ".join(parts)

    def build(self, *args, framework: dict | None = None, **opts):
        """Call the component with the framework's arguments, validated options, and framework keywords
        (e.g. ``num_classes`` for class-conditional nets) that it must declare to accept."""
        framework = framework or {}
        for key in framework:
            if key not in self.accepts:
                raise UserError(f"{self.kind} '{self.name}' does not support {FRAMEWORK_KWARGS[key]}")
        options = self.validate(opts)
        from .confine import check_options

        check_options(self, options)  # a path read from a run or study directory may not leave it
        return self.obj(*args, **options, **framework)


def format_validation_error(exc: pydantic.ValidationError, prefix: str = "",
                            model: type[pydantic.BaseModel] | None = None, owner: str = "") -> str:
    """One line from the first pydantic error: which key, what was expected, what was given. An unknown key
    of ``model`` (the validated model: its own keys or a nested model's) names the close valid keys, or all,
    or says that ``owner`` (what the model's keys are options of: "loss 'hinge'") takes none."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    where = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
    if err["type"] == "extra_forbidden":
        valid = _keys_at(model, err["loc"][:-1])
        if valid == [] and owner and len(err["loc"]) == 1:
            return f"unknown key '{where}' ({owner} takes no options)"
        if not valid or not isinstance(err["loc"][-1], str):
            return f"unknown key '{where}'"
        hint = did_you_mean(err["loc"][-1], valid)
        return f"unknown key '{where}'" + (hint or f"; valid keys: {', '.join(sorted(valid))}")
    if err["type"] == "missing":
        return f"missing required key '{where}'"
    given = err.get("input")
    branches = _union_branches(exc.errors(), err["loc"])
    if branches:  # a key of several types (seeds: int | list[int]): pydantic tags each type's error in the loc
        field = ".".join(str(p) for p in err["loc"][:-1])
        where = f"{prefix}.{field}" if prefix and field else (prefix or field)
        return f"bad value for '{where}': should be {' or '.join(branches)} (got {given!r})"
    return f"bad value for '{where}': {err['msg'].lower()} (got {given!r})"


_TYPE_TAG = re.compile(r"^(int|float|str|bool|list|dict|tuple|none)(\[.*\])?\Z")


def _union_branches(errors: list, loc: tuple) -> list[str]:
    """The type tags pydantic appends to a location for each member of a union the value matched none of
    ('int', 'list[int]'), when the first error is one of them; [] otherwise."""
    if not loc:  # a model's own validator: no key to name
        return []
    tags = [e["loc"][-1] for e in errors if len(e["loc"]) == len(loc) and e["loc"][:-1] == loc[:-1]]
    if len(tags) < 2 or not all(isinstance(t, str) and _TYPE_TAG.match(t) for t in tags):
        return []
    return list(dict.fromkeys(tags))


def _keys_at(model: type[pydantic.BaseModel] | None, path: tuple) -> list[str] | None:
    """The field names of the model that ``path`` (a pydantic error's location) leads to from ``model``
    through fields that are models themselves; None when it does not lead to one."""
    for part in path:
        field = model.model_fields.get(part) if model is not None and isinstance(part, str) else None
        if field is None:
            return None
        inner = [a for a in (field.annotation, *typing.get_args(field.annotation))
                 if inspect.isclass(a) and issubclass(a, pydantic.BaseModel)]
        model = inner[0] if inner else None
    return list(model.model_fields) if model is not None else None


def _takes_bool(ann: Any) -> bool:
    return ann is bool or ann is Any or bool in typing.get_args(ann)


def _takes_number(ann: Any, kind: type) -> bool:
    return ann is kind or kind in typing.get_args(ann)


def _conventional(ann: Any, default: Any) -> Any:
    """Range rules every component gets without writing them: an int option whose default is positive is
    a size or a count (>= 1), one that defaults to 0 may not go negative (0 = off), and a float option with
    a positive default (weights, strengths, limits) may not go negative either. An option annotated with
    its own constraints (``Annotated[...]``) keeps those instead."""
    if typing.get_origin(ann) is typing.Annotated or isinstance(default, bool):
        return ann
    if isinstance(default, int) and _takes_number(ann, int) and not _takes_bool(ann):
        return typing.Annotated[ann, pydantic.Field(ge=1 if default >= 1 else 0)] if default >= 0 else ann
    if isinstance(default, float) and default > 0 and _takes_number(ann, float):
        return typing.Annotated[ann, pydantic.Field(ge=0)]
    return ann


class _Options(pydantic.BaseModel):
    """Base of every component's options: finite floats, and no true/false where a number belongs
    (YAML's ``every: yes`` would otherwise become 1)."""

    model_config = pydantic.ConfigDict(extra="forbid", strict=False, arbitrary_types_allowed=True,
                                       allow_inf_nan=False)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, values: Any) -> Any:
        if isinstance(values, dict):
            for key, value in values.items():
                field = cls.model_fields.get(key)
                if isinstance(value, bool) and field is not None and not _takes_bool(field.annotation):
                    raise ValueError(f"'{key}' must be a number, not {str(value).lower()}")
        return values


def _options_model(obj: Callable, skip: int) -> type[pydantic.BaseModel]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = list(inspect.signature(target).parameters.values())
    # resolves string annotations (from __future__ import annotations); extras keep Annotated constraints
    hints = typing.get_type_hints(target, include_extras=True)
    if inspect.isclass(obj):
        params = params[1:]  # self
    fields = {}
    for p in params[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in FRAMEWORK_KWARGS:
            continue
        ann = hints.get(p.name, Any)
        default = p.default if p.default is not inspect.Parameter.empty else ...
        fields[p.name] = (_conventional(ann, default), default)
    name = getattr(obj, "__name__", "Options") + "Options"
    return pydantic.create_model(name, __base__=_Options, **fields)


class RegistrationError(ValueError):
    """A component registered wrongly (bad name, taken name, wrong shape of object): said at import, one line
    (plugins.import_plugins turns it into a UserError naming the plugin module)."""


def _takes(fn: Any, n: int) -> bool:
    try:
        inspect.signature(fn).bind(*range(n))
    except (TypeError, ValueError):
        return False
    return True


def _check_loss(name: str, obj: Any) -> None:
    """A loss is a ``ganbench.losses.Loss(d, g)``: two functions of D's outputs on a real and a fake batch."""
    if not all(callable(getattr(obj, a, None)) and _takes(getattr(obj, a), 2) for a in ("d", "g")):
        raise RegistrationError(f"loss {name!r} must be ganbench.losses.Loss(d, g) with d(real, fake) and "
                                f"g(real, fake) returning scalar tensors; got {obj!r}")


def _check_regularizer(name: str, obj: Any) -> None:
    """A regularizer class builds objects with ``penalty(D, real, fake, draws)`` and ``after_d_step(D)``."""
    if inspect.isclass(obj) and not all(callable(getattr(obj, a, None)) for a in ("penalty", "after_d_step")):
        raise RegistrationError(f"regularizer {name!r} must subclass ganbench.regularizers.Regularizer "
                                "(penalty(D, real, fake, draws) and/or after_d_step(D))")


class Registry:
    """A name -> component table that explains itself when a name is wrong."""

    def __init__(self, kind: str, positional: int = 0, check: Callable[[str, Any], None] | None = None):
        self.kind = kind
        self.positional = positional  # leading arguments supplied by the framework, not options
        self.check = check  # refuses an object that is not this kind of component, at registration
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str | None = None, **extra):
        """Decorator: ``@GENERATORS.register("dcgan")``."""

        def deco(obj):
            self.add(name, obj, description, **extra)
            return obj

        return deco

    def add(self, name: str, obj: Any, description: str | None = None, **extra) -> None:
        if not _NAME.match(name):
            raise RegistrationError(f"bad {self.kind} name {name!r}: use lowercase letters, digits, '_' or '-'")
        if name in self._entries and self._entries[name].obj is not obj:
            raise RegistrationError(f"{self.kind} {name!r} is already registered")
        if self.check:
            self.check(name, obj)
        doc = description or (inspect.getdoc(obj) or "").strip().splitlines()[0:1]
        if isinstance(doc, list):
            doc = doc[0] if doc else ""
        options = _options_model(obj, self.positional) if callable(obj) else _options_model(lambda: None, 0)
        target = obj.__init__ if inspect.isclass(obj) else obj
        accepts = frozenset(FRAMEWORK_KWARGS) & set(inspect.signature(target).parameters) if callable(obj) else frozenset()
        self._entries[name] = Entry(name, obj, doc, options, extra, self.kind, accepts)

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries))
            raise UserError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}; valid: {valid}{PLUGIN_HINT}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[k] for k in sorted(self._entries))


GENERATORS = Registry("generator", positional=2)  # (data_shape, z_dim, **options)
DISCRIMINATORS = Registry("discriminator", positional=1)  # (data_shape, **options)
LOSSES = Registry("loss", check=_check_loss)
REGULARIZERS = Registry("regularizer", check=_check_regularizer)
DATASETS = Registry("dataset", positional=1)  # (split, **options)

ALL = {
    "generators": GENERATORS,
    "discriminators": DISCRIMINATORS,
    "losses": LOSSES,
    "regularizers": REGULARIZERS,
    "datasets": DATASETS,
}


def load_components() -> None:
    """Import the built-in components (each module registers itself) and installed plugins."""
    from . import data, losses, nets, regularizers  # noqa: F401
    from .plugins import load_entry_points

    load_entry_points()
