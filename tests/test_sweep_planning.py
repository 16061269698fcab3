"""One planner, one preflight: tables place the cells of the plan they are given (its resolved configs,
--set included), a table without a plan plans the protocol itself, and the preflight that the planner,
``bench train --ddp`` and ``bench check`` share rejects bad models, recipes and data before anything runs."""
import pytest

from bench.cli import main
from bench.config import resolve
from bench.errors import ConfigError
from bench.planning import plan, preflight
from bench.protocols import parse_protocol
from bench.report.builder import build_table

BLOCKS = "model.options.blocks"


def toy_protocol():
    raw = {"title": "Toy: blocks", "base": {"model": {"name": "dgnet"}},
           "grid": {BLOCKS: [1, 3], "data.source": ["det", "gt"]},
           "layout": {"rows": [BLOCKS], "columns": ["data.source", "train.epochs"], "metrics": ["mpjpe"]},
           "scales": {"smoke": {"model.options.channels": 8, "train.epochs": 1}}}
    return parse_protocol(raw, "toy.blocks", "toy/blocks.yaml")


def test_table_places_the_cells_of_the_plan_it_is_given(tmp_path):
    p = toy_protocol()
    jobs = plan(p, "smoke", runs_dir=tmp_path)
    table = build_table(p, [], None, "smoke", jobs=[j for j in jobs if j.cell["data.source"] == "gt"])
    assert table.rows == [(1,), (3,)] and table.column_groups == [("gt", 1)]
    # the plan's resolved configs, --set included: a --set train.epochs is where the cells are
    table = build_table(p, [], None, "smoke", jobs=plan(p, "smoke", overrides={"train.epochs": 2}, runs_dir=tmp_path))
    assert table.column_groups == [("det", 2), ("gt", 2)]


def test_table_without_a_plan_plans_the_protocol(tmp_path):
    p = toy_protocol()
    own = build_table(p, [], None, "smoke")
    given = build_table(p, [], None, "smoke", jobs=plan(p, "smoke", runs_dir=tmp_path))
    assert own.rows == given.rows == [(1,), (3,)]
    assert own.column_groups == given.column_groups == [("det", 1), ("gt", 1)]


def test_preflight_rejects_a_bad_model_and_a_bad_recipe():
    with pytest.raises(ConfigError, match="receptive"):
        preflight(resolve({"model.name": "videopose3d", "model.options.receptive_field": 28}), where="here")
    cfg = resolve({"model.name": "videopose3d", "train.motion_loss.intervals": [8]})
    with pytest.raises(ConfigError, match=r"^here: train\.motion_loss\.intervals: interval 8 needs more"):
        preflight(cfg, where="here")


def test_preflight_checks_the_data_only_when_asked(tiny_data):
    cfg = resolve({"model.name": "videopose3d", "data.dataset": f"standin:{tiny_data}",
                   "data.test_subjects": ["S99"]})
    preflight(cfg)  # the model and the recipe are fine; the data is not read
    with pytest.raises(ConfigError, match="unknown subject 'S99'"):
        preflight(cfg, data=True)
    joints = resolve({"model.name": "videopose3d", "data.dataset": f"standin:{tiny_data}",
                      "model.options.num_joints_in": 15})
    with pytest.raises(ConfigError, match="model expects 15 input"):
        preflight(joints, data=True)


def test_ddp_launch_runs_the_preflight_on_the_data(capsys, tiny_data, tmp_path, monkeypatch):
    from bench.engine import distributed

    def no_launch(*_):
        raise AssertionError("torchrun must not be started")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(distributed, "launch", no_launch)
    for var in ("LOCAL_RANK", "WORLD_SIZE", "RANK"):
        monkeypatch.delenv(var, raising=False)
    code = main(["train", "videopose3d", "--ddp", "--data", f"standin:{tiny_data}",
                 "--set", "data.test_subjects=[S99]"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and "unknown subject 'S99'" in err
