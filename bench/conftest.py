"""Fixtures of the benchmarks (helpers live in bench_common.py)."""

import pytest

from bench_common import SHAPE_SETS, Problem, bench_device

_CACHE = {}


@pytest.fixture(params=list(SHAPE_SETS), ids=lambda n: n)
def problem(request):
    key = (request.param, bench_device())
    if key not in _CACHE:
        _CACHE.clear()  # keep one problem alive at a time: 30M-value sets are large
        _CACHE[key] = Problem(SHAPE_SETS[request.param], bench_device())
    return _CACHE[key]
