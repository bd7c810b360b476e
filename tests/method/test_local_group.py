"""util/local_group.py: a function run by a gloo group of spawned processes, and a study whose
stages share out their work over such a group (`atu run --processes 2`) against the same study in
one process: stage 1 bit for bit (each model trains on one thread either way), stage 2 and the
evaluation up to the rounding of data parallelism."""

import multiprocessing
import os
import signal
import threading
import time

import pytest

import group_functions as fns
from atu.util import local_group
from atu.util.errors import RunFailedError
from atu.util.local_group import auto_processes, run_in_group, threads_per_process

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py
_GET_CONTEXT = multiprocessing.get_context  # the real one, before a test patches it


def test_each_rank_joins_the_group_on_its_share_of_the_threads_and_rank_0_answers():
    total, threads, world, rank = run_in_group(fns.rank_sum_and_threads, (10.0,), processes=2, threads=1)
    assert (total, threads, world, rank) == (10.0 + 11.0, 1, 2, 0)
    # one process: the function runs here, outside any group
    assert run_in_group(fns.rank_sum_and_threads, (10.0,), processes=1) == (10.0, 1, 1, 0)


def test_threads_are_divided_and_auto_means_two_cpu_processes_when_there_are_two_cores(monkeypatch):
    assert threads_per_process(2, total=8) == 4 and threads_per_process(2, total=1) == 1
    monkeypatch.setattr(local_group, "usable_cores", lambda: 16)
    assert auto_processes("cpu") == 2 and auto_processes("cuda") == 1 and auto_processes("cuda:1") == 1
    monkeypatch.setattr(local_group, "usable_cores", lambda: 1)
    assert auto_processes("cpu") == 1
    with pytest.raises(ValueError, match="processes must be >= 1"):
        run_in_group(fns.rank_sum_and_threads, (0.0,), processes=0)


def test_a_ranks_exception_comes_back_with_its_type_and_rank_and_the_waiting_peer_is_stopped(monkeypatch):
    monkeypatch.setattr(local_group, "FAILURE_GRACE_S", 1.0)
    started = time.monotonic()
    with pytest.raises(ValueError, match="no such class") as err:
        run_in_group(fns.fail_on_rank_1, ("no such class",), processes=2)
    assert any("in rank 1 of 2" in note for note in getattr(err.value, "__notes__", []))
    assert time.monotonic() - started < 60  # rank 0 did not wait out the group's timeout


def test_the_failing_rank_is_reported_when_its_peers_broken_connection_arrives_first(monkeypatch):
    """Rank 1 leaves the group before its report is sent (the session closes on the way out), so
    rank 0's "connection closed" reaches the parent first: the parent still raises rank 1's error."""
    monkeypatch.setattr(local_group, "FAILURE_GRACE_S", 10.0)
    with pytest.raises(fns.SlowToPickleError, match="no such class") as err:
        run_in_group(fns.fail_slowly_on_rank_1, ("no such class",), processes=2)
    assert any("in rank 1 of 2" in note for note in getattr(err.value, "__notes__", []))


def test_a_rank_that_dies_is_named_and_the_other_is_stopped(monkeypatch):
    monkeypatch.setattr(local_group, "FAILURE_GRACE_S", 1.0)
    with pytest.raises(ChildProcessError, match=r"rank 1 .*exit status 7|atu-rank1 .*exit status 7") as err:
        run_in_group(fns.die_on_rank_1, processes=2)
    # a run that started and failed: `atu` ends with 1, not with 2 (bad input) as it did
    assert isinstance(err.value, RunFailedError) and err.value.exit_status == 1


def test_ctrl_c_reaches_every_rank_once_and_raises_keyboard_interrupt_here(tmp_path, monkeypatch):
    """Also when this process inherited an ignored SIGINT (a background job's): the children honour
    what the parent forwards."""
    # Ctrl-C here raises KeyboardInterrupt whatever this process inherited; the children are handed
    # an ignored SIGINT, as a background job's children are
    monkeypatch.setattr(local_group.multiprocessing, "get_context", _context_with_sigint_ignored_at_spawn)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _ctrl_c_reaches_every_rank(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)


def _context_with_sigint_ignored_at_spawn(method):
    context = _GET_CONTEXT(method)

    class Context:
        Process = fns.SpawnedWithSigintIgnored

        def __getattr__(self, name):
            return getattr(context, name)

    return Context()


def _ctrl_c_reaches_every_rank(tmp_path):
    def press_ctrl_c():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all((tmp_path / f"started_{r}").exists() for r in (0, 1)):
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        run_in_group(fns.wait_for_interrupt, (str(tmp_path),), processes=2)
    presser.join()
    assert all((tmp_path / f"interrupted_{r}").exists() for r in (0, 1))
