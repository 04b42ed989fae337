import os

# before torch loads OpenMP: the tests train in this process as the CLI does, whose threads sleep while they wait
# (waitpolicy.py); spinning ones made the in-process trainings with 2 threads (test_confirm, test_threads,
# test_loop's thread-count resume) take twice the CPU time, taken from the other xdist worker's core.
# A wait policy the caller set is kept; tests of the policy itself set or delete the variable themselves.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Classifiers and feature statistics go to a cache of this test session; nothing is downloaded."""
    mp = pytest.MonkeyPatch()
    mp.setenv("GANBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("GANBENCH_OFFLINE", "1")
    mp.setenv("GANBENCH_DATA_HOME", str(tmp_path_factory.mktemp("data")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _single_thread():
    # the 2-core CI box runs tests faster, and bit-for-bit comparisons stay meaningful
    torch.set_num_threads(1)
    yield


@pytest.fixture(autouse=True)
def _fresh_extractors():
    # tests change what building an extractor reads (a monkeypatched recipe or trainer, a private cache):
    # none reuses an extractor an earlier test built
    from ganbench.metrics.features import memo

    memo.forget()
    yield
