"""Shared builder-option checks: normalised values, or one ConfigError line naming model, option and value."""
import pytest

from bench.errors import ConfigError
from bench.models.options import choice, flag, int_option, probability


def test_int_option_accepts_integral_numbers_only():
    assert int_option("m", "frames", 5) == 5 and int_option("m", "frames", 5.0) == 5
    assert int_option("m", "layers", 0, minimum=0) == 0
    for bad in (2.5, True, "5", None, float("nan"), 0):
        with pytest.raises(ConfigError, match=r"^m: frames=.* must be an integer >= 1$"):
            int_option("m", "frames", bad)


def test_flag_choice_probability():
    assert flag("m", "causal", False) is False
    with pytest.raises(ConfigError, match="m: causal='yes' must be true or false"):
        flag("m", "causal", "yes")
    assert choice("m", "unit", "a", ("a", "b")) == "a"
    with pytest.raises(ConfigError, match="m: unit='c' is not one of a, b"):
        choice("m", "unit", "c", ("a", "b"))
    assert probability("m", "dropout", 0) == 0.0
    for bad in (1.0, -0.1, True, "0.5"):
        with pytest.raises(ConfigError, match=r"m: dropout=.* must be a number in \[0, 1\)"):
            probability("m", "dropout", bad)
