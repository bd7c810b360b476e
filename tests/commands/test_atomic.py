"""atu.util.atomic: a failed write leaves the previous file and no temporary; results get normal permissions."""

import os
import subprocess
import sys

import pytest

from atu.util.atomic import write_text, write_with


def test_a_failing_writer_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    write_text(target, "old")

    def half_then_crash(tmp):
        tmp.write_text("half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_with(target, half_then_crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        with open(tmp_path / "b.txt", "w") as fh:
            fh.write("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o644


_UNDER_A_FILE_SIZE_LIMIT = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))   # `ulimit -f`
from atu.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_write_the_disk_refuses_ends_in_one_line_and_exit_1(tmp_path, suffix):
    """Before: SafetensorError / RuntimeError tracebacks (`ulimit -f`, a full disk)."""
    from atu import assets

    source = assets.path("mnist32.safetensors")
    out = tmp_path / f"converted{suffix}"
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_A_FILE_SIZE_LIMIT, "100000", "convert", str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert (
        done.stderr.strip()
        == f"atu convert: error: cannot write {out}: "
        + ("the file is over the size limit" if suffix == ".safetensors" else "the disk refused the write")
        + "; nothing was written"
    )
    assert list(tmp_path.iterdir()) == []


def test_an_unrelated_failure_of_a_writer_is_not_called_a_disk_problem(tmp_path):
    from atu.util.atomic import WriteFailedError

    def broken(tmp):
        raise RuntimeError("a bug in the writer")

    with pytest.raises(RuntimeError, match="a bug in the writer") as err:
        write_with(tmp_path / "x.bin", broken)
    assert not isinstance(err.value, WriteFailedError)
