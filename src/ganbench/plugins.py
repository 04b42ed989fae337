"""User components from outside the package.

Two ways in:
* an installed package declares an entry point in a group ``ganbench.generators`` (or
  ``.discriminators``, ``.losses``, ``.regularizers``, ``.datasets``): ``name = "pkg.module:Class"``.
  The object is registered under the entry point's name (unless importing it registered it already).
  In ``ganbench.metrics`` the entry point names a function its module registers with
  ``metrics.suite.metric`` (a metric needs its values' declarations): loading it imports that module.
* ``--plugin some.module`` (or ``plugins: [some.module]`` in a config the caller gives) imports a
  module whose code registers components with the decorators in ``ganbench.registry``.

Processes a study starts (pool workers, Ray tasks) import the modules this process imported through
``import_plugins`` (``imported()``) before their first task: they are spawned, not forked, so a
``--plugin`` would otherwise reach the driver alone and every run that names a plugin's component fail.

A run or study directory is data: the ``plugins`` its stored config lists are never imported from it
(a shared run could otherwise run code). Loading such a run checks that they are imported already and
otherwise says which ``--plugin`` the caller must pass.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import entry_points

from .errors import UserError
from .registry import ALL, RegistrationError

_loaded_groups = False
_imported: list[str] = []  # the modules import_plugins brought in, in order, for the processes a study starts


def load_entry_points() -> None:
    global _loaded_groups
    if _loaded_groups:
        return
    _loaded_groups = True
    for kind, registry in ALL.items():
        for ep in entry_points(group=f"ganbench.{kind}"):
            try:
                obj = ep.load()
                if ep.name not in registry:  # a loss is a Loss object, not a callable
                    registry.add(ep.name, obj)
            except Exception as exc:  # noqa: BLE001  (a broken plugin must not take the CLI down)
                print(f"ganbench: skipping plugin {ep.name!r} ({ep.value}): {exc}", file=sys.stderr)
    from .metrics.suite import METRICS

    for ep in entry_points(group="ganbench.metrics"):  # a metric registers itself with its declarations
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001
            print(f"ganbench: skipping plugin {ep.name!r} ({ep.value}): {exc}", file=sys.stderr)
            continue
        if ep.name not in METRICS:
            print(f"ganbench: skipping plugin {ep.name!r} ({ep.value}): importing it registered no metric of "
                  "that name (use ganbench.metrics.suite.metric)", file=sys.stderr)


def import_plugins(modules: list[str]) -> None:
    for name in modules:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except ImportError as exc:
                raise UserError(f"cannot import plugin module '{name}': {exc}") from None
            except RegistrationError as exc:  # the plugin's own mistake, said as such (other errors: traceback)
                raise UserError(f"plugin module '{name}': {exc}") from None
        if name not in _imported:
            _imported.append(name)


def imported() -> tuple[str, ...]:
    """The plugin modules this process imported on purpose (``--plugin``, a caller's config), in order."""
    return tuple(_imported)


def load_listed(tree: dict, stored: str | None = None) -> None:
    """The ``plugins`` a config (or a study spec's ``base``) lists: imported when the caller wrote it; when it
    was read back from a run or study directory (``stored`` names where), required to be imported already."""
    plugins = tree.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise UserError(f"'plugins' must be a list of module names; got {plugins!r}")
    if stored is None:
        import_plugins(plugins)
    else:
        require_plugins(plugins, stored)


def require_plugins(modules: list[str], where: str) -> None:
    """Refuse a stored config whose plugin modules the caller has not imported."""
    from .confine import RUN, scope_dict

    missing = [m for m in modules if m not in sys.modules]
    if missing:
        flags = " ".join(f"--plugin {m}" for m in missing)
        scope = scope_dict()  # the directory being read: a study's, or a run's (train reads one unscoped)
        what = scope["what"] if scope else RUN
        raise UserError(f"{where} needs plugin module(s) {', '.join(missing)}, which a {what} cannot "
                        f"load by itself; if you trust them, pass {flags} (before the command)")
