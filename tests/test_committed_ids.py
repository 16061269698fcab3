"""Experiment ids stay put: every committed run record's id is recomputed from the config it stores, and
the quick plans of protocols with committed records still name those records (a refactor of the config
that moved an id would orphan every committed result)."""
import dataclasses
import json
from pathlib import Path

import pytest

from bench.config import complete, experiment_id, resolve
from bench.planning import plan
from bench.protocols import load_protocol
from bench.typed_config import ExperimentConfig, typed

RUNS = Path(__file__).resolve().parents[1] / "results" / "runs"
RECORDS = sorted(RUNS.glob("*/quick/*.json"))


def test_committed_records_keep_their_ids():
    assert RECORDS, f"no committed quick records under {RUNS}"  # they are part of the source tree
    for path in RECORDS:
        rec = json.loads(path.read_text())
        cfg = complete(rec["config"])
        assert experiment_id(cfg, rec["variants"]) == rec["id"] == path.stem, path
        assert dataclasses.asdict(typed(cfg)) == cfg  # the typed view round-trips the stored config exactly


@pytest.mark.parametrize("name", ["videopose3d.receptive_field", "dgnet.graph"])
def test_quick_plans_name_the_committed_records(name):
    committed = {p.stem for p in (RUNS / name / "quick").glob("*.json")}
    assert len(committed) == 9, f"{name}: 3 cells x 3 seeds committed"
    planned = {j.id for j in plan(load_protocol(name), "quick")}
    assert committed <= planned, sorted(committed - planned)


def test_typed_config_is_the_schema_and_refuses_partial_configs():
    from bench.config import SCHEMA
    from bench.errors import ConfigError

    c = typed(resolve({"train.lr_min": 2e-5}))
    assert isinstance(c, ExperimentConfig) and c.train.lr_min == 2e-5 and c.train.motion_loss.operator == "cross"
    # every schema key is an attribute path, and nothing else is
    leaves = set()

    def walk(obj, prefix):
        for f in obj.__dataclass_fields__.values():
            v = getattr(obj, f.name)
            if hasattr(v, "__dataclass_fields__"):
                walk(v, prefix + f.name + ".")
            else:
                leaves.add(prefix + f.name)
    walk(c, "")
    assert leaves == set(SCHEMA) | {"model.options"}
    cfg = resolve({})
    del cfg["train"]["lr_min"]
    with pytest.raises(ConfigError, match="config lacks train.lr_min"):
        typed(cfg)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) lr_mni"):
        typed(dict(resolve({}), train=dict(resolve({})["train"], lr_mni=1)))
    with pytest.raises(Exception):  # frozen: an engine cannot change the experiment it was given
        c.train.lr = 1.0
