"""The table files, pinned: a toy protocol's Markdown and CSV byte for byte, and the DataFrame with one row
per (row, column group, metric) with the numbers the files print.

The pinned texts were first the pre-pandas output; issue 19 changed the format on purpose (mean ± standard
error and n in every cell, marks, reference rows, the resolved-pair line), and they are that output
regenerated. What the new elements must say is asserted separately, with numbers computed by hand, on a
second toy (``toy.sig``): three seeds per cell, a pair the paper separates by 1.5 mm that the seeds
resolve, a pair they do not, a cell that did not learn, one that did not converge and one that only the
full scale plans."""
import json
import math

import pytest

from bench.protocols import Protocol
from bench.report.builder import build_table
from bench.report.published import ReportedTable
from bench.report.render import render_csv, render_latex, render_markdown

RF = "model.options.receptive_field"


def protocol():
    return Protocol(name="toy.pin", title="Toy: MPJPE | params against receptive field", paper="toy", table="t1",
                    base={"model": {"name": "videopose3d"}}, grid={RF: [27, 81, 243], "data.source": ["det", "gt"]},
                    seeds=2, layout={"rows": [RF], "columns": ["data.source"], "metrics": ["params", "mpjpe"],
                                     "labels": {RF: "Frames", "data.source": "2D"}},
                    scales={"quick": {"seeds": 2, "train.epochs": 5}}, footnotes=["Toy note with 50% & a_b."])


def reported():
    cells = []
    for rf, m, p in ((27, 40.0, 8_560_000), (81, None, 12_750_000), (243, 36.25, 16_950_000)):
        for src in ("det", "gt"):
            cells.append({"key": {"model.name": "videopose3d", RF: rf, "data.source": src},
                          "label": f"VP3D ({rf}f, {src})",
                          "values": {"mpjpe": None if m is None else (m if src == "gt" else m + 5), "params": p},
                          "missing": {"mpjpe": "not in the paper"} if m is None else {}, "note": ""})
    return ReportedTable(paper="toy", name="t1", title="Table 1: toy", cells=cells,
                         protocol={"dataset": "Human3.6M", "source": "GT 2D", "metric": "MPJPE", "epochs": 80})


def records():
    recs = []
    values = {(27, "det"): [61.25, 59.5], (27, "gt"): [50.0, 52.0], (81, "det"): [57.0],
              (81, "gt"): [47.5, 48.5], (243, "gt"): [44.125, 45.875]}  # (243, det): no run
    params = {27: 8_555_571, 81: 12_753_971, 243: 16_952_371}
    for (rf, src), ms in values.items():
        for seed, m in enumerate(ms):
            cfg = {"model": {"name": "videopose3d", "options": {"receptive_field": rf, "channels": 64}},
                   "data": {"dataset": "standin", "source": src}, "train": {"epochs": 5}, "seed": seed}
            recs.append({"schema": 1, "id": f"r{rf}{src}{seed}", "protocol": "toy.pin", "scale": "quick",
                         "cell": {RF: rf, "data.source": src}, "seed": seed, "config": cfg,
                         "metrics": {"": {"mpjpe": m}}, "params": params[rf], "epochs": 5,
                         "shrinks": ["train.epochs 80 -> 5 (quick)"]})
    return recs



def toy_table():
    return build_table(protocol(), records(), reported(), "quick")


EXPECTED_MD = """## Toy: MPJPE | params against receptive field

Protocol `toy.pin` · scale `quick` · 9 run records · reported: `toy.t1` (Table 1: toy)

| Frames | det · Params: reproduced | reported | Δ | det · MPJPE (P1, mm): reproduced | reported | Δ | gt · Params: reproduced | reported | Δ | gt · MPJPE (P1, mm): reproduced | reported | Δ |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
| 27 | 8.56M | 8.56M | -0.00M | 60.4 ± 0.9 (n=2) | 45.0 | +15.4 | 8.56M | 8.56M | -0.00M | 51.0 ± 1.0 (n=2) | 40.0 | +11.0 |
| 81 | 12.75M | 12.75M | +0.00M | 57.0 (n=1) | n.r. |  | 12.75M | 12.75M | +0.00M | 48.0 ± 0.5 (n=2) | n.r. |  |
| 243 | — | 16.95M |  | — | 41.2 |  | 16.95M | 16.95M | +0.00M | 45.0 ± 0.9 (n=2) | 36.2 | +8.8 |

Kendall τ-b, reproduced means vs reported values over matched cells that learned: Params: τ = +1.00 (n = 5); MPJPE (P1, mm): τ = +1.00 (n = 3).

Resolved pairs, MPJPE (P1, mm): 3 of 3 (agree 3, disagree 0); 0 unresolved.

Notes:

1. Scale 'quick' shrinks the paper recipe: train.epochs 80 -> 5 (quick).
2. stand-in dataset (bundled) instead of Human3.6M: absolute numbers are not comparable, compare orderings (τ).
3. 2D input 'det' instead of the paper's 'GT 2D'.
4. Trained 5 epochs per run (paper: 80).
5. Reproduced: mean ± standard error over seeds (SE = sample std / √n) and the seed count (n=k); one seed: the mean and (n=1), no ±. The protocol plans 2 seeds per cell at this scale (seeds 0..1).
6. The run records carry no reference errors (training mean pose, zero pose): no floor rows, and "did not learn" cannot be judged.
7. Resolved pairs: over the cells with a paper value and n ≥ 2 seeds that learned, the pairs the paper separates (by ≥ 1 mm, or ≥ 2 % of the smaller value; percentage points for PCK and AUC) are resolved when the reproduced difference exceeds 2 standard errors of the difference, 2·√(SE₁² + SE₂²); agree: the same sign as the paper's. Excluded: cells with both numbers that did not learn or have n < 2.
8. 1 of 6 cells have no run record (—); nothing is filled in.
9. Params in millions (M); Δ and τ use raw counts.
10. Reported: toy.t1, Table 1: toy. Paper protocol: dataset Human3.6M; source GT 2D; metric MPJPE; epochs 80.
11. Toy note with 50% & a_b.
"""

EXPECTED_CSV = """protocol,scale,model.options.receptive_field,data.source,metric,n,mean,std,se,values,seeds,reported,delta,reported_label,reported_missing,marks,mean_pose,zero_pose
toy.pin,quick,27,det,params,2,8555571.0,0.0,0.0,8555571.0;8555571.0,0;1,8560000,-4429.0,"VP3D (27f, det)",,,,
toy.pin,quick,27,det,mpjpe,2,60.375,1.2374368670764582,0.8749999999999999,61.25;59.5,0;1,45.0,15.375,"VP3D (27f, det)",,,,
toy.pin,quick,27,gt,params,2,8555571.0,0.0,0.0,8555571.0;8555571.0,0;1,8560000,-4429.0,"VP3D (27f, gt)",,,,
toy.pin,quick,27,gt,mpjpe,2,51.0,1.4142135623730951,1.0,50.0;52.0,0;1,40.0,11.0,"VP3D (27f, gt)",,,,
toy.pin,quick,81,det,params,1,12753971.0,,,12753971.0,0,12750000,3971.0,"VP3D (81f, det)",,,,
toy.pin,quick,81,det,mpjpe,1,57.0,,,57.0,0,,,"VP3D (81f, det)",not in the paper,,,
toy.pin,quick,81,gt,params,2,12753971.0,0.0,0.0,12753971.0;12753971.0,0;1,12750000,3971.0,"VP3D (81f, gt)",,,,
toy.pin,quick,81,gt,mpjpe,2,48.0,0.7071067811865476,0.5,47.5;48.5,0;1,,,"VP3D (81f, gt)",not in the paper,,,
toy.pin,quick,243,det,params,0,,,,,,16950000,,"VP3D (243f, det)",,,,
toy.pin,quick,243,det,mpjpe,0,,,,,,41.25,,"VP3D (243f, det)",,,,
toy.pin,quick,243,gt,params,2,16952371.0,0.0,0.0,16952371.0;16952371.0,0;1,16950000,2371.0,"VP3D (243f, gt)",,,,
toy.pin,quick,243,gt,mpjpe,2,45.0,1.2374368670764582,0.8749999999999999,44.125;45.875,0;1,36.25,8.75,"VP3D (243f, gt)",,,,
"""


def test_markdown_is_pinned():
    assert render_markdown(toy_table()) == EXPECTED_MD


def test_csv_is_pinned():
    assert render_csv(toy_table()) == EXPECTED_CSV


def test_latex_escapes_and_keeps_the_groups():
    tex = render_latex(toy_table())
    assert r"\caption{Toy: MPJPE | params against receptive field (scale: quick)}" in tex
    assert r"\multicolumn{3}{c}{det $\cdot$ MPJPE (P1, mm)}" in tex
    assert r"27 & 8.56M & 8.56M & -0.00M & 60.4 $\pm$ 0.9 (n=2) & 45.0 & +15.4 &" in tex
    assert r"11. Toy note with 50\% \& a\_b.\par" in tex


def test_frame_has_one_row_per_row_column_group_and_metric():
    frame = toy_table().to_frame()
    assert list(frame.columns) == [RF, "data.source", "metric", "n", "mean", "std", "se", "values", "seeds",
                                   "record_ids", "reported", "delta", "reported_label", "reported_missing",
                                   "marks", "mean_pose", "zero_pose"]
    assert len(frame) == 3 * 2 * 2
    assert list(frame[RF])[:4] == [27, 27, 27, 27] and list(frame["data.source"])[:4] == ["det", "det", "gt", "gt"]
    row = frame[(frame[RF] == 27) & (frame["data.source"] == "det") & (frame["metric"] == "mpjpe")].iloc[0]
    assert row["n"] == 2 and row["mean"] == pytest.approx(60.375) and row["values"] == [61.25, 59.5]
    assert row["se"] == pytest.approx(0.875)  # |61.25 - 59.5| / 2: the SE of two values is half their gap
    assert row["reported"] == 45.0 and row["delta"] == pytest.approx(15.375) and row["seeds"] == [0, 1]
    assert row["record_ids"] == ["r27det0", "r27det1"] and row["reported_label"] == "VP3D (27f, det)"
    empty = frame[(frame[RF] == 243) & (frame["data.source"] == "det") & (frame["metric"] == "mpjpe")].iloc[0]
    assert empty["n"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["delta"]) and empty["values"] == []
    assert empty["reported"] == 41.25  # a planned cell without runs still shows the paper's number
    nr = frame[(frame[RF] == 81) & (frame["metric"] == "mpjpe")]
    assert list(nr["reported"]) == [None, None] and set(nr["reported_missing"]) == {"not in the paper"}
    params = frame[frame["metric"] == "params"]["reported"]
    assert all(isinstance(v, int) for v in params)  # as transcribed: the CSV prints 8560000, not 8560000.0


# ----------------------------------------------------------------------------------------------------
# toy.sig: the elements issue 19 added, with numbers computed by hand.

SIG_VALUES = {9: [96.0, 97.0, 98.0], 27: [50.0, 51.0, 52.0], 81: [46.0, 47.5, 49.0], 243: [44.0, 46.5, 49.0]}
SIG_PAPER = {9: 36.0, 27: 41.5, 81: 40.0, 243: 38.0, 729: 35.0}


def sig_protocol():
    return Protocol(name="toy.sig", title="Toy: which orderings the seeds resolve", paper="toy", table="t2",
                    base={"model": {"name": "videopose3d"}}, grid={RF: [9, 27, 81, 243, 729]}, seeds=3,
                    layout={"rows": [RF], "metrics": ["mpjpe"], "labels": {RF: "Frames"}},
                    scales={"quick": {"seeds": 3, "train.epochs": 4, "grid": {RF: [9, 27, 81, 243]}}})


def sig_reported():
    cells = [{"key": {"model.name": "videopose3d", RF: rf}, "label": f"VP3D ({rf}f)", "values": {"mpjpe": m},
              "missing": {}, "note": ""} for rf, m in SIG_PAPER.items()]
    return ReportedTable(paper="toy", name="t2", title="Table 2: toy", cells=cells,
                         protocol={"dataset": "Human3.6M", "source": "GT 2D", "metric": "MPJPE", "epochs": 80})


def sig_records():
    recs = []
    for rf, ms in SIG_VALUES.items():
        for seed, m in enumerate(ms):
            cfg = {"model": {"name": "videopose3d", "options": {"receptive_field": rf, "channels": 64}},
                   "data": {"dataset": "standin", "source": "gt"}, "train": {"epochs": 4}, "seed": seed}
            recs.append({
                "schema": 1, "id": f"s{rf}-{seed}", "protocol": "toy.sig", "scale": "quick", "cell": {RF: rf},
                "seed": seed, "config": cfg, "metrics": {"": {"mpjpe": m}}, "epochs": 4,
                "shrinks": ["train.epochs 80 -> 4 (quick)"],
                # seeds 0, 1, 2: mean-pose errors 99, 100, 101 (mean 100); zero pose 150
                "reference": {"mean_pose": {"mpjpe": 99.0 + seed}, "zero_pose": {"mpjpe": 150.0}},
                "convergence": {"criterion": "best val MPJPE of the last quarter within 1 mm of the earlier best",
                                "curve": "val", "converged": not (rf == 81 and seed == 2),
                                "best_before_last_quarter": 50.0, "best_last_quarter": 49.0, "improvement_mm": 1.0},
                "budget": {"steps": 1200, "windows_seen": 76800, "passes": 4.0, "schedule": "cosine",
                           "warmup_steps": 100},
                "curve": [{"step": 300 * (e + 1), "epoch": e, "train_mpjpe": 200 / (e + 1) + seed,
                           "val_mpjpe": 220 / (e + 1), "lr": 1e-3, "time_s": 1.0} for e in range(4)]})
    return recs


@pytest.fixture(scope="module")
def sig_table():
    return build_table(sig_protocol(), sig_records(), sig_reported(), "quick")


EXPECTED_SIG_MD = """## Toy: which orderings the seeds resolve

Protocol `toy.sig` · scale `quick` · 12 run records · reported: `toy.t2` (Table 2: toy)

| Frames | Paper row | MPJPE (P1, mm): reproduced | reported | Δ |
|---|---|---:|---:|---:|
| 9 | VP3D (9f) | 97.0 ± 0.6 (n=3) † | 36.0 | +61.0 |
| 27 | VP3D (27f) | 51.0 ± 0.6 (n=3) | 41.5 | +9.5 |
| 81 | VP3D (81f) | 47.5 ± 0.9 (n=3) ‡ | 40.0 | +7.5 |
| 243 | VP3D (243f) | 46.5 ± 1.4 (n=3) | 38.0 | +8.5 |
| 729 | VP3D (729f) | full scale only | 35.0 |  |
| training mean pose |  | 100.0 |  |  |
| zero pose |  | 150.0 |  |  |

Kendall τ-b, reproduced means vs reported values over matched cells that learned: MPJPE (P1, mm): τ = +1.00 (n = 3).

Resolved pairs, MPJPE (P1, mm): 2 of 3 (agree 2, disagree 0); 1 unresolved; 1 cell excluded (did not learn).

Notes:

1. Scale 'quick' shrinks the paper recipe: train.epochs 80 -> 4 (quick).
2. stand-in dataset (bundled) instead of Human3.6M: absolute numbers are not comparable, compare orderings (τ).
3. Trained 4 epochs per run (paper: 80).
4. Budget per run: 1,200 optimizer steps (100 of warm-up); 76,800 training windows seen (4 passes over the training windows); learning-rate schedule cosine.
5. Reproduced: mean ± standard error over seeds (SE = sample std / √n) and the seed count (n=k); one seed: the mean and (n=1), no ±. The protocol plans 3 seeds per cell at this scale (seeds 0..2).
6. Marks: † did not learn: the cell's mean is at least 90 % of the error of predicting the training mean pose (its own records' reference; for PCK and AUC: its shortfall from 100 % is at least 90 % of the mean pose's); left out of τ and of the resolved pairs; ‡ not converged: at least one seed's run had not converged (1 of 12 runs; validation curve; criterion: best val MPJPE of the last quarter within 1 mm of the earlier best); "full scale only": the protocol's full-scale plan has this cell, scale 'quick' leaves it out.
7. Reference rows: the error of answering every test frame with the training set's mean pose, or with the zero pose (all joints at the root), same metric and averaging as the cells; mean over each column's records. A cell near them has not learned.
8. Resolved pairs: over the cells with a paper value and n ≥ 2 seeds that learned, the pairs the paper separates (by ≥ 1 mm, or ≥ 2 % of the smaller value; percentage points for PCK and AUC) are resolved when the reproduced difference exceeds 2 standard errors of the difference, 2·√(SE₁² + SE₂²); agree: the same sign as the paper's. Excluded: cells with both numbers that did not learn or have n < 2.
9. Reported: toy.t2, Table 2: toy. Paper protocol: dataset Human3.6M; source GT 2D; metric MPJPE; epochs 80.
"""


def test_sig_markdown_is_pinned(sig_table):
    assert render_markdown(sig_table) == EXPECTED_SIG_MD


def test_standard_errors_by_hand(sig_table):
    # SE = sample std / sqrt(n): stds 1, 1.5 and 2.5 over 3 seeds
    for rf, std in ((27, 1.0), (81, 1.5), (243, 2.5)):
        c = sig_table.cell((rf,), (), "mpjpe")
        assert c.n == 3 and c.std == pytest.approx(std) and c.se == pytest.approx(std / math.sqrt(3))
    md = render_markdown(sig_table)
    assert "| 27 | VP3D (27f) | 51.0 ± 0.6 (n=3) | 41.5 | +9.5 |" in md  # 1/sqrt(3) = 0.577
    assert "| 243 | VP3D (243f) | 46.5 ± 1.4 (n=3) | 38.0 | +8.5 |" in md  # 2.5/sqrt(3) = 1.443
    rows = {r[RF]: r for r in __import__("csv").DictReader(__import__("io").StringIO(render_csv(sig_table)))}
    assert float(rows["81"]["se"]) == pytest.approx(0.8660254) and float(rows["81"]["std"]) == 1.5
    assert rows["27"]["n"] == "3" and float(rows["27"]["mean"]) == 51.0


def test_marks_by_hand(sig_table):
    dnl = sig_table.cell((9,), (), "mpjpe")
    assert dnl.reference("mean_pose") == pytest.approx(100.0)  # its own records: 99, 100, 101
    assert dnl.did_not_learn and dnl.marks == ["did_not_learn"]  # 97 >= 0.9 * 100
    assert sig_table.cell((27,), (), "mpjpe").marks == []  # 51 < 90
    assert sig_table.cell((81,), (), "mpjpe").marks == ["not_converged"]  # seed 2 says converged: false
    full = sig_table.cell((729,), (), "mpjpe")
    assert full.full_scale_only and full.mean is None and full.reported == 35.0
    md = render_markdown(sig_table)
    assert "97.0 ± 0.6 (n=3) †" in md and "47.5 ± 0.9 (n=3) ‡" in md
    assert "| 729 | VP3D (729f) | full scale only | 35.0 |  |" in md
    (legend,) = [f for f in sig_table.footnotes if f.startswith("Marks:")]
    assert "† did not learn" in legend and "‡ not converged" in legend and '"full scale only"' in legend
    assert "1 of 12 runs" in legend
    assert r"\dag{}" in render_latex(sig_table) and r"\ddag{}" in render_latex(sig_table)


def test_reference_rows_by_hand(sig_table):
    assert sig_table.references == {"mean_pose": {((), "mpjpe"): pytest.approx(100.0)},
                                    "zero_pose": {((), "mpjpe"): pytest.approx(150.0)}}
    lines = render_markdown(sig_table).splitlines()
    assert "| training mean pose |  | 100.0 |  |  |" in lines and "| zero pose |  | 150.0 |  |  |" in lines
    assert lines.index("| zero pose |  | 150.0 |  |  |") == lines.index("| training mean pose |  | 100.0 |  |  |") + 1
    rows = {r[RF]: r for r in __import__("csv").DictReader(__import__("io").StringIO(render_csv(sig_table)))}
    assert float(rows["9"]["mean_pose"]) == 100.0 and float(rows["9"]["zero_pose"]) == 150.0
    assert rows["9"]["marks"] == "did_not_learn" and rows["729"]["marks"] == "full_scale_only"


def test_tau_and_resolved_pairs_by_hand(sig_table):
    # tau over 27, 81, 243 only (9 did not learn; with it, 97 vs paper 36 would break the order)
    assert sig_table.tau["mpjpe"].n == 3 and sig_table.tau["mpjpe"].tau == pytest.approx(1.0)
    p = sig_table.pairs["mpjpe"]
    # 27-81: paper 41.5 - 40.0 = 1.5 mm; reproduced 3.5 > 2 sqrt(1/3 + 3/4) = 2.08: resolved, same sign
    # 27-243: paper 3.5 mm; reproduced 4.5 > 2 sqrt(1/3 + 25/12) = 3.11: resolved, same sign
    # 81-243: paper 2.0 mm; reproduced 1.0 < 2 sqrt(3/4 + 25/12) = 3.37: unresolved
    assert (p.cells, p.pairs, p.resolved, p.agree, p.disagree, p.unresolved) == (3, 3, 2, 2, 0, 1)
    assert (p.excluded_did_not_learn, p.excluded_few_seeds) == (1, 0)
    line = ("Resolved pairs, MPJPE (P1, mm): 2 of 3 (agree 2, disagree 0); 1 unresolved; "
            "1 cell excluded (did not learn).")
    assert sig_table.pairs_summary() == line and line in render_markdown(sig_table).splitlines()


def test_sidecar_holds_the_statistics(sig_table, tmp_path):
    from bench.report.render import write_table_files

    paths = write_table_files(sig_table, tmp_path, ("csv",))
    assert [p.name for p in paths] == ["toy.sig.quick.csv", "toy.sig.quick.stats.json"]
    stats = json.loads(paths[1].read_text())
    assert stats["pairs"]["mpjpe"]["resolved"] == 2 and stats["pairs"]["mpjpe"]["excluded"] == 1
    assert stats["pairs_total"] == {"pairs": 3, "resolved": 2, "agree": 2, "disagree": 0, "unresolved": 1,
                                    "excluded": 1}
    assert stats["marks"] == {"did_not_learn": 1, "not_converged": 1, "full_scale_only": 1}
    assert stats["tau"]["mpjpe"]["n"] == 3 and stats["paper"] == "toy" and stats["n_records"] == 12
    assert stats["references"]["mean_pose"] == [{"columns": [], "metric": "mpjpe", "value": 100.0}]
