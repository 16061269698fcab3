"""Reported numbers: the committed files validate, hold the papers' numbers, and bad files fail clearly."""
from pathlib import Path

import pytest
import yaml

from bench.errors import ConfigError, DataError
from bench.report.published import (REPORTED_DIR, get_reported_table, list_reported, load_reported,
                                   match_cell, validate_all)


def test_committed_files_validate():
    docs = validate_all()
    assert "attention_tcn" in docs
    assert set(list_reported()) == {p.stem for p in REPORTED_DIR.glob("*.yaml")}


def test_attention_tcn_table1_numbers():
    t = get_reported_table("attention_tcn", "table1")
    assert len(t.cells) == 7
    assert t.protocol["dataset"] == "Human3.6M"
    assert t.protocol["source"] == "GT 2D"
    assert t.protocol["metric"] == "MPJPE (Protocol #1, mm)"  # '#' must not start a YAML comment
    assert t.protocol["epochs"] == 80
    expect = [
        ({"model.name": "hossain"}, 16_960_000, 41.6),
        ({"model.name": "videopose3d", "model.options.receptive_field": 27}, 8_560_000, 40.6),
        ({"model.name": "attention_tcn", "model.options.receptive_field": 27}, 5_690_000, 39.1),
        ({"model.name": "videopose3d", "model.options.receptive_field": 81}, 12_750_000, 38.7),
        ({"model.name": "attention_tcn", "model.options.receptive_field": 81}, 8_460_000, 37.0),
        ({"model.name": "videopose3d", "model.options.receptive_field": 243}, 16_950_000, 37.8),
        ({"model.name": "attention_tcn", "model.options.receptive_field": 243}, 11_220_000, 33.4),
    ]
    assert [c["key"] for c in t.cells] == [e[0] for e in expect]  # the paper's row order
    for (key, params, mpjpe), cell in zip(expect, t.cells):
        assert cell["values"] == {"mpjpe": mpjpe, "params": params}
        assert isinstance(cell["values"]["params"], int)
    assert t.metrics() == ["mpjpe", "params"]
    assert "ground-truth" in t.notes


def test_attention_tcn_table11_numbers():
    t = get_reported_table("attention_tcn", "table11")
    assert len(t.cells) == 20
    assert "#2" in t.protocol["metric"]
    assert "Training and testing on ground truth 2d joint locations" in t.notes
    columns = {
        ("martinez", None): [37.1, 46.7, 52.8, 60.0, 70.2],
        ("hossain", None): [31.7, 37.5, 49.4, 61.8, 73.7],
        ("videopose3d", 243): [28.1, 30.9, 39.3, 50.3, 62.2],
        ("attention_tcn", 243): [26.1, 28.3, 36.7, 42.5, 56.2],
    }
    for (name, rf), values in columns.items():
        for sigma, value in zip([0, 5, 10, 15, 20], values):
            key = {"model.name": name, "eval.noise_sigma": sigma}
            if rf:
                key["model.options.receptive_field"] = rf
            cell = [c for c in t.cells if c["key"] == key]
            assert len(cell) == 1, key
            assert cell[0]["values"] == {"p_mpjpe": value}


def test_match_cell_after_variant():
    t = get_reported_table("attention_tcn", "table11")
    cfg = {"model": {"name": "videopose3d", "options": {"receptive_field": 243, "channels": 1024}},
           "eval": {"noise_sigma": 20.0, "flip": True}}
    assert match_cell(t, cfg)["values"]["p_mpjpe"] == 62.2
    cfg["model"]["options"]["receptive_field"] = 27
    assert match_cell(t, cfg) is None  # a 27-frame model is not the paper's 243-frame column
    assert match_cell(t, {"model": {"name": "martinez"}, "eval": {"noise_sigma": 5}})["values"] == {"p_mpjpe": 46.7}
    assert match_cell(t, {"model": {"name": "martinez"}}) is None  # no noise_sigma in the config
    assert match_cell(None, cfg) is None


def test_match_cell_prefers_most_specific(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "m"}, "values": {"mpjpe": 1.0}},
                      {"key": {"model.name": "m", "model.options.k": 3}, "values": {"mpjpe": 2.0}}])
    t = _write_and_load(tmp_path, doc)
    assert match_cell(t, {"model": {"name": "m", "options": {"k": 3}}})["values"]["mpjpe"] == 2.0
    assert match_cell(t, {"model": {"name": "m", "options": {"k": 5}}})["values"]["mpjpe"] == 1.0
    # a flat dotted config is accepted as well
    assert match_cell(t, {"model.name": "m", "model.options.k": 3})["values"]["mpjpe"] == 2.0


def test_dgnet_tables():
    doc = load_reported("dgnet")
    assert set(doc["tables"]) == {"table1_2", "table3", "table4", "table5", "table6", "table7", "table8",
                                  "table9_blocks", "table9_frames", "table10", "table11", "fig4", "fig5"}
    t = doc["tables"]["table1_2"]
    avg = {"model.name": "dgnet", "data.source": "cpn", "action": "Average"}
    assert [c["values"] for c in t.cells if c["key"] == avg] == [{"mpjpe": 45.3, "p_mpjpe": 35.4}]
    eat = {"model.name": "martinez", "data.source": "cpn", "action": "Eating"}
    assert [c["values"]["mpjpe"] for c in t.cells if c["key"] == eat] == [58]  # printed "58."
    assert doc["tables"]["table5"].metrics() == ["mpjpe", "ms_per_frame"]
    assert all(v is None for c in doc["tables"]["fig5"].cells for v in c["values"].values())
    # the pseudo-key `action` matches only a config that carries it
    assert match_cell(t, {"model": {"name": "dgnet"}, "data": {"source": "cpn"}}) is None
    cfg = {"model": {"name": "dgnet"}, "data": {"source": "cpn"}, "action": "Average"}
    assert match_cell(t, cfg)["values"]["mpjpe"] == 45.3


def test_action_pseudo_key(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a", "action": "Walking"}, "values": {"mpjpe": 1.0}},
                      {"key": {"model.name": "a", "action": "Average"}, "values": {"mpjpe": 2.0}}])
    assert len(_write_and_load(tmp_path, doc).cells) == 2
    doc = _doc(cells=[{"key": {"model.name": "a", "action": 3}, "values": {"mpjpe": 1.0}}])
    assert "'action' must map to a non-empty string" in _error(tmp_path, doc)
    doc = _doc(cells=[{"key": {"model.name": "a", "actions": "Walking"}, "values": {"mpjpe": 1.0}}])
    assert "dotted config key" in _error(tmp_path, doc)


# ---------------------------------------------------------------------------------------------------
# Validation of malformed files


def _doc(cells=None, **table_extra):
    table = {"title": "Table 9: a table", "protocol": {"dataset": "Human3.6M", "source": "GT 2D",
                                                      "metric": "MPJPE"},
             "cells": cells if cells is not None else [
                 {"key": {"model.name": "videopose3d"}, "label": "VP3D", "values": {"mpjpe": 37.8}}]}
    table.update(table_extra)
    return {"schema": 1, "paper": "toy", "citation": "A. Author", "tables": {"t9": table}}


def _write_and_load(tmp_path: Path, doc, table="t9"):
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return get_reported_table("toy", table, root=tmp_path)


def _error(tmp_path, doc, exc=DataError) -> str:
    with pytest.raises(exc) as info:
        _write_and_load(tmp_path, doc)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_valid_toy_file_loads(tmp_path):
    t = _write_and_load(tmp_path, _doc())
    assert t.ref == "toy.t9" and t.cells[0]["values"] == {"mpjpe": 37.8}
    assert load_reported("toy", root=tmp_path)["tables"]["t9"].title == "Table 9: a table"


def test_unknown_cell_key_names_file_and_cell(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a"}, "values": {"mpjpe": 1.0}},
                      {"key": {"model.name": "b"}, "valeus": {"mpjpe": 2.0}}])
    msg = _error(tmp_path, doc)
    assert "toy.yaml" in msg and "cells[1]" in msg and "model.name=b" in msg and "'valeus'" in msg


def test_non_numeric_value(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a"}, "values": {"params": "8.56M"}}])
    msg = _error(tmp_path, doc)
    assert "cells[0]" in msg and "'params'" in msg and "not a number" in msg


def test_boolean_value_is_not_a_number(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a"}, "values": {"mpjpe": True}}])
    assert "not a number" in _error(tmp_path, doc)


def test_duplicate_cell_keys(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a", "eval.noise_sigma": 5}, "values": {"mpjpe": 1.0}},
                      {"key": {"eval.noise_sigma": 5.0, "model.name": "a"}, "values": {"mpjpe": 2.0}}])
    msg = _error(tmp_path, doc)
    assert "duplicate" in msg and "cells[1]" in msg and "cells[0]" in msg


def test_null_needs_a_reason(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a"}, "values": {"mpjpe": None}}])
    assert "reason" in _error(tmp_path, doc)
    doc = _doc(cells=[{"key": {"model.name": "a"}, "values": {"mpjpe": None},
                       "missing": {"mpjpe": "not reported in Table 9"}}])
    t = _write_and_load(tmp_path, doc)
    assert t.cells[0]["values"] == {"mpjpe": None}
    assert t.cells[0]["missing"] == {"mpjpe": "not reported in Table 9"}


def test_unknown_metric_and_bad_key(tmp_path):
    doc = _doc(cells=[{"key": {"model.name": "a"}, "values": {"mpjpe_p1": 1.0}}])
    assert "unknown metric 'mpjpe_p1'" in _error(tmp_path, doc)
    doc = _doc(cells=[{"key": {"name": "a"}, "values": {"mpjpe": 1.0}}])
    assert "dotted config key" in _error(tmp_path, doc)


def test_unknown_table_and_protocol_keys(tmp_path):
    assert "'caption'" in _error(tmp_path, _doc(caption="x"))
    doc = _doc()
    doc["tables"]["t9"]["protocol"]["datset"] = "x"
    assert "'datset'" in _error(tmp_path, doc)
    doc = _doc()
    del doc["tables"]["t9"]["protocol"]["source"]
    assert "missing 'source'" in _error(tmp_path, doc)


def test_paper_must_match_file_name(tmp_path):
    doc = _doc()
    doc["paper"] = "other"
    assert "file name" in _error(tmp_path, doc)


def test_missing_file_and_table(tmp_path):
    with pytest.raises(ConfigError, match="no reported numbers for paper 'nope'"):
        load_reported("nope", root=tmp_path)
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(_doc()))
    with pytest.raises(ConfigError, match="no table 'table3'"):
        get_reported_table("toy", "table3", root=tmp_path)


def test_invalid_yaml(tmp_path):
    (tmp_path / "toy.yaml").write_text("tables: [unclosed\n")
    with pytest.raises(DataError, match="invalid YAML"):
        load_reported("toy", root=tmp_path)


def test_also_reported_merges_cells_with_their_source():
    from bench.protocols import load_protocol
    from bench.report.published import reported_for

    merged = reported_for(load_protocol("models.size_vs_error"))
    table1 = get_reported_table("attention_tcn", "table1")
    fig4 = get_reported_table("dgnet", "fig4")
    assert merged.ref == "attention_tcn.table1 + dgnet.fig4"
    assert len(merged.cells) == len(table1.cells) + len(fig4.cells)
    assert {c["source"] for c in merged.cells} == {"attention_tcn.table1", "dgnet.fig4"}
    dg = [c for c in merged.cells if c["source"] == "dgnet.fig4" and c["key"] == {"model.name": "dgnet"}]
    assert dg[0]["values"]["params"] == 2_695_427 and dg[0]["label"].startswith("dgnet.fig4: ")
