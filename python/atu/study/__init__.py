"""A whole Adapt-then-Unlearn study (features × seeds × methods) from one configuration: `atu run`
and `atu demo` (config.py reads it, runner.py runs it resumably, evaluation.py and report.py judge
and report it)."""

from .config import ConfigError, Feature, StudyConfig, from_dict, load_config
from .methods import METHODS
from .runner import StudyError, run_study

__all__ = ["METHODS", "ConfigError", "Feature", "StudyConfig", "StudyError", "from_dict", "load_config", "run_study"]
