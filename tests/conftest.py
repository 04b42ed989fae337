import pytest
import torch


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
