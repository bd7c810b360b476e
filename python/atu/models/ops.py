"""Which implementation of StyleGAN2's three custom ops the models call.

The models always run on atu_ext's compiled ops. `use_ops("reference")` switches them, for the
duration of a `with` block, to the plain-PyTorch references in atu_ext.reference: the oracle the
tests compare against and the baseline the benchmarks measure. It is never a silent fallback.
"""
from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import atu_ext
from atu_ext import reference

BACKENDS = ("atu_ext", "reference")
_backend = contextvars.ContextVar("atu_models_ops", default="atu_ext")


@contextlib.contextmanager
def use_ops(name: str) -> Iterator[None]:
    if name not in BACKENDS:
        raise ValueError(f"unknown ops backend {name!r}; choose one of {BACKENDS}")
    token = _backend.set(name)
    try:
        yield
    finally:
        _backend.reset(token)


def current() -> str:
    return _backend.get()


def upfirdn2d(x, f, up=1, down=1, padding=0, gain=1.0):
    impl = atu_ext.upfirdn2d if _backend.get() == "atu_ext" else reference.upfirdn2d
    return impl(x, f, up=up, down=down, padding=padding, gain=gain)


def bias_act(x, b=None, act="linear"):
    impl = atu_ext.bias_act if _backend.get() == "atu_ext" else reference.bias_act
    return impl(x, b, act=act)


def modulated_conv2d(x, weight, styles, *, demodulate, up=1, down=1, resample_filter=None):
    impl = atu_ext.modulated_conv2d if _backend.get() == "atu_ext" else reference.modulated_conv2d
    return impl(x, weight, styles, demodulate=demodulate, up=up, down=down, resample_filter=resample_filter)
