"""Pytest hooks shared by every test (helpers live in tensor_cases.py)."""
import pytest
import torch


def pytest_generate_tests(metafunc):
    """Every test with a `device` argument runs on CPU and on CUDA; CUDA skips without a GPU."""
    if "device" in metafunc.fixturenames:
        no_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
        metafunc.parametrize("device", ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, no_gpu])])


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's tests (`pytestmark = pytest.mark.usefixtures("one_thread")`):
    two threads on a CPU shared with other jobs stall for seconds at a time."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
