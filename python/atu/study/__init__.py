"""A whole Adapt-then-Unlearn study (features × seeds × methods) from one configuration: `atu run`
and `atu demo` (config.py reads it, runner.py runs it resumably, evaluation.py and report.py judge
and report it)."""

from .checks import ConfigError
from .config import StudyConfig, from_dict
from .config_file import load_config
from .features import Feature
from .inputs import StudyError
from .methods import METHODS
from .runner import run_study

__all__ = ["METHODS", "ConfigError", "Feature", "StudyConfig", "StudyError", "from_dict", "load_config", "run_study"]
