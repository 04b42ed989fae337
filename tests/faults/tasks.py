"""Task functions for the killed-worker tests (module level, so spawned pool workers can import them)."""

import os
import signal
from pathlib import Path


def square_or_die(x: int, die_marker: str | None = None, always: bool = False) -> int:
    """x*x; with a marker path, SIGKILL this worker the first time (or every time with ``always``)."""
    if die_marker is not None:
        marker = Path(die_marker)
        if always or not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def wait_for_interrupt(started: str, stopped: str, limit_s: float = 60.0) -> str:
    """Touch ``started``, then wait (at most ``limit_s``) for a KeyboardInterrupt; touch ``stopped`` when it
    comes, as a training loop writes ``interrupted`` before it lets the interrupt go on."""
    import time

    deadline = time.monotonic() + limit_s
    try:
        Path(started).touch()  # inside: an interrupt that comes at once is still seen
        while time.monotonic() < deadline:
            time.sleep(0.01)
    except KeyboardInterrupt:
        Path(stopped).touch()
        raise
    return "not interrupted"


def outlast_one_interrupt(started: str, first: str, finished: str, limit_s: float = 10.0) -> str:
    """Touch ``started``, then wait ``limit_s`` as a long training step does: the first KeyboardInterrupt
    touches ``first`` and is let pass (a step defers it), a second one ends it; ``finished``: the wait ran out."""
    import time

    deadline, seen = time.monotonic() + limit_s, False
    Path(started).touch()  # the driver is terminated only after this, so no interrupt is missed before the try
    while time.monotonic() < deadline:
        try:
            time.sleep(0.01)
        except KeyboardInterrupt:
            if seen:
                raise
            seen = True
            Path(first).touch()
    Path(finished).touch()
    return "finished"


def tqdm_made_a_semaphore() -> bool:
    """Whether a progress bar made here gave tqdm's class-wide lock a multiprocessing lock (a named semaphore
    that a killed worker leaves to the resource tracker, which warns about it)."""
    from tqdm.auto import tqdm
    from tqdm.std import TqdmDefaultWriteLock

    tqdm(total=1, disable=True).close()
    return getattr(TqdmDefaultWriteLock, "mp_lock", None) is not None


def pause_once_at_checkpoint(gate: str, step: int, fn, *args):
    """``fn(*args)`` in a pool worker whose checkpoints of ``step`` stop at a gate: the first run of the whole
    test to save one (claimed with O_EXCL) writes ``gate`` = {"pid": this worker, "run": its run directory's
    name} and waits there (at most ``limit_s``, against a hang) to be killed. A test then kills a worker it
    knows to be mid-run, whatever the load of the machine; the others, and its rerun, pass the gate."""
    import json

    from ganbench.training import checkpoint

    real = checkpoint.save_checkpoint

    def save(directory, at, *rest, **kwargs):
        path = real(directory, at, *rest, **kwargs)
        if at == step:
            _wait_at_gate(Path(gate), Path(directory).parent.name, json)
        return path

    checkpoint.save_checkpoint = save  # the training loop calls it as checkpoint.save_checkpoint
    try:
        return fn(*args)
    finally:
        checkpoint.save_checkpoint = real


def _wait_at_gate(gate: Path, run: str, json, limit_s: float = 300.0) -> None:
    import time

    try:
        os.close(os.open(f"{gate}.claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return  # another run stopped here already, or this is the rerun of the one that did
    tmp = gate.with_name(gate.name + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "run": run}))
    os.replace(tmp, gate)  # whole, or not there
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.05)
