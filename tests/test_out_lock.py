"""One atu process per --out: a second one is refused at once (exit 2), before any work."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from atu.cli import main
from atu.util import out_lock

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"
HOLD = """
import sys, time
from atu.util import out_lock
with out_lock.held(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of tmp_path/run until the test ends."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(PYTHON_DIR)})
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.kill()
    proc.wait()


def test_a_second_process_on_the_same_out_is_refused_before_any_work(holder, capsys):
    out, proc = holder
    assert main(["demo", "--toy", "mog", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is being written by another atu process (pid {proc.pid})" in err
    assert not out.exists()                        # nothing was started, nothing written
    # the same folder spelled another way is the same output
    other_spelling = out.parent / "." / out.name
    with pytest.raises(out_lock.OutputInUseError):
        with out_lock.held(other_spelling):
            pass


def test_the_lock_is_free_again_when_its_holder_ends_however_it_ends(holder):
    out, proc = holder
    proc.kill()                                    # SIGKILL: no cleanup code runs
    proc.wait()
    with out_lock.held(out):
        pass
    with out_lock.held(out):                       # released on leaving the block, too
        pass


def test_under_torchrun_only_rank_0_takes_the_lock(holder, monkeypatch, capsys):
    out, _ = holder
    monkeypatch.setenv("RANK", "1")
    # rank 1 is not refused by the lock (it fails later, on the folder check, for its own reason)
    code = main(["demo", "--toy", "mog", "--out", str(out), "--seeds", "-1", "--no-progress"])
    assert "being written by another atu process" not in capsys.readouterr().err
    assert code == 2
