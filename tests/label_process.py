"""`atu label` in a process of its own, as a person runs it: started, its address read from what it
prints, stopped with Ctrl-C. Shared by the label tests and the quickstart test."""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager


class LabelProcess:
    """The running command: its port once it listens; `err` and `returncode` once it has stopped."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.url = self._address()
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])
        self.err = ""
        self.returncode = None

    def _address(self) -> str:
        line = ""
        while "open http://" not in line:
            line = self.process.stdout.readline()
            assert line, f"atu label ended early: {self.process.stderr.read()}"
        return line.split("open ", 1)[1].split()[0]


@contextmanager
def label_process(args, cwd):
    """Runs `atu label ARGS --port 0` from `cwd` (outside the checkout: there, `-m` would put the
    uncompiled atu_ext sources first on the path) and interrupts it on leaving."""
    command = [sys.executable, "-m", "atu.cli", "label", *map(str, args), "--port", "0"]
    # Ctrl-C's default action for the child even when the tests run in the background (`cmd &` in a
    # script), whose processes inherit an ignored SIGINT that Python then leaves ignored.
    process = subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    running = None
    try:
        running = LabelProcess(process)
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
        if running is not None:
            running.err, running.returncode = err, process.returncode
