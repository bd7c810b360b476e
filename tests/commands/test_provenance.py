"""What outputs record about how they were made."""

import os
import subprocess
import sys

import pytest
import torch

from atu.util.provenance import file_record, provenance


def test_provenance_records_the_thread_count_results_depend_on():
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert provenance()["torch_threads"] == threads
    finally:
        torch.set_num_threads(before)


def test_file_record_hashes_the_bytes(tmp_path):
    path = tmp_path / "abc.bin"
    path.write_bytes(b"abc")
    record = file_record(path)
    # FIPS 180-2's example digest of "abc"
    assert record["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert record["path"] == str(path.resolve())


def _branch_in_a_fresh_process(**env):
    code = "from atu.util.provenance import mkl_cbwr_branch; print(mkl_cbwr_branch())"
    environ = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"} | env
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_provenance_records_the_mkl_code_path_read_from_mkl_itself():
    if provenance()["mkl_cbwr"] is None:
        pytest.skip("this torch has no MKL")
    assert _branch_in_a_fresh_process() == "OFF"  # MKL's default: kernels per CPU
    assert _branch_in_a_fresh_process(MKL_CBWR="COMPATIBLE") == "COMPATIBLE"
    assert _branch_in_a_fresh_process(MKL_CBWR="COMPATIBLE,STRICT") == "COMPATIBLE,STRICT"
    # and this test process runs pinned (tests/conftest.py), so training outcomes hold on every CI CPU
    assert provenance()["mkl_cbwr"] == "COMPATIBLE"
