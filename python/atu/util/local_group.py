"""Several processes on this machine without torchrun: a function run by a gloo process group that
this process starts, waits for and stops.

    result = run_in_group(adapt, args, kwargs, processes=2, device="cpu")

Each of the `processes` children joins the group exactly as under torchrun (util/distributed.py:
the same environment variables, so the stages share out their work the same way), runs
fn(*args, **kwargs) on torch.get_num_threads() // processes threads, and rank 0's return value comes
back. Why: on a small CPU model one process does not keep its threads busy (a stage-1 run on 1 thread
is not half as fast as on 2), so two one-thread processes training the k adapted models side by side,
or the two halves of each batch, finish sooner than one two-thread process (bench/results,
"processes").

Errors: a child's exception is raised here again (the same type, with the child's traceback as a
note, when it pickles; else a ChildProcessError carrying both), after the other children are stopped: a rank left
waiting in a collective for a dead peer would otherwise hang until the group's timeout.
Ctrl-C: the children run in their own process group, so the terminal's interrupt reaches only this
process, which passes exactly one on to each child (the training loops then stop between steps and
keep their checkpoint, as in one process; a second interrupt would lose the step in flight) and
raises KeyboardInterrupt once they are done. A child whose parent dies stops by itself.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import distributed
from .errors import RunFailedError

# How long children get to finish their step and save after an interrupt before being killed.
INTERRUPT_GRACE_S = 120.0
# How long the others get to stop on their own once one child failed.
FAILURE_GRACE_S = 10.0
POLL_S = 0.1


# Processes `auto` starts on a CPU: two one-thread processes beat one two-thread process on a 2-core
# CPU (bench/results); more were not measured, so more are the user's choice (--processes N).
AUTO_CPU_PROCESSES = 2


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def auto_processes(device: str) -> int:
    """What --processes auto means: AUTO_CPU_PROCESSES on a CPU with that many cores, else one process
    (a GPU run keeps its one process: several per GPU would only contend)."""
    return min(AUTO_CPU_PROCESSES, usable_cores()) if device == "cpu" else 1


def threads_per_process(processes: int, total: int | None = None) -> int:
    """The torch threads each of `processes` children gets out of `total` (default: this process's)."""
    import torch

    total = torch.get_num_threads() if total is None else total
    return max(1, total // processes)


def run_in_group(
    fn: Callable,
    args: tuple = (),
    kwargs: dict | None = None,
    *,
    processes: int,
    device: str = "cpu",
    threads: int | None = None,
) -> Any:
    """fn(*args, **kwargs) on each of `processes` ranks of a fresh gloo group (CPU; `device` is what
    distributed.session gives each rank); rank 0's result. fn and its arguments must pickle (a
    module-level function; paths, configurations). processes = 1 runs fn here, in this process."""
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if processes == 1:
        return fn(*args, **(kwargs or {}))
    if distributed.launched() or distributed.active():
        raise RuntimeError("already one of several processes (torchrun): cannot start a group of its own")
    threads = threads or threads_per_process(processes)
    context = multiprocessing.get_context("spawn")  # fork would copy torch's thread pools and locks
    port = _free_port()
    pipes, children = [], []
    for rank in range(processes):
        receive, send = context.Pipe(duplex=False)
        child = context.Process(
            target=_child,
            name=f"atu-rank{rank}",
            daemon=False,
            args=(rank, processes, port, threads, device, os.getpid(), fn, args, kwargs or {}, send),
        )
        child.start()
        send.close()  # the child holds the sending end now
        pipes.append(receive)
        children.append(child)
    return _wait(children, pipes)


def _wait(children, pipes) -> Any:
    outcomes: dict[int, tuple] = {}
    interrupted = False
    try:
        while len(outcomes) < len(children):
            for rank, (child, pipe) in enumerate(zip(children, pipes)):
                if rank in outcomes:
                    continue
                if pipe.poll():
                    outcomes[rank] = _receive(pipe, child)
                elif not child.is_alive():
                    outcomes[rank] = (
                        _receive(pipe, child)
                        if pipe.poll()
                        else ("error", ChildProcessError(f"rank {rank} died (exit status {child.exitcode})"))
                    )
            if any(kind == "error" for kind, *_ in outcomes.values()):
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        interrupted = True
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGINT)
        _join(children, INTERRUPT_GRACE_S)
    _join(children, FAILURE_GRACE_S)
    for child in children:
        child.join()
    # Reports that arrived after the first error: a failing rank leaves the group before its report
    # is sent, so its peer's broken connection often comes first, and the cause only now
    for rank, (child, pipe) in enumerate(zip(children, pipes)):
        if rank not in outcomes and pipe.poll():
            outcomes[rank] = _receive(pipe, child)
    if interrupted or any(o[0] == "interrupted" for o in outcomes.values()):
        raise KeyboardInterrupt
    errors = [(rank, o[1]) for rank, o in sorted(outcomes.items()) if o[0] == "error"]
    if errors:
        # the first failure, not the peers' broken connections that it caused
        rank, error = min(errors, key=lambda e: not _is_primary(e[1]))
        raise error
    return outcomes[0][1]


def _is_primary(error: BaseException) -> bool:
    """False for the errors a rank raises because a peer went away (gloo's broken connections)."""
    text = f"{type(error).__name__}: {error}"
    return not any(
        s in text
        for s in ("Connection closed by peer", "Connection reset", "Broken pipe", "rank died", "DistBackendError")
    )


def _join(children, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    for child in children:
        if child.is_alive():
            child.kill()


class RankDiedError(RunFailedError, ChildProcessError):
    """A rank that ended without reporting (killed, out of memory, os._exit): the run started and
    failed, so `atu` ends with status 1, as for any failed run, not 2 (which says the input was bad)."""


def _receive(pipe, child) -> tuple:
    try:
        return pipe.recv()
    except EOFError:
        child.join()
        code = child.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return "error", RankDiedError(f"{child.name} ended without a result ({how})")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(rank, world, port, threads, device, parent_pid, fn, args, kwargs, send) -> None:
    os.setpgid(0, 0)  # out of the terminal's process group: interrupts come from the parent
    # ... and are always honoured: a parent started as a background job hands its children an ignored
    # SIGINT (which Python keeps), and the SIGINT it forwards would then be lost
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.update(
        {
            "WORLD_SIZE": str(world),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "LOCAL_WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    import torch

    torch.set_num_threads(threads)
    try:
        with distributed.session(device):
            result = fn(*args, **kwargs)
        send.send(("ok", result if rank == 0 else None))
    except KeyboardInterrupt:
        send.send(("interrupted",))
    except BaseException as err:  # noqa: BLE001 (every failure goes back to the parent)
        where = f"in rank {rank} of {world}:\n{traceback.format_exc()}"
        try:
            err.add_note(where)
            pickle.dumps(err)
        except Exception:  # an exception that does not pickle: its type, text and traceback
            err = ChildProcessError(f"{type(err).__name__}: {err}\n{where}")
        send.send(("error", err))
    finally:
        send.close()


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            os._exit(1)
