"""A small study on a real local Ray instance, on loopback. Skipped where Ray is not installed."""

import os
import socket
import subprocess
import sys

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    env = {**os.environ, **RAY_ENV}
    ray_bin = os.path.join(os.path.dirname(sys.executable), "ray")
    port = _free_port()
    temp = tmp_path_factory.mktemp("ray")
    start = subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                            "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
                            f"--temp-dir={temp}"], env=env, capture_output=True, text=True, timeout=180, check=False)
    if start.returncode != 0:
        pytest.fail(f"could not start a local Ray head: {start.stderr[-1500:]}")
    yield f"127.0.0.1:{port}", env
    subprocess.run([ray_bin, "stop", "--force"], env=env, capture_output=True, timeout=120, check=False)


def _study(args, env, timeout=300):
    return subprocess.run([sys.executable, "-m", "ganbench", "study", "run", *args, "--no-progress", "--no-report"],
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
