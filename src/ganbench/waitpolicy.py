"""OpenMP threads that wait by sleeping, not spinning.

torch's CPU kernels run as OpenMP parallel regions, each ending at a barrier. By default, libgomp's
threads spin while they wait there. On cores shared with other work (a study's pool beside another
training, or a test suite), a spinning thread takes the core from the thread it is waiting for, and
every barrier costs a scheduler slice. Seen once in a stalled study on 2 shared cores (a pacgan-2d grid25
MLP step, 2 torch threads, two other busy processes on the cores at that moment): 3.3 s per step spinning,
0.12 s with ``PASSIVE`` (27x), and the same 2.5 s for 20 steps as one thread. ``benchmarks/wait_policy.py``
measures both policies under controlled loads (README, Benchmarks): PASSIVE runs at 0.75x of spinning's
speed on idle cores (waking a sleeping thread takes longer than a spin), 2.0x beside two busy processes, and
54x on cores already busy with three other trainings; how much spinning loses depends on what else runs. A
stall of 27-54x costs more than a loss of 25 %, and few machines are idle, so PASSIVE is the default.

libgomp reads the policy once, when torch loads it, so it must be in the environment first: the CLI sets
it before any command imports torch, and the study pool's workers inherit it (``for_children``). A value already set by the
user (``OMP_WAIT_POLICY=ACTIVE``) is kept.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

VARIABLE, DEFAULT = "OMP_WAIT_POLICY", "PASSIVE"


def passive_wait(environ=os.environ) -> str:
    """Set OMP_WAIT_POLICY to PASSIVE unless it is set; returns the policy in force."""
    return environ.setdefault(VARIABLE, DEFAULT)


@contextmanager
def for_children():
    """PASSIVE (unless set) for the processes started inside the block, e.g. a pool's spawned workers; the
    caller's own environment is as it was afterwards."""
    had = VARIABLE in os.environ
    passive_wait()
    try:
        yield
    finally:
        if not had:
            os.environ.pop(VARIABLE, None)
