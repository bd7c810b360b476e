"""Module-level functions for tests/method/test_local_group.py: what a spawned rank runs must be
importable by name in a fresh interpreter."""

import multiprocessing
import os
import signal
import time
from pathlib import Path

import torch

from atu.util import distributed


def rank_sum_and_threads(x: float) -> tuple[float, int, int, int]:
    """Σ over the ranks of (x + rank), this rank's torch threads, the world size and the rank."""
    total = distributed.all_reduce_sum(torch.tensor(float(x + distributed.rank()), dtype=torch.float64))
    return float(total), torch.get_num_threads(), distributed.world_size(), distributed.rank()


def fail_on_rank_1(message: str) -> int:
    if distributed.rank() == 1:
        raise ValueError(message)
    distributed.barrier()  # rank 0 waits for a peer that never comes
    return 0


class SlowToPickleError(ValueError):
    """Takes a while to pickle, as a big exception does: rank 1's report reaches the parent after
    the broken connection that rank 0 reports at once."""

    def __reduce__(self):
        time.sleep(0.5)
        return type(self), self.args, self.__dict__  # __dict__ holds the notes


def fail_slowly_on_rank_1(message: str) -> int:
    if distributed.rank() == 1:
        raise SlowToPickleError(message)
    distributed.barrier()
    return 0


def die_on_rank_1() -> int:
    if distributed.rank() == 1:
        os._exit(7)
    distributed.barrier()
    return 0


def wait_for_interrupt(folder: str) -> None:
    """Marks itself started, then sleeps until interrupted and marks that (before re-raising)."""
    folder = Path(folder)
    (folder / f"started_{distributed.rank()}").touch()
    try:
        while True:
            time.sleep(0.05)
    except KeyboardInterrupt:
        (folder / f"interrupted_{distributed.rank()}").touch()
        raise


class SpawnedWithSigintIgnored(multiprocessing.get_context("spawn").Process):
    """A spawned process that inherits an ignored SIGINT, as a background job's children do."""

    def start(self):
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            super().start()
        finally:
            signal.signal(signal.SIGINT, handler)
