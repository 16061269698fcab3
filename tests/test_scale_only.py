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


@pytest.mark.parametrize("only, msg", [([{RF: 9}], "only[0]"), ("x", "list of cell selectors")])
def test_bad_only_is_one_line(only, msg):
    with pytest.raises(ConfigError, match=re.escape(msg)):
        parse_protocol(raw(only=only), "x.y", "x.yaml")


def test_per_model_recipe_applies_to_its_model_only(tmp_path):
    from bench.planning import plan

    r = raw(per_model={"martinez": {"train.batch_size": 32, "model.options.linear_size": 64}})
    r["scales"]["quick"]["model.options.channels"] = 16
    jobs = plan(parse_protocol(r, "x.y", "x.yaml"), "quick", runs_dir=tmp_path)
    by_model = {j.cfg["model"]["name"]: j.cfg for j in jobs}
    assert by_model["martinez"]["train"]["batch_size"] == 32
    assert by_model["martinez"]["model"]["options"]["linear_size"] == 64
    assert by_model["videopose3d"]["train"]["batch_size"] == 1024  # the default, untouched
    assert by_model["videopose3d"]["model"]["options"]["channels"] == 16


@pytest.mark.parametrize("per_model, msg", [({"nosuch": {"train.steps": 5}}, "nosuch"),
                                            ({"martinez": {"model.options.channels": 5}}, "has no option"),
                                            ({"martinez": {"train.stepz": 5}}, "train.steps")])
def test_bad_per_model_is_one_line(tmp_path, per_model, msg):
    from bench.planning import plan

    with pytest.raises(ConfigError, match=re.escape(msg)):
        plan(parse_protocol(raw(per_model=per_model), "x.y", "x.yaml"), "quick", runs_dir=tmp_path)
