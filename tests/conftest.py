"""Pytest hooks shared by every test (helpers live in tensor_cases.py)."""

import os

# MKL, torch's BLAS on x86, picks its kernels by CPU vendor and model; COMPATIBLE is its
# vendor-neutral branch, so the suite's matrix products take one documented path on every CI CPU.
# It does not make an Intel Xeon and an AMD EPYC follow one GAN trajectory (measured on the MoG toy:
# bench/results/experiments/cpu-2core-xeon-toy-pretrain-seeds.json): a test that asserts a training
# outcome holds by margins measured over seeds on both kinds. Set before torch loads MKL; the
# subprocesses the tests start inherit it. test_provenance.py checks that it took effect.
os.environ.setdefault("MKL_CBWR", "COMPATIBLE")

import pytest  # noqa: E402
import torch  # noqa: E402


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


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """atu's cache (measurements of whole datasets) in a folder of this test session's own: no test
    reads what another machine's run left in ~/.cache/atu, or leaves anything there."""
    os.environ["ATU_CACHE"] = str(tmp_path_factory.mktemp("atu_cache"))
