"""Plots are written atomically as valid PNGs for tables, raw inputs and runs' curves."""
import struct

from bench.config import variant_key
from bench.protocols import Protocol
from bench.report.plots import plot_curves, plot_protocol
from bench.report.published import get_reported_table
from bench.report.builder import build_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND"
    return width, height


def record(cell, seed, metrics, protocol="toy.noise", curve=None, params=1000):
    cfg = {"model": {"name": "videopose3d", "options": {"receptive_field": 243}},
           "data": {"dataset": "standin", "source": "gt"}, "train": {"epochs": 4},
           "eval": {"noise_sigma": 0.0}, "seed": seed}
    for k, v in cell.items():
        node = cfg
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return {"id": f"{seed:04d}{abs(hash(str(cell))) % 16**8:08x}", "protocol": protocol, "scale": "smoke",
            "cell": cell, "seed": seed, "config": cfg, "metrics": metrics, "params": params,
            "curve": curve or [], "epochs": 4, "shrinks": ["train.epochs 80 -> 4 (smoke)"]}


def noise_inputs():
    proto = Protocol(name="toy.noise", title="Toy noise robustness (Table 11 columns)", paper="attention_tcn",
                     table="table11", cells=[{"model.name": "martinez"},
                                             {"model.name": "videopose3d", "model.options.receptive_field": 243}],
                     eval_variants={"eval.noise_sigma": [0, 5, 10, 15, 20]}, seeds=2,
                     layout={"rows": ["eval.noise_sigma"], "columns": ["model.name"], "metrics": ["p_mpjpe"],
                             "labels": {"eval.noise_sigma": "sigma (px)"}})
    recs = []
    for name in ("martinez", "videopose3d"):
        cell = {"model.name": name} if name == "martinez" else {"model.name": name,
                                                                 "model.options.receptive_field": 243}
        for seed in range(2):
            metrics = {variant_key({"eval.noise_sigma": s}): {"p_mpjpe": 40 + 1.3 * s + seed}
                       for s in (0, 5, 10, 15, 20)}
            curve = [{"epoch": e, "train_mpjpe": 300 / (e + 1) + seed, "val_mpjpe": 320 / (e + 1),
                      "lr": 1e-3, "time_s": 1.0} for e in range(4)]
            recs.append(record(cell, seed, metrics, curve=curve))
    return proto, recs, get_reported_table("attention_tcn", "table11")


def test_plot_protocol_from_table(tmp_path):
    proto, recs, reported = noise_inputs()
    table = build_table(proto, recs, reported, "smoke")
    out = plot_protocol(table, tmp_path / "plots" / "toy.noise.png")
    assert out == tmp_path / "plots" / "toy.noise.png"
    w, h = png_size(out)
    assert w > 300 and h > 200
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["toy.noise.png"]  # no temp file left


def test_plot_protocol_from_inputs_and_categorical_x(tmp_path):
    proto = Protocol(name="toy.models", title="Models on a categorical axis", paper="attention_tcn",
                     table="table1", grid={"model.name": ["videopose3d", "martinez"]},
                     layout={"rows": ["model.name"], "metrics": ["params", "mpjpe"]})
    recs = [record({"model.name": "videopose3d"}, 0, {"": {"mpjpe": 50.0}}, protocol="toy.models"),
            record({"model.name": "martinez"}, 0, {"": {"mpjpe": 60.0}}, protocol="toy.models", params=4_290_000)]
    out = plot_protocol((proto, recs, get_reported_table("attention_tcn", "table1"), "smoke"), tmp_path / "m.png")
    png_size(out)
    out = plot_protocol({"protocol": proto, "records": [], "reported_table": None, "scale": "smoke"},
                        tmp_path / "empty.png")  # no records: still a readable figure
    png_size(out)


def test_plot_curves(tmp_path):
    _, recs, _ = noise_inputs()
    png_size(plot_curves(recs, tmp_path / "curves.png"))
    for r in recs:  # no validation split: one panel
        for p in r["curve"]:
            p["val_mpjpe"] = None
    png_size(plot_curves(recs, tmp_path / "curves_noval.png"))
    png_size(plot_curves([], tmp_path / "curves_empty.png"))


def test_plot_overwrites_atomically(tmp_path):
    proto, recs, reported = noise_inputs()
    path = tmp_path / "p.png"
    path.write_bytes(b"old")
    plot_protocol(build_table(proto, recs, reported, "smoke"), path)
    png_size(path)


def test_scatter_plots_reproduced_points_and_every_reported_point(tmp_path):
    from bench.protocols import load_protocol
    from bench.report.plots import plot_scatter
    from bench.report.published import reported_for

    proto = Protocol(name="toy.size", title="Toy size against error", layout={
        "rows": ["model.name"], "metrics": ["params", "mpjpe"], "plot": {"scatter": ["params", "mpjpe"]}})
    recs = [record({"model.name": "martinez"}, 0, {"": {"mpjpe": 180.0}}, protocol="toy.size", params=4_296_755),
            record({}, 0, {"": {"mpjpe": 150.0}}, protocol="toy.size", params=16_952_371)]
    reported = reported_for(load_protocol("models.size_vs_error"))
    table = build_table(proto, recs, None, "quick")
    w, h = png_size(plot_scatter(table, reported, tmp_path / "toy.size.png"))
    assert w > 1200 and h > 600
    # Without reported points there is one panel: a narrower figure.
    assert 800 < png_size(plot_scatter(table, None, tmp_path / "bare.png"))[0] < w


def test_curves_against_optimizer_steps_fall_back_to_epochs(tmp_path):
    from bench.report.plots import _curve_axis

    _, recs, _ = noise_inputs()
    assert _curve_axis(recs) == "epoch"  # records written before curve rows had steps
    for r in recs:
        for p in r["curve"]:
            p["step"] = 250 * (p["epoch"] + 1)
    assert _curve_axis(recs) == "step"
    recs[0]["curve"][0]["val_mpjpe"] = None  # a row without validation: still on the step axis
    png_size(plot_curves(recs, tmp_path / "steps.png"))
    del recs[1]["curve"][2]["step"]  # one old row among them: the whole figure falls back to epochs
    assert _curve_axis(recs) == "epoch"
