"""A small study on a real local Ray instance, on loopback. Skipped where Ray is not installed.

The test owns its cluster: a head started with ``--block`` in a new session, with its own port and temp
dir, is stopped by signalling that session's process group (its own PID), never by ``ray stop``, which
would stop every Ray process of the user running the tests.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from ganbench.study.store import Store

ray = pytest.importorskip("ray")
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
SPEC = """
name: ray-tiny
base: {batch_size: 32, log_every: 20, generator: {name: mlp, hidden: 32}, discriminator: {name: mlp, hidden: 32}}
datasets: [{data: {name: ring8, n: 2000}}]
grid: {loss: [ns, hinge]}
seeds: 2
budget: {steps: 60}
eval: {n: 200, every: 30, metrics: [modes, fid]}
"""
STARTED = "Ray runtime started"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(head: subprocess.Popen) -> None:
    """SIGTERM to the head alone (it drains its node through its GCS, then stops the processes it started),
    then SIGKILL to whatever is left of its own process group; nothing outside that group is touched. A SIGTERM
    to the whole group stopped the GCS too, and the head waited out its 30 s drain timeout for it ("Timed out
    while waiting for GCS"), half of the 60 s the head is given before the SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        if sig == signal.SIGTERM:
            head.send_signal(sig)  # nothing is sent once the head has been reaped (its pid may be another's)
        else:
            try:
                os.killpg(head.pid, sig)
            except ProcessLookupError:  # the whole group is gone
                return
        try:
            head.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        deadline = time.time() + wait_s
        while time.time() < deadline:  # the head exited; its helpers may take a moment
            try:
                os.killpg(head.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    # never the user's own cluster; no wait policy of the caller's, so the head's workers have none of their own
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "OMP_WAIT_POLICY")}
    env.update(RAY_ENV)
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    if not os.path.exists(ray_bin):
        pytest.skip("Ray's command line is not installed beside this Python")
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    log = temp / "head.log"
    with open(log, "w") as out:
        head = subprocess.Popen([ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                                 f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                                 "--disable-usage-stats", f"--temp-dir={temp}"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 600  # only against a hang: a loaded 2-core box starts a head slowly
        while STARTED not in log.read_text(errors="replace"):
            if head.poll() is not None or time.time() > deadline:
                pytest.fail(f"could not start a local Ray head: {log.read_text(errors='replace')[-1500:]}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", env
    finally:
        _stop(head)
    try:
        os.killpg(head.pid, 0)
        pytest.fail(f"processes of the test's own Ray head (process group {head.pid}) outlived it")
    except ProcessLookupError:
        pass


def _study(args, env, timeout=900, plugin=()):  # timeouts here only guard against a hang
    return subprocess.run([sys.executable, "-m", "ganbench", *plugin, "study", "run", *args, "--no-progress",
                           "--no-report"],
                          env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_study_on_a_local_ray_cluster_matches_the_pool(ray_head, tmp_path):
    address, env = ray_head
    (tmp_path / "spec.yaml").write_text(SPEC)
    on_ray = _study([str(tmp_path / "spec.yaml"), "--dir", str(tmp_path / "ray"), "--executor", "ray",
                     "--address", address], env)
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert "4 runs executed" in on_ray.stdout
    pooled = _study([str(tmp_path / "spec.yaml"), "--dir", str(tmp_path / "pool"),
                     "--workers", str(os.cpu_count())], env)  # one torch thread per worker, as on Ray
    assert pooled.returncode == 0, pooled.stderr[-2000:]
    ray_store, pool_store = Store(tmp_path / "ray" / "study.sqlite"), Store(tmp_path / "pool" / "study.sqlite")
    assert all(r["status"] == "done" for r in ray_store.runs())
    assert ray_store.results_table() == pool_store.results_table()  # one torch thread per run in both


POLICY_PROBE = """
import os, sys
from ganbench.study.executors import RayExecutor
policy = lambda: os.environ.get("OMP_WAIT_POLICY")
print(list(RayExecutor(sys.argv[1]).run(policy, [("probe", ())])))
"""


@pytest.mark.parametrize("driver, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_ray_tasks_get_the_drivers_wait_policy(ray_head, driver, expected):
    """Ray's workers are not the driver's children: the OpenMP wait policy (waitpolicy.py) reaches them only
    through the task's runtime environment. The head here was started without one."""
    address, env = ray_head
    env = dict(env, **({"OMP_WAIT_POLICY": driver} if driver else {}))
    probe = subprocess.run([sys.executable, "-c", POLICY_PROBE, address], env=env, capture_output=True, text=True,
                           timeout=600, check=False)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert f"[('probe', '{expected}')]" in probe.stdout


# A plugin (a module the driver imports with --plugin from a folder on its own PYTHONPATH, not the head's): its
# losses are ns's, but `die-once` SIGKILLs its worker at its 40th generator step (after the step-30 checkpoint)
# the first time in the whole study (the marker file, made with O_EXCL, says it happened), and `die-always`
# at every start. Ray must ship it to its workers (ray.init's py_modules), or every run fails.
PLUGIN = """
import os, signal
from ganbench.losses import LOSSES, Loss

MARKER, calls = {marker!r}, [0]
ns = LOSSES.get("ns").obj


def die_once(real, fake):
    calls[0] += 1
    if calls[0] == 40:
        try:
            os.close(os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return ns.g(real, fake)
        os.kill(os.getpid(), signal.SIGKILL)
    return ns.g(real, fake)


def die_always(real, fake):
    os.kill(os.getpid(), signal.SIGKILL)


LOSSES.add("die-once", Loss(ns.d, die_once), "ns; SIGKILLs its worker once per study")
LOSSES.add("die-always", Loss(ns.d, die_always), "SIGKILLs its worker at its first step")
"""


def _plugin_env(env: dict, tmp_path) -> dict:
    (tmp_path / "plug").mkdir()
    (tmp_path / "plug" / "ray_killer.py").write_text(PLUGIN.format(marker=str(tmp_path / "killed")))
    return dict(env, PYTHONPATH=os.pathsep.join([str(tmp_path / "plug"), env.get("PYTHONPATH", "")]))


def test_a_plugin_study_survives_a_killed_ray_worker_with_the_results_of_the_pool(ray_head, tmp_path):
    """The driver's --plugin reaches Ray's workers; a worker SIGKILLed mid-run is submitted again (one counted
    fault, one more attempt, one `retry` line) and resumes from its checkpoint, to the uninterrupted results."""
    address, env = ray_head
    env = _plugin_env(env, tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("grid: {loss: [ns, hinge]}\n", "")
                                        .replace("base: {", "base: {loss: die-once, "))
    plugin = ["--plugin", "ray_killer"]
    on_ray = _study([str(tmp_path / "spec.yaml"), "--dir", str(tmp_path / "ray"), "--executor", "ray",
                     "--address", address], env, plugin=plugin)
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    assert (tmp_path / "killed").exists(), "no worker was killed: the test did not test anything"
    runs = Store(tmp_path / "ray" / "study.sqlite").runs()
    assert [r["status"] for r in runs] == ["done", "done"], [r["error"] for r in runs]
    assert sorted((r["attempts"], r["faults"]) for r in runs) == [(1, 0), (2, 1)]
    assert on_ray.stderr.count("retry ring8__") + on_ray.stdout.count("retry ring8__") == 1
    pooled = _study([str(tmp_path / "spec.yaml"), "--dir", str(tmp_path / "pool"), "--workers", "2"], env,
                    plugin=plugin)  # the marker exists: nothing is killed here
    assert pooled.returncode == 0, pooled.stderr[-2000:]
    assert (Store(tmp_path / "ray" / "study.sqlite").results_table()
            == Store(tmp_path / "pool" / "study.sqlite").results_table())


def test_a_run_that_always_kills_its_ray_worker_is_left_queued_after_bounded_starts(ray_head, tmp_path):
    address, env = ray_head
    env = _plugin_env(env, tmp_path)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("grid: {loss: [ns, hinge]}\n", "")
                                        .replace("base: {", "base: {loss: die-always, ")
                                        .replace("seeds: 2", "seeds: 1"))
    on_ray = _study([str(tmp_path / "spec.yaml"), "--dir", str(tmp_path / "ray"), "--executor", "ray",
                     "--address", address], env, plugin=["--plugin", "ray_killer"])
    assert on_ray.returncode == 1, on_ray.stderr[-2000:]  # a machine fault, not the user's input
    assert "Traceback" not in on_ray.stderr
    # the line is searched for anywhere, not at a line's start: Ray's error-listener thread prints its own
    # "(raylet) A worker died ..." with print(), whose text and newline are two writes, and the study's line can
    # land between them (CI 2026-11-30 printed "...kill.  queued ring8__base__s0: ..." on one line)
    queued = re.findall(r"queued ring8__base__s0: [^\n]*", on_ray.stdout + on_ray.stderr)
    assert len(queued) == 1 and "worker died" in queued[0] and "3 times" in queued[0], \
        f"stdout:\n{on_ray.stdout[-3000:]}\nstderr:\n{on_ray.stderr[-3000:]}"
    [run] = Store(tmp_path / "ray" / "study.sqlite").runs()
    assert (run["status"], run["attempts"], run["faults"]) == ("queued", 3, 3)  # MAX_LOSSES + 1 starts, no more
