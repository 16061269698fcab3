"""Tables from synthetic run records: mean ± standard error, Δ, Kendall τ, missing cells, variants,
reference rows, renderers."""
import csv
import io

import pytest

from bench.errors import ConfigError
from bench.config import variant_key
from bench.protocols import Protocol
from bench.report.published import ReportedTable, get_reported_table
from bench.report.builder import build_table, kendall_tau
from bench.report.render import render_csv, render_latex, render_markdown, write_index, write_table_files
from bench.report.tables import Table

RF = "model.options.receptive_field"


def make_record(cell, seed, metrics, *, protocol="toy.rf", scale="quick", params=None, epochs=5,
                shrinks=("train.epochs 80 -> 5 (quick)",), config_over=None, dataset="standin"):
    cfg = {"model": {"name": "videopose3d", "options": {"receptive_field": 243, "channels": 64}},
           "data": {"dataset": dataset, "source": "gt"},
           "train": {"epochs": epochs, "batch_size": 256},
           "eval": {"flip": True, "noise_sigma": 0.0}, "seed": seed}
    for key, value in {**cell, **(config_over or {})}.items():
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    rec = {"schema": 1, "id": f"{abs(hash((protocol, str(cell), seed))) % 16**12:012x}",
           "protocol": protocol, "scale": scale, "cell": dict(cell), "seed": seed, "config": cfg,
           "metrics": metrics, "curve": [], "epochs": epochs, "shrinks": list(shrinks)}
    if params is not None:
        rec["params"] = params
    return rec


def rf_protocol(order=(27, 81, 243), seeds=3, footnotes=("Protocol's own footnote.",)):
    return Protocol(name="toy.rf", title="Toy: MPJPE against receptive field", paper="toy", table="t1",
                    base={"model": {"name": "videopose3d"}}, grid={RF: list(order)}, seeds=seeds,
                    layout={"rows": [RF], "metrics": ["params", "mpjpe"], "labels": {RF: "Frames"}},
                    scales={"quick": {"seeds": seeds, "train.epochs": 5}}, footnotes=list(footnotes))


def rf_reported(mpjpe=(40.0, 38.0, 36.0), params=(8_560_000, 12_750_000, 16_950_000)):
    cells = [{"key": {"model.name": "videopose3d", RF: rf}, "label": f"VP3D ({rf}f)",
              "values": {"mpjpe": m, "params": p}, "missing": {}, "note": ""}
             for rf, m, p in zip((27, 81, 243), mpjpe, params)]
    return ReportedTable(paper="toy", name="t1", title="Table 1: toy", cells=cells,
                         protocol={"dataset": "Human3.6M", "source": "GT 2D", "metric": "MPJPE", "epochs": 80})


def rf_records(means, spread=(-1.0, 0.0, 1.0), params=None, skip=()):
    recs = []
    for i, (rf, m) in enumerate(zip((27, 81, 243), means)):
        if rf in skip:
            continue
        for seed, d in enumerate(spread):
            recs.append(make_record({RF: rf}, seed, {"": {"mpjpe": m + d, "p_mpjpe": m - 10}},
                                    params=(params or (1_000_000, 2_000_000, 3_000_000))[i]))
    return recs


def test_mean_std_delta_and_tau_agree():
    table = build_table(rf_protocol(), rf_records([60.0, 55.0, 50.0]), rf_reported(), "quick")
    assert table.rows == [(27,), (81,), (243,)]
    c = table.cell((27,), (), "mpjpe")
    assert c.n == 3 and c.mean == pytest.approx(60.0) and c.std == pytest.approx(1.0)
    assert c.se == pytest.approx(1.0 / 3 ** 0.5)
    assert c.reported == 40.0 and c.delta == pytest.approx(20.0)
    assert c.seeds == [0, 1, 2]
    assert table.tau["mpjpe"].tau == pytest.approx(1.0) and table.tau["mpjpe"].n == 3
    assert table.tau["params"].tau == pytest.approx(1.0)  # raw counts: 1M < 2M < 3M vs 8.56M < ...
    md = render_markdown(table)
    assert "60.0 ± 0.6 (n=3)" in md and "| 40.0 |" in md and "+20.0" in md
    assert "τ = +1.00 (n = 3)" in md
    assert "VP3D (27f)" in md  # the paper's row label
    assert "Frames" in md and "MPJPE (P1, mm)" in md


def test_tau_disagree():
    table = build_table(rf_protocol(), rf_records([50.0, 55.0, 60.0]), rf_reported(), "quick")
    assert table.tau["mpjpe"].tau == pytest.approx(-1.0)
    assert "τ = -1.00 (n = 3)" in render_markdown(table)


def test_params_display_in_millions_delta_on_raw_counts():
    recs = rf_records([60, 55, 50], params=(8_555_571, 12_753_971, 16_952_371))
    table = build_table(rf_protocol(), recs, rf_reported(), "quick")
    c = table.cell((27,), (), "params")
    assert c.delta == pytest.approx(8_555_571 - 8_560_000)
    md = render_markdown(table)
    assert "8.56M" in md and "16.95M" in md
    assert "± 0.00M" not in md  # identical counts over seeds: no spread shown
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    p27 = [r for r in rows if r[RF] == "27" and r["metric"] == "params"][0]
    assert float(p27["mean"]) == 8_555_571 and float(p27["reported"]) == 8_560_000
    assert float(p27["delta"]) == pytest.approx(-4429)


def test_missing_cells_show_dash_and_are_not_invented():
    table = build_table(rf_protocol(), rf_records([60.0, 55.0, 50.0], skip=(81,)), rf_reported(), "quick")
    c = table.cell((81,), (), "mpjpe")
    assert c.mean is None and c.n == 0 and c.delta is None
    assert c.reported == 38.0  # the planned cell still shows the paper's number
    line = [ln for ln in render_markdown(table).splitlines() if ln.startswith("| 81 |")][0]
    assert "—" in line and "38.0" in line
    assert table.tau["mpjpe"].n == 2 and table.tau["mpjpe"].tau == pytest.approx(1.0)
    assert any("1 of 3 cells have no run record" in f for f in table.footnotes)


def test_tau_not_available():
    table = build_table(rf_protocol(), rf_records([60.0, 55.0, 50.0], skip=(81, 243)), rf_reported(), "quick")
    assert table.tau["mpjpe"].tau is None and table.tau["mpjpe"].n == 1
    assert "n/a (n = 1)" in render_markdown(table)
    assert kendall_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).tau is None  # all tied: undefined
    assert kendall_tau([], []).n == 0


def test_rows_follow_grid_order_and_other_scales_are_ignored():
    recs = rf_records([60.0, 55.0, 50.0])
    recs.append(make_record({RF: 27}, 0, {"": {"mpjpe": 999.0}}, scale="smoke"))
    recs.append(make_record({RF: 27}, 0, {"": {"mpjpe": 999.0}}, protocol="other.protocol"))
    table = build_table(rf_protocol(order=(243, 27, 81)), recs, rf_reported(), "quick")
    assert table.rows == [(243,), (27,), (81,)]
    assert table.n_records == 9
    assert table.cell((27,), (), "mpjpe").mean == pytest.approx(60.0)


def test_seed_count_differing_from_protocol_is_shown():
    recs = rf_records([60.0, 55.0, 50.0], spread=(0.0, 2.0))
    table = build_table(rf_protocol(seeds=3), recs, rf_reported(), "quick")
    assert "61.0 ± 1.0 (n=2)" in render_markdown(table)  # SE = std / sqrt(2) = sqrt(2) / sqrt(2)
    single = build_table(rf_protocol(seeds=1), rf_records([60, 55, 50], spread=(0.0,)), rf_reported(), "quick")
    assert "| 60.0 (n=1) |" in render_markdown(single)  # one seed: no ±, n shown


def test_footnotes_list_every_difference():
    recs = rf_records([60.0, 55.0, 50.0])
    recs[0]["shrinks"] = ["train.epochs 80 -> 5 (quick)", "model.options.channels 1024 -> 64 (quick)"]
    table = build_table(rf_protocol(), recs, rf_reported(), "quick")
    notes = "\n".join(table.footnotes)
    assert "train.epochs 80 -> 5 (quick)" in notes and "model.options.channels 1024 -> 64 (quick)" in notes
    assert notes.count("train.epochs 80 -> 5") == 1  # union, not one per record
    assert "stand-in dataset" in notes and "instead of Human3.6M" in notes and "orderings (τ)" in notes
    assert "Trained 5 epochs per run (paper: 80)" in notes
    assert "3 seeds" in notes
    assert "Protocol's own footnote." in notes
    assert "2D input" not in notes  # gt == "GT 2D"
    det = [make_record({RF: 27}, 0, {"": {"mpjpe": 1.0}}, config_over={"data.source": "det"})]
    notes = "\n".join(build_table(rf_protocol(), det, rf_reported(), "quick").footnotes)
    assert "2D input 'det' instead of the paper's 'GT 2D'" in notes
    same = [make_record({RF: 27}, 0, {"": {"mpjpe": 1.0}}, dataset="h36m:/data/h36m", epochs=80, shrinks=())]
    notes = "\n".join(build_table(rf_protocol(), same, rf_reported(), "quick").footnotes)
    assert "instead of Human3.6M" not in notes and "Trained" not in notes


def noise_protocol():
    return Protocol(name="toy.noise", title="Toy noise robustness", paper="attention_tcn", table="table11",
                    base={"model": {"name": "videopose3d"}},
                    cells=[{"model.name": "martinez"}, {"model.name": "videopose3d", RF: 243}],
                    eval_variants={"eval.noise_sigma": [0, 5, 20]}, seeds=2,
                    layout={"rows": ["eval.noise_sigma"], "columns": ["model.name"], "metrics": ["p_mpjpe"],
                            "labels": {"eval.noise_sigma": "sigma (px)"}},
                    scales={"quick": {"seeds": 2}})


def noise_records():
    recs = []
    for name, offset in (("martinez", 10.0), ("videopose3d", 0.0)):
        cell = {"model.name": name} if name == "martinez" else {"model.name": name, RF: 243}
        for seed in range(2):
            metrics = {variant_key({"eval.noise_sigma": s}): {"mpjpe": 99.0, "p_mpjpe": 30 + s + offset + seed}
                       for s in (0, 5, 20)}
            recs.append(make_record(cell, seed, metrics, protocol="toy.noise", params=1000))
    return recs


def test_variant_lookup_noise_sigma():
    reported = get_reported_table("attention_tcn", "table11")
    table = build_table(noise_protocol(), noise_records(), reported, "quick")
    assert table.rows == [(0,), (5,), (20,)]
    assert table.column_groups == [("martinez",), ("videopose3d",)]
    c = table.cell((20,), ("videopose3d",), "p_mpjpe")
    assert c.mean == pytest.approx(50.5) and c.n == 2
    assert c.reported == 62.2 and c.delta == pytest.approx(50.5 - 62.2)
    assert table.cell((5,), ("martinez",), "p_mpjpe").reported == 46.7
    assert table.tau["p_mpjpe"].n == 6
    md = render_markdown(table)
    assert "videopose3d · P-MPJPE (P2, mm): reproduced" in md and "62.2" in md and "-11.7" in md
    # the paper's columns this protocol does not run are named in a footnote, not invented
    assert any("Reported cells not in this table" in f and "Hossain" in f for f in table.footnotes)


def test_record_metrics_of_unknown_variant_are_placed_by_their_key():
    proto = noise_protocol()
    proto.eval_variants = {}
    rec = make_record({"model.name": "martinez"}, 0, {"eval.noise_sigma=15": {"p_mpjpe": 70.0}},
                      protocol="toy.noise")
    table = build_table(proto, [rec], get_reported_table("attention_tcn", "table11"), "quick")
    assert table.cell((15,), ("martinez",), "p_mpjpe").reported == 60.0


def test_latex_and_csv_contain_the_numbers():
    table = build_table(rf_protocol(), rf_records([60.0, 55.0, 50.0]), rf_reported(), "quick")
    tex = render_latex(table)
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\multicolumn{3}{c}{MPJPE (P1, mm)}",
                  r"60.0 $\pm$ 0.6 (n=3)", "40.0", "+20.0", r"$\Delta$", r"\cmidrule(lr){3-5}"):
        assert token in tex, token
    assert "toy.rf" in tex
    rows = list(csv.DictReader(io.StringIO(render_csv(table))))
    assert len(rows) == 3 * 2  # rows x metrics
    r = [r for r in rows if r[RF] == "243" and r["metric"] == "mpjpe"][0]
    assert float(r["mean"]) == pytest.approx(50.0) and float(r["std"]) == pytest.approx(1.0)
    assert float(r["se"]) == pytest.approx(1.0 / 3 ** 0.5) and r["n"] == "3" and r["marks"] == ""
    assert r["values"] == "49.0;50.0;51.0" and r["seeds"] == "0;1;2"
    assert float(r["reported"]) == 36.0 and float(r["delta"]) == pytest.approx(14.0)


def test_no_reported_table():
    table = build_table(rf_protocol(), rf_records([60.0, 55.0, 50.0]), None, "quick")
    md = render_markdown(table)
    assert "reported" not in md.splitlines()[4]  # header row: reproduced columns only
    assert "No reported table" in md and table.tau == {}


def test_no_records_at_all():
    table = build_table(rf_protocol(), [], rf_reported(), "quick")
    assert table.rows == [(27,), (81,), (243,)]
    assert all(c.mean is None for c in table.cells.values())
    assert any("No run records" in f for f in table.footnotes)


def test_write_table_and_index(tmp_path):
    proto = rf_protocol()
    paths = write_table_files(build_table(proto, rf_records([60.0, 55.0, 50.0]), rf_reported(), "quick"), tmp_path,
                              formats=("md", "latex", "csv"))
    assert [p.name for p in paths] == ["toy.rf.quick.md", "toy.rf.quick.tex", "toy.rf.quick.csv",
                                       "toy.rf.quick.stats.json"]
    assert "60.0 ± 0.6 (n=3)" in paths[0].read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left
    table = build_table(proto, rf_records([60.0, 55.0, 50.0]), rf_reported(), "quick")
    assert isinstance(table, Table)
    index = write_index(tmp_path, [table, {"name": "x.y", "title": "Other", "scale": "smoke", "n_records": 2,
                                           "tau_summary": "no reported table"}])
    text = index.read_text()
    assert "[toy.rf](toy.rf.quick.md)" in text and "Toy: MPJPE against receptive field" in text
    assert "| quick | 9 |" in text and "τ = +1.00 (n = 3)" in text and "[x.y](x.y.md)" in text
    with pytest.raises(ConfigError, match="unknown table format"):
        write_table_files(build_table(proto, [], None, "quick"), tmp_path, formats=("html",))


def test_unknown_layout_metric():
    proto = rf_protocol()
    proto.layout["metrics"] = ["mpjpe_p1"]
    with pytest.raises(ConfigError, match="unknown metric 'mpjpe_p1'"):
        build_table(proto, [], None, "quick")


def test_not_reported_value_is_marked_not_invented():
    reported = rf_reported()
    reported.cells[1]["values"]["mpjpe"] = None
    reported.cells[1]["missing"] = {"mpjpe": "not in the paper's table"}
    table = build_table(rf_protocol(), rf_records([60.0, 55.0, 50.0]), reported, "quick")
    c = table.cell((81,), (), "mpjpe")
    assert c.reported is None and c.delta is None and c.reported_missing == "not in the paper's table"
    line = [ln for ln in render_markdown(table).splitlines() if ln.startswith("| 81 |")][0]
    assert "n.r." in line
    assert table.tau["mpjpe"].n == 2


def test_reference_rows_use_each_columns_own_records():
    """The floor rows: per column the mean over its records' references (det and gt differ here; a record
    without one does not count); a column of a metric no record has a reference for stays empty."""
    proto = Protocol(name="toy.ref", title="Toy reference rows", base={"model": {"name": "videopose3d"}},
                     grid={RF: [27, 81], "data.source": ["det", "gt"]},
                     layout={"rows": [RF], "columns": ["data.source"], "metrics": ["params", "mpjpe"]})
    recs = []
    for rf in (27, 81):
        for src, ref in (("det", 100.0), ("gt", 80.0)):
            rec = make_record({RF: rf, "data.source": src}, 0, {"": {"mpjpe": 50.0}}, protocol="toy.ref",
                              params=1000)
            rec["reference"] = {"mean_pose": {"mpjpe": ref + (rf == 81)}, "zero_pose": {"mpjpe": 2 * ref}}
            recs.append(rec)
    del recs[-1]["reference"]  # (81, gt): an older record
    table = build_table(proto, recs, None, "quick")
    assert table.references["mean_pose"] == {(("det",), "mpjpe"): pytest.approx(100.5),
                                             (("gt",), "mpjpe"): pytest.approx(80.0)}
    assert table.cell((27,), ("gt",), "mpjpe").reference("zero_pose") == 160.0
    lines = render_markdown(table).splitlines()
    assert "| training mean pose |  | 100.5 |  | 80.0 |" in lines  # params columns: no reference
    assert "| zero pose |  | 200.0 |  | 160.0 |" in lines
