"""Scales that keep a subset of cells (``only``) and the ``full`` scale that runs every cell."""
import re

import pytest

from bench.errors import ConfigError
from bench.protocols import FULL_SEEDS, parse_protocol

RF = "model.options.receptive_field"


def raw(**quick):
    return {"title": "t", "base": {"model": {"name": "videopose3d"}}, "grid": {RF: [27, 81, 243]},
            "extra_cells": [{"model.name": "martinez"}],
            "scales": {"quick": {"seeds": 2, "train.epochs": 2, **quick}}}


def test_only_keeps_matching_cells_in_order():
    p = parse_protocol(raw(only=[{RF: 243}, {"model.name": "martinez"}]), "x.y", "x.yaml")
    assert p.cell_overrides("quick") == [{RF: 243}, {"model.name": "martinez"}]
    assert p.cell_overrides("paper") == [{RF: 27}, {RF: 81}, {RF: 243}, {"model.name": "martinez"}]


def test_full_runs_every_cell_at_quick_budget_and_three_seeds():
    p = parse_protocol(raw(only=[{RF: 27}], grid={RF: [27]}), "x.y", "x.yaml")
    assert len(p.cell_overrides("full")) == 4
    assert p.scale_config("full") == {"train.epochs": 2}
    assert p.scale_seeds("full") == FULL_SEEDS == 3
    assert p.scale_seeds("quick") == 2


def test_full_entry_overrides_quick():
    r = raw()
    r["scales"]["full"] = {"train.epochs": 9, "seeds": 5}
    p = parse_protocol(r, "x.y", "x.yaml")
    assert p.scale_config("full") == {"train.epochs": 9} and p.scale_seeds("full") == 5


@pytest.mark.parametrize("only, msg", [([{RF: 9}], "only[0]"), ([], "non-empty list"), ("x", "non-empty list")])
def test_bad_only_is_one_line(only, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)):
        parse_protocol(raw(only=only), "x.y", "x.yaml")
