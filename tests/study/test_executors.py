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
