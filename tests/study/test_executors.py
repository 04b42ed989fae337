"""The pool sizes itself from the cores this process may run on, not from every core of the machine."""

import os

import pytest

from ganbench.study import executors
from ganbench.study.executors import Pool


def test_pinned_process_gets_one_worker_with_one_thread(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)
    pool = Pool()
    assert (pool.workers, pool.threads) == (1, 1)


@pytest.mark.parametrize("allowed, workers, threads", [({0, 1}, 1, 2), ({0, 1, 2, 3}, 2, 2), ({0, 1, 2}, 4, 1)])
def test_threads_divide_the_allowed_cores(monkeypatch, allowed, workers, threads):
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: allowed, raising=False)
    assert Pool(workers).threads == threads


def test_without_affinity_call_all_cores_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert executors.usable_cores() == 6


PLUGIN = '''
from ganbench.data.toy2d import ring8
from ganbench.registry import DATASETS

DATASETS.add("plug-ring", ring8, "ring8 under a plugin's name", classes=3)
'''


def test_pool_workers_import_the_drivers_plugins(tmp_path, monkeypatch):
    """A --plugin reached the driver alone: spawned workers knew none of its components, so every run of a
    study that named one failed ("unknown dataset"). Workers now import what the driver imported."""
    from ganbench import plugins
    from ganbench.data.base import declared_classes

    (tmp_path / "poolplug.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_imported", [])
    plugins.import_plugins(["poolplug"])
    assert plugins.imported() == ("poolplug",)
    spec = {"name": "plug-ring"}
    assert declared_classes(spec) == 3  # in the driver
    results = dict(Pool(1).run(declared_classes, [("k", (spec,))]))
    assert results == {"k": 3}  # None where the worker does not know the name


def test_a_ray_task_imports_the_drivers_plugins_first(tmp_path, monkeypatch):
    import sys

    from ganbench import plugins
    from ganbench.data.base import declared_classes

    (tmp_path / "rayplug.py").write_text(PLUGIN.replace("plug-ring", "ray-ring"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "rayplug", raising=False)
    assert declared_classes({"name": "ray-ring"}) is None
    assert executors.with_plugins(("rayplug",), declared_classes, {"name": "ray-ring"}) == 3
    # one that does not import is said, and the task still runs (its run fails with its own reason)
    assert executors.with_plugins(("no_such_plugin_xyz",), declared_classes, {"name": "nope"}) is None
