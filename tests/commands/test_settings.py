"""atu.util.settings: one declaration per setting, and the forms derived from it (options, records,
study-file sections) agreeing with each other and with the configurations the commands build."""

import argparse
import json
from dataclasses import dataclass, fields

import pytest

from atu.cli import build_parser
from atu.eval.attack import AttackSettings
from atu.gan.trainer import TrainConfig
from atu.latent.run import LatentConfig
from atu.stages.adapt import AdaptConfig
from atu.stages.unlearn import UnlearnConfig
from atu.util import settings
from atu.util.settings import NO_FLAG, setting
from atu.util.validate import positive_int


@dataclass
class Inner:
    rate: float = setting(0.5, help="a rate")


@dataclass
class Example:
    count: int = setting(3, help="how many", check=positive_int)
    mode: str = setting("a", help="which mode", choices=("a", "b"))
    scale: float = setting(1.5, help="a scale", flag="--size")
    hidden: int = setting(7, help="file-only", flag=NO_FLAG)
    fast: bool = setting(False, help="go fast", record_default=False)
    inner: Inner = setting(default_factory=Inner, help="nested")

    def __post_init__(self):
        settings.check_fields(self)


def _parse(argv, **kw):
    p = argparse.ArgumentParser()
    settings.add_options(p, Example, **kw)
    return p.parse_args(argv)


def test_options_come_from_the_fields_with_their_flags_defaults_and_types():
    args = _parse([])
    assert settings.from_options(Example, args) == Example()
    args = _parse(["--count", "5", "--mode", "b", "--size", "2.25", "--fast"])
    assert settings.from_options(Example, args) == Example(count=5, mode="b", scale=2.25, fast=True)
    assert not hasattr(_parse([]), "hidden")  # NO_FLAG: no option
    assert _parse([], defaults={"count": 9}).count == 9  # a command's own default
    with pytest.raises(SystemExit):
        _parse(["--mode", "c"])  # choices reach argparse
    with pytest.raises(SystemExit):
        _parse(["--count", "x"])


def test_record_and_mapping_round_trip_and_record_default_is_left_out_while_default():
    assert settings.to_dict(Example()) == {"count": 3, "mode": "a", "scale": 1.5, "hidden": 7, "inner": {"rate": 0.5}}
    changed = Example(count=4, fast=True, inner=Inner(rate=0.25))
    record = settings.to_dict(changed)
    assert record["fast"] is True and record["inner"] == {"rate": 0.25}
    assert settings.from_mapping(Example, json.loads(json.dumps(record)), "x") == changed


@pytest.mark.parametrize(
    "mapping, message",
    [
        ({"cuont": 3}, "unknown setting(s) 'x.cuont'"),
        ({"count": 2.0}, "x.count: expected an integer, got 2.0"),
        ({"count": True}, "x.count: expected an integer"),
        ({"scale": "1e3"}, "write 5.0e+8, not 5e8"),
        ({"fast": "yes"}, "x.fast: expected true or false"),
        ({"mode": "c"}, "x: mode must be one of a, b; got 'c'"),
        ({"count": 0}, "x: count must be an integer from 1 to 10,000,000, got 0"),
        ({"inner": {"rat": 1}}, "unknown setting(s) 'x.inner.rat'"),
        ({"inner": 3}, "x.inner: expected a mapping"),
        ("count: 3", "x: expected a mapping"),
    ],
)
def test_a_bad_section_names_the_key_and_what_is_wrong(mapping, message):
    with pytest.raises(ValueError) as err:
        settings.from_mapping(Example, mapping, "x")
    assert message in str(err.value)


def test_allowed_narrows_what_a_file_may_set():
    with pytest.raises(ValueError, match="unknown setting"):
        settings.from_mapping(Example, {"hidden": 1}, "x", allowed=("count",))
    assert settings.from_mapping(Example, {"count": 2}, "x", allowed=("count",), mode="b") == Example(count=2, mode="b")


def test_ints_are_accepted_for_floats_and_become_floats():
    cfg = settings.from_mapping(Example, {"scale": 2}, "x")
    assert cfg.scale == 2.0 and isinstance(cfg.scale, float)


# ---- the configurations of the commands ----------------------------------------------------------------

COMMANDS = {"adapt": AdaptConfig, "unlearn": UnlearnConfig, "latent-unlearn": LatentConfig, "attack": AttackSettings}
REQUIRED = {
    "adapt": ["--gen", "g", "--feedback", "f", "--out", "o"],
    "unlearn": ["--gen", "g", "--adapted", "a", "--feedback", "f", "--out", "o"],
    "latent-unlearn": ["--gen", "g", "--feedback", "f", "--out", "o"],
    "attack": ["--gen", "g", "--classifier", "c", "--judge", "j", "--class", "8", "--out", "o"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_command_parses_to_its_configurations_defaults(command):
    """The command's defaults are the dataclass's: a field declared once, read the same everywhere."""
    cls = COMMANDS[command]
    args = build_parser().parse_args([command, *REQUIRED[command]])
    nested = {f.name: settings.from_options(TrainConfig, args) for f in fields(cls) if f.name == "train"}
    assert settings.from_options(cls, args, **nested) == cls()


@pytest.mark.parametrize("cls", [TrainConfig, AdaptConfig, UnlearnConfig, LatentConfig, AttackSettings])
def test_each_configuration_reads_back_its_own_record(cls):
    record = json.loads(json.dumps(settings.to_dict(cls())))
    assert settings.from_mapping(cls, record, "x") == cls()


def test_every_setting_of_the_stage_configurations_has_a_help_text():
    for cls in (TrainConfig, AdaptConfig, UnlearnConfig, LatentConfig, AttackSettings):
        for f in fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name}"


@dataclass
class WithOptional:
    limit: float | None = setting(None, help="an optional bound", flag=NO_FLAG)


def test_an_optional_setting_takes_none_or_its_type():
    assert settings.from_mapping(WithOptional, {"limit": None}, "x").limit is None
    assert settings.from_mapping(WithOptional, {"limit": 2}, "x").limit == 2.0
    with pytest.raises(ValueError, match="x.limit: expected a number"):
        settings.from_mapping(WithOptional, {"limit": "two"}, "x")
