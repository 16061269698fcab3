"""The layout pseudo-key ``action``: one row per test action group of the records plus their Average
(last), per-action cells from the records' per_action metrics, Average from the overall metrics, and
reported cells keyed by ``action`` matching their own row only."""
import statistics

import pytest

from bench.config import resolve
from bench.protocols import parse_protocol
from bench.report.published import parse_reported
from bench.report.builder import build_table
from bench.report.render import render_csv, render_markdown
from bench.report.tables import ACTION_AVERAGE, ACTION_KEY

NAME = "toy.actions"


def action_protocol(seeds=2):
    raw = {"title": "Toy: per-action MPJPE", "paper": "toy", "table": "t1",
           "base": {"model": {"name": "dgnet"}, "data": {"source": "det"}},
           "grid": {"data.source": ["det", "gt"]}, "seeds": seeds,
           "layout": {"rows": ["action"], "columns": ["data.source"], "metrics": ["mpjpe", "p_mpjpe"],
                      "labels": {"action": "Action", "data.source": "2D"}},
           "scales": {"quick": {"seeds": seeds, "train.epochs": 2}}}
    return parse_protocol(raw, NAME, "toy/actions.yaml")


# (source, seed) -> overall mpjpe, Walk mpjpe, Run mpjpe. The overall value is deliberately not the
# mean of the two groups: the Average row must show the record's own overall number.
VALUES = {("det", 0): (50.0, 40.0, 70.0), ("det", 1): (54.0, 42.0, 74.0),
          ("gt", 0): (30.0, 20.0, 45.0), ("gt", 1): (32.0, 24.0, 47.0)}


def make_record(source, seed, *, per_action=True, scale="quick", protocol=NAME):
    overall, walk, run = VALUES[(source, seed)]
    metrics = {"mpjpe": overall, "p_mpjpe": overall - 10}
    if per_action:
        metrics["per_action"] = {"Walk": {"mpjpe": walk, "p_mpjpe": walk - 5},
                                 "Run": {"mpjpe": run, "p_mpjpe": run - 5}}
    cfg = resolve({"model.name": "dgnet", "data.source": source, "train.epochs": 2, "seed": seed})
    return {"schema": 1, "id": f"rec-{source}-{seed}", "protocol": protocol, "scale": scale, "seed": seed,
            "cell": {"data.source": source}, "config": cfg, "variants": [{}], "metrics": {"": metrics},
            "params": 123_456, "epochs": 2, "shrinks": []}


def all_records():
    return [make_record(src, seed) for src in ("det", "gt") for seed in (0, 1)]


def reported(cells):
    raw = {"schema": 1, "paper": "toy", "tables": {"t1": {
        "title": "Table 1: toy per-action", "protocol": {"dataset": "Human3.6M", "source": "CPN", "metric": "MPJPE"},
        "cells": cells}}}
    return parse_reported(raw, "toy", "toy.yaml")["tables"]["t1"]


def test_pseudo_key_constants():
    assert ACTION_KEY == "action" and ACTION_AVERAGE == "Average"


def test_rows_are_the_action_groups_then_average_last():
    table = build_table(action_protocol(), all_records(), None, "quick")
    assert table.row_keys == ["action"] and table.column_keys == ["data.source"]
    assert table.rows == [("Run",), ("Walk",), ("Average",)]
    assert table.column_groups == [("det",), ("gt",)]


def test_average_goes_last_whatever_the_group_names():
    # groups sorting after 'Average' alphabetically and before it: Average stays last
    recs = all_records()
    for r in recs:
        pa = r["metrics"][""]["per_action"]
        r["metrics"][""]["per_action"] = {"Zigzag": pa["Walk"], "Aardvark": pa["Run"]}
    table = build_table(action_protocol(), recs, None, "quick")
    assert table.rows == [("Aardvark",), ("Zigzag",), ("Average",)]


def test_per_action_cells_hold_per_action_means_over_seeds():
    table = build_table(action_protocol(), all_records(), None, "quick")
    for src in ("det", "gt"):
        walk = [VALUES[(src, s)][1] for s in (0, 1)]
        run = [VALUES[(src, s)][2] for s in (0, 1)]
        c = table.cell(("Walk",), (src,), "mpjpe")
        assert sorted(c.values) == sorted(walk) and c.n == 2
        assert c.mean == pytest.approx(statistics.fmean(walk))
        assert c.std == pytest.approx(statistics.stdev(walk))
        assert sorted(c.seeds) == [0, 1]
        assert sorted(c.record_ids) == [f"rec-{src}-0", f"rec-{src}-1"]
        c = table.cell(("Run",), (src,), "mpjpe")
        assert c.mean == pytest.approx(statistics.fmean(run))
        c = table.cell(("Run",), (src,), "p_mpjpe")
        assert c.mean == pytest.approx(statistics.fmean(run) - 5)


def test_average_row_holds_the_overall_metrics():
    table = build_table(action_protocol(), all_records(), None, "quick")
    for src in ("det", "gt"):
        overall = [VALUES[(src, s)][0] for s in (0, 1)]
        c = table.cell(("Average",), (src,), "mpjpe")
        assert sorted(c.values) == sorted(overall)
        assert c.mean == pytest.approx(statistics.fmean(overall))
        assert c.std == pytest.approx(statistics.stdev(overall))
        assert table.cell(("Average",), (src,), "p_mpjpe").mean == pytest.approx(statistics.fmean(overall) - 10)
    # the overall number is not recomputed from the groups
    assert table.cell(("Average",), ("det",), "mpjpe").mean == pytest.approx(52.0)


def test_one_seed_of_a_cell_gives_n_one_and_no_std():
    recs = [r for r in all_records() if not (r["cell"]["data.source"] == "gt" and r["seed"] == 1)]
    table = build_table(action_protocol(), recs, None, "quick")
    c = table.cell(("Walk",), ("gt",), "mpjpe")
    assert c.values == [20.0] and c.std is None
    assert "(n=1)" in render_markdown(table)


def test_record_without_breakdown_only_fills_average():
    recs = [make_record("det", 0, per_action=False)]
    table = build_table(action_protocol(), recs, None, "quick")
    assert table.rows == [("Average",)]
    assert table.cell(("Average",), ("det",), "mpjpe").values == [50.0]
    assert table.cell(("Average",), ("gt",), "mpjpe").values == []


def test_no_records_plan_only_the_average_row():
    table = build_table(action_protocol(), [], None, "quick")
    assert table.rows == [("Average",)]
    assert table.column_groups == [("det",), ("gt",)]


def test_records_of_other_scales_and_protocols_are_ignored():
    recs = all_records() + [make_record("det", 0, scale="smoke"), make_record("gt", 0, protocol="toy.other")]
    for r in recs[4:]:
        r["id"] += "-x"
        r["metrics"][""]["per_action"]["Jump"] = {"mpjpe": 1.0, "p_mpjpe": 1.0}
    table = build_table(action_protocol(), recs, None, "quick")
    assert table.rows == [("Run",), ("Walk",), ("Average",)] and table.n_records == 4


def test_reported_action_cell_matches_its_row_only():
    rep = reported([{"key": {"model.name": "dgnet", "data.source": "det", "action": "Walk"},
                     "label": "Walk (det)", "values": {"mpjpe": 40.0}}])
    table = build_table(action_protocol(), all_records(), rep, "quick")
    walk = table.cell(("Walk",), ("det",), "mpjpe")
    assert walk.reported == 40.0 and walk.reported_label == "Walk (det)"
    assert walk.delta == pytest.approx(41.0 - 40.0)
    others = [(r, c, m) for r in table.rows for c in table.column_groups for m in table.metrics
              if (r, c, m) != (("Walk",), ("det",), "mpjpe")]
    for r, c, m in others:
        assert table.cell(r, c, m).reported is None, (r, c, m)
    assert table.tau["mpjpe"].n == 1
    assert not any("Reported cells not in this table" in n for n in table.footnotes)


def test_reported_average_cell_matches_average_row_even_without_runs():
    rep = reported([{"key": {"model.name": "dgnet", "data.source": "det", "action": "Walk"},
                     "label": "Walk", "values": {"mpjpe": 40.0}},
                    {"key": {"model.name": "dgnet", "data.source": "det", "action": "Average"},
                     "label": "Avg", "values": {"mpjpe": 45.0}}])
    table = build_table(action_protocol(), all_records(), rep, "quick")
    assert table.cell(("Average",), ("det",), "mpjpe").reported == 45.0
    assert table.cell(("Average",), ("gt",), "mpjpe").reported is None
    assert table.tau["mpjpe"].n == 2
    empty = build_table(action_protocol(), [], rep, "quick")
    assert empty.rows == [("Average",)]
    assert empty.cell(("Average",), ("det",), "mpjpe").reported == 45.0
    assert any("Reported cells not in this table" in n and "Walk" in n for n in empty.footnotes)


def test_renderers_list_average_last():
    table = build_table(action_protocol(), all_records(), None, "quick")
    md = render_markdown(table)
    assert md.index("| Run |") < md.index("| Walk |") < md.index("| Average |")
    rows = [line.split(",")[2] for line in render_csv(table).splitlines()[1:]]
    assert rows == ["Run"] * 4 + ["Walk"] * 4 + ["Average"] * 4


def test_action_rows_with_evaluation_variant_columns():
    raw = {"title": "Toy: per-action, flip", "base": {"model": {"name": "dgnet"}},
           "eval_variants": {"eval.flip": [False, True]}, "seeds": 1,
           "layout": {"rows": ["action"], "columns": ["eval.flip"], "metrics": ["mpjpe"]},
           "scales": {"quick": {"train.epochs": 2}}}
    p = parse_protocol(raw, "toy.flip", "toy/flip.yaml")
    cfg = resolve({"model.name": "dgnet", "train.epochs": 2})
    metrics = {f"eval.flip={flip}": {"mpjpe": 50.0 - 5 * flip, "per_action": {"Walk": {"mpjpe": 40.0 - 5 * flip},
                                                                               "Run": {"mpjpe": 60.0 - 5 * flip}}}
               for flip in (False, True)}
    rec = {"id": "r", "protocol": "toy.flip", "scale": "quick", "seed": 0, "cell": {}, "config": cfg,
           "variants": [{"eval.flip": False}, {"eval.flip": True}], "metrics": metrics}
    table = build_table(p, [rec], None, "quick")
    assert table.rows == [("Run",), ("Walk",), ("Average",)]
    assert table.column_groups == [(False,), (True,)]
    assert table.cell(("Walk",), (True,), "mpjpe").values == [35.0]
    assert table.cell(("Run",), (False,), "mpjpe").values == [60.0]
    assert table.cell(("Average",), (True,), "mpjpe").values == [45.0]


def test_layout_actions_keeps_only_the_listed_groups():
    raw = {"title": "Toy: averages only", "base": {"model": {"name": "dgnet"}, "data": {"source": "det"}},
           "grid": {"data.source": ["det", "gt"]}, "seeds": 2,
           "layout": {"rows": ["action"], "columns": ["data.source"], "metrics": ["mpjpe"], "actions": ["Average"]},
           "scales": {"quick": {"seeds": 2, "train.epochs": 2}}}
    table = build_table(parse_protocol(raw, NAME, "toy/avg.yaml"), all_records(), None, "quick")
    assert table.rows == [(ACTION_AVERAGE,)]
    assert table.cell((ACTION_AVERAGE,), ("det",), "mpjpe").values == [50.0, 54.0]


def test_layout_actions_needs_the_action_key():
    from bench.errors import ConfigError
    raw = {"title": "t", "layout": {"rows": ["model.name"], "actions": ["Average"]}}
    with pytest.raises(ConfigError, match="layout.actions .* needs the key 'action'"):
        parse_protocol(raw, NAME, "toy/bad.yaml")
