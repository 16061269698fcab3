"""Checks of model builder options, shared by every registered model.

Each returns the normalised value or raises one ConfigError line naming the model, the option and the
value (``hossain: dropout=1.0 must be a number in [0, 1)``), so a typo in a protocol or ``--set`` is
reported where it was made.
"""
from __future__ import annotations

import numbers

from bench.errors import ConfigError


def int_option(model: str, name: str, value, minimum: int = 1) -> int:
    """An integer >= ``minimum``; a float with an integral value (``4.0`` from YAML or the CLI) is accepted,
    booleans, fractions and text are not."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer()
    if not ok or value < minimum:
        raise ConfigError(f"{model}: {name}={value!r} must be an integer >= {minimum}")
    return int(value)


def flag(model: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{model}: {name}={value!r} must be true or false")
    return value


def choice(model: str, name: str, value, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{model}: {name}={value!r} is not one of {', '.join(choices)}")
    return value


def probability(model: str, name: str, value) -> float:
    """A dropout-like rate in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{model}: {name}={value!r} must be a number in [0, 1)")
    return float(value)
