import pytest

from tiny_gans import stage_inputs


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The stage tests' θ_G, feedback and adapted models (tiny_gans.stage_inputs), made once a module;
    a module that needs other inputs defines its own."""
    return stage_inputs(tmp_path_factory.mktemp("inputs"))
