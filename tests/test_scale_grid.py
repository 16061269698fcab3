"""A scale's ``grid`` keeps a subset of a grid key's values at that scale (fewer cells in the plan and the
table); the other scales run the full grid; anything but a subset of the protocol's grid is refused."""
import json

import pytest

from bench.errors import ConfigError
from bench.protocols import load_protocol, parse_protocol
from bench.report.builder import build_table
from bench.sweep import plan

BLOCKS = "model.options.blocks"


def raw_protocol(smoke_grid=None, **over):
    raw = {"title": "Toy: blocks", "base": {"model": {"name": "dgnet"}},
           "grid": {BLOCKS: [1, 3, 5], "data.source": ["det", "gt"]},
           "layout": {"rows": [BLOCKS], "columns": ["data.source"], "metrics": ["mpjpe"]},
           "scales": {"smoke": {"seeds": 1, "model.options.channels": 8, "train.epochs": 1},
                      "quick": {"train.epochs": 2}, "paper": {}}}
    if smoke_grid is not None:
        raw["scales"]["smoke"]["grid"] = smoke_grid
    raw.update(over)
    return raw


def proto(smoke_grid=None, **over):
    return parse_protocol(raw_protocol(smoke_grid, **over), "toy.blocks", "toy/blocks.yaml")


def test_scale_grid_keeps_a_subset_at_that_scale_only():
    p = proto({BLOCKS: [3]})
    smoke = p.cell_overrides("smoke")
    assert smoke == [{BLOCKS: 3, "data.source": "det"}, {BLOCKS: 3, "data.source": "gt"}]
    for scale in ("quick", "paper", None):
        cells = p.cell_overrides(scale)
        assert len(cells) == 6 and {c[BLOCKS] for c in cells} == {1, 3, 5}
    assert p.cell_overrides() == p.cell_overrides("quick")
    assert p.grid == {BLOCKS: [1, 3, 5], "data.source": ["det", "gt"]}  # not modified


def test_scale_grid_keeps_grid_key_order_and_value_order():
    p = proto({BLOCKS: [5, 1]})
    cells = p.cell_overrides("smoke")
    assert [list(c) for c in cells] == [[BLOCKS, "data.source"]] * 4
    assert [c[BLOCKS] for c in cells] == [5, 5, 1, 1]


def test_plan_runs_the_subset_at_smoke_and_everything_at_quick(tmp_path):
    p = proto({BLOCKS: [1, 5], "data.source": ["gt"]})
    smoke = plan(p, "smoke", runs_dir=tmp_path)
    assert len(smoke) == 2
    assert sorted(j.cfg["model"]["options"]["blocks"] for j in smoke) == [1, 5]
    assert {j.cfg["data"]["source"] for j in smoke} == {"gt"}
    assert all(j.cell == {BLOCKS: j.cfg["model"]["options"]["blocks"], "data.source": "gt"} for j in smoke)
    assert not any("blocks" in s or "data.source" in s for j in smoke for s in j.shrinks)
    quick = plan(p, "quick", runs_dir=tmp_path)
    assert len(quick) == 6 and len({j.id for j in quick}) == 6


def test_table_plans_only_the_subset_at_that_scale():
    p = proto({BLOCKS: [3]})
    smoke = build_table(p, [], None, "smoke")
    # the cells smoke leaves out stay in its table, marked "full scale only"
    assert smoke.rows == [(1,), (3,), (5,)]
    only = {c.row for c in smoke.cells.values() if c.full_scale_only}
    assert only == {(1,), (5,)}
    quick = build_table(p, [], None, "quick")
    assert quick.rows == [(1,), (3,), (5,)] and quick.column_groups == [("det",), ("gt",)]


def test_list_valued_grid_subset_cross_action():
    """The cross-action grid comes from the dataset (one cell per action group); smoke keeps the two groups
    with the most training frames."""
    from bench.data import load_dataset

    ds = load_dataset("standin", source="det")
    groups = ds.action_groups()
    frames = {g: sum(len(s) for s in ds.sequences(ds.train_subjects, actions=[g])) for g in groups}
    p = load_protocol("dgnet.cross_action")
    smoke = {json.dumps(j.cell, sort_keys=True): j.cell for j in plan(p, "smoke")}.values()
    assert len(smoke) == 3 * 2
    assert {tuple(c["data.train_actions"]) for c in smoke} == {(g,) for g in sorted(groups, key=frames.get)[-2:]}
    assert len(plan(p, "full")) == 3 * len(groups) * 3  # 3 models x groups x 3 seeds
    assert plan(p, "quick") == []  # quick runs no cross-action cell: full scale only
    with pytest.raises(ConfigError, match="takes its values from the dataset"):
        p.cell_overrides("full")  # only the planner, which reads the dataset, can expand it


@pytest.mark.parametrize("smoke_grid, key", [
    ({BLOCKS: [2]}, BLOCKS),                 # a value the protocol's grid does not have
    ({BLOCKS: [1, 7]}, BLOCKS),              # one of them not in the grid
    ({"model.options.k": [2]}, "model.options.k"),  # a key not in the grid
    ({BLOCKS: []}, BLOCKS),                  # empty
    ({BLOCKS: 3}, BLOCKS),                   # not a list
])
def test_scale_grid_outside_the_grid_is_an_error(smoke_grid, key):
    with pytest.raises(ConfigError, match=rf"toy/blocks\.yaml: scales\.smoke\.grid\.{key.replace('.', '[.]')}"):
        proto(smoke_grid)


def test_scale_grid_without_a_protocol_grid_is_an_error():
    raw = raw_protocol({BLOCKS: [1]})
    del raw["grid"]
    with pytest.raises(ConfigError, match=r"scales\.smoke\.grid\.model\.options\.blocks"):
        parse_protocol(raw, "toy.blocks", "toy/blocks.yaml")


def test_scale_grid_error_names_the_scale():
    raw = raw_protocol()
    raw["scales"]["quick"]["grid"] = {"data.source": ["cpn"]}
    with pytest.raises(ConfigError, match=r"scales\.quick\.grid\.data\.source"):
        parse_protocol(raw, "toy.blocks", "toy/blocks.yaml")


def test_scale_grid_that_is_not_a_mapping_is_a_config_error():
    with pytest.raises(ConfigError, match=r"scales\.smoke\.grid"):
        proto([3])


def test_shipped_protocols_with_scale_grids_load():
    from bench.protocols import list_protocols

    for name in list_protocols():
        p = load_protocol(name)
        if "each_action_group" in p.grid.values():
            continue  # expanded from the dataset by the planner (test above)
        for scale in ("smoke", "quick", "full", "paper"):
            cells = p.cell_overrides(scale)
            least = 0 if p.scale_settings(scale).get("only") == [] else 1
            assert least <= len(cells) <= len(p.cell_overrides()), (name, scale)
