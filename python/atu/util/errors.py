"""The errors atu reports to its user in one line, each carrying the exit status `atu` ends with:
2 when the input cannot be used (an option, a file, a configuration, a checkpoint; nothing was done),
1 when a run that started failed (e.g. a non-finite loss; its last checkpoint is kept). cli.main
catches AtuError once; the subclasses stay ValueErrors / RuntimeErrors for callers of the API."""

from __future__ import annotations


class AtuError(Exception):
    """Reported as `atu <command>: error: <message>`, exit status `exit_status`."""

    exit_status = 1


class InputError(AtuError, ValueError):
    """Input that cannot be used; raised before any work is done."""

    exit_status = 2


class RunFailedError(AtuError, RuntimeError):
    """A run that started and could not finish; what it completed is kept."""

    exit_status = 1


class NonFiniteOutputError(InputError):
    """A model with finite weights whose outputs are NaN or infinite: refused when it is run, naming
    it, so that no metric is computed from it (a NaN image would otherwise be judged "no feature")."""
