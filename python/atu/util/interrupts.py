"""Ctrl-C that waits for the current training step to finish.

A KeyboardInterrupt raised in the middle of a step can leave the models half-updated (D stepped, G
not) and the data sampler ahead of the weights; saving that state would make a resumed run differ
from an uninterrupted one. Inside `deferred_interrupts()`, the first Ctrl-C only sets a flag that the
loop checks between steps, where `check()` raises StoppedBetweenSteps: the one interrupt after
which the state may be saved. A second Ctrl-C raises a plain KeyboardInterrupt at once, wherever
the step is, and nothing is saved: the last periodic checkpoint (written atomically) stays the
resume point.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class StoppedBetweenSteps(KeyboardInterrupt):
    """Ctrl-C honoured between two steps: the training state is consistent and may be saved."""


class InterruptFlag:
    def __init__(self) -> None:
        self.requested = False

    def check(self) -> None:
        """Raises StoppedBetweenSteps if Ctrl-C was pressed since the flag was set up."""
        if self.requested:
            raise StoppedBetweenSteps


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[InterruptFlag]:
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signal handlers can only be installed from the main thread
        return

    def on_sigint(signum, frame):
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True
        print("\natu: Ctrl-C: finishing the current step, then saving (press again to stop at once)", flush=True)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
