"""Fixtures of the checkpoint tests."""

import pytest

from nvlabs_pickles import install_stand_ins


@pytest.fixture
def nvlabs_env(tmp_path, monkeypatch):
    """Stand-ins for NVlabs' modules (dnnlib, torch_utils) installed for this test; their marker
    file exists only if unpickling executed any of their code."""
    return install_stand_ins(monkeypatch, tmp_path / "EXECUTED")
