"""What outputs record about how they were made."""
import torch

from atu.provenance import file_record, provenance


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
