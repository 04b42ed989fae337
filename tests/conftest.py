import pytest
import torch


@pytest.fixture(autouse=True)
def _single_thread():
    # the 2-core CI box runs tests faster, and bit-for-bit comparisons stay meaningful
    torch.set_num_threads(1)
    yield
