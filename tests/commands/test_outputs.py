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
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=os.environ)
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.kill()
    proc.wait()


def test_a_second_process_on_the_same_out_is_refused_before_any_work(holder, capsys):
    out, proc = holder
    assert main(["demo", "--toy", "mog", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"--out {out} is being written by another atu process (pid {proc.pid})" in err
    assert not out.exists()  # nothing was started, nothing written
    # the same folder spelled another way is the same output
    other_spelling = out.parent / "." / out.name
    with pytest.raises(outputs.OutputInUseError):
        with outputs.held(other_spelling):
            pass


def test_the_lock_is_free_again_when_its_holder_ends_however_it_ends(holder):
    out, proc = holder
    proc.kill()  # SIGKILL: no cleanup code runs
    proc.wait()
    with outputs.held(out):
        pass
    with outputs.held(out):  # released on leaving the block, too
        pass


def test_under_torchrun_only_rank_0_takes_the_lock(holder, monkeypatch, capsys):
    out, _ = holder
    from atu.commands import demo

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(demo, "_main", lambda args: 0)  # the command itself is not what is tested
    # rank 1 is not refused by the lock: it reaches the command
    code = main(["demo", "--toy", "mog", "--out", str(out), "--no-progress"])
    assert "being written by another atu process" not in capsys.readouterr().err
    assert code == 0


@pytest.mark.parametrize(
    "command",
    [
        ["demo", "--toy", "mog", "--no-progress"],
        ["pretrain", "--data", "digits", "--size", "16", "--steps", "1"],
        ["feedback", "--gen", "/nonexistent.safetensors", "--n", "4", "--draw-only"],
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    cases = {
        a_file / "run": "is a file, not a folder",
        loop / "run": "cannot be resolved",
        dangling: "a symlink to nothing",
    }
    if os.geteuid() != 0:  # root writes anywhere: the permission case needs a user
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        cases[locked / "run"] = "is not writable"
    for out, message in cases.items():
        started = time.perf_counter()
        code = main([*command, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (out, err)
        assert time.perf_counter() - started < 5  # refused at once, not after the work
    assert a_file.read_text() == "mine"


def test_processes_with_other_temporary_folders_share_the_lock(holder, tmp_path):
    """Before: the lock lived under TMPDIR, so a second process with another TMPDIR wrote the same
    folder at once."""
    out, proc = holder
    other_tmp = tmp_path / "elsewhere"
    other_tmp.mkdir()
    attempt = subprocess.run(
        [sys.executable, "-c", HOLD, str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TMPDIR": str(other_tmp)},
    )
    assert attempt.returncode != 0 and "being written by another atu process" in attempt.stderr


def test_the_same_folder_through_a_symlinked_parent_is_the_same_output(holder, tmp_path):
    out, _ = holder
    alias = tmp_path / "alias"
    alias.symlink_to(out.parent, target_is_directory=True)
    with pytest.raises(outputs.OutputInUseError):
        with outputs.held(alias / out.name):
            pass


def test_a_planted_lock_folder_or_symlink_is_refused_and_never_written_through(tmp_path, monkeypatch):
    """Before: a symlink named after a victim's --out in a lock folder someone else created made atu
    truncate the link's target to 0 bytes."""
    monkeypatch.setattr(outputs, "LOCK_ROOT", tmp_path / "root")
    (tmp_path / "root").mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    out = tmp_path / "run"
    folder = tmp_path / "root" / f"atu-{os.getuid()}"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # open to others, as another user's would be
    with pytest.raises(outputs.OutputNotWritableError, match="not a private folder of this user"):
        with outputs.held(out):
            pass
    folder.chmod(0o700)
    (folder / f"{outputs.lock_key(out)}.lock").symlink_to(victim)
    with pytest.raises(outputs.OutputNotWritableError, match="cannot open the lock file"):
        with outputs.held(out):
            pass
    assert victim.read_text() == "keep me"
    assert main(["demo", "--toy", "mog", "--out", str(out), "--no-progress"]) == 2 and not out.exists()
