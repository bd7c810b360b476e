"""--out before any work: one atu process per output (a second is refused at once, exit 2), and an
output that cannot be written is refused before the work that would write it."""
import os
import subprocess
import sys
import time

import pytest

from atu.cli import main
from atu.util import outputs

HOLD = """
import sys, time
from atu.util import outputs
with outputs.held(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock of tmp_path/run until the test ends."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True,
                            env=os.environ)
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
    with pytest.raises(outputs.OutputInUseError):
        with outputs.held(other_spelling):
            pass


def test_the_lock_is_free_again_when_its_holder_ends_however_it_ends(holder):
    out, proc = holder
    proc.kill()                                    # SIGKILL: no cleanup code runs
    proc.wait()
    with outputs.held(out):
        pass
    with outputs.held(out):                       # released on leaving the block, too
        pass


def test_under_torchrun_only_rank_0_takes_the_lock(holder, monkeypatch, capsys):
    out, _ = holder
    monkeypatch.setenv("RANK", "1")
    # rank 1 is not refused by the lock (it fails later, on the folder check, for its own reason)
    code = main(["demo", "--toy", "mog", "--out", str(out), "--seeds", "-1", "--no-progress"])
    assert "being written by another atu process" not in capsys.readouterr().err
    assert code == 2


@pytest.mark.parametrize("command", [
    ["demo", "--toy", "mog", "--no-progress"],
    ["pretrain", "--data", "digits", "--size", "16", "--steps", "1"],
    ["feedback", "--gen", "/nonexistent.safetensors", "--n", "4", "--draw-only"],
])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    cases = {a_file / "run": "is a file, not a folder", loop / "run": "cannot be resolved",
             dangling: "a symlink to nothing"}
    if os.geteuid() != 0:                           # root writes anywhere: the permission case needs a user
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases[locked / "run"] = "is not writable"
    for out, message in cases.items():
        started = time.perf_counter()
        code = main([*command, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (out, err)
        assert time.perf_counter() - started < 5          # refused at once, not after the work
    assert a_file.read_text() == "mine"
