"""Cross-action heat map (DG-Net Fig. 5): one panel per model variant, rows = training action,
columns = test action group."""
import struct

import pytest

from bench.report.plots import plot_cross_action

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TRAIN = "data.train_actions"


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def record(cell, train, seed, per_action):
    cfg = {"model": {"name": "dgnet", "options": {"graph_style": cell.get("model.options.graph_style", "dynamic")}},
           "data": {"dataset": "standin", "source": "det", "train_actions": list(train)}, "seed": seed}
    return {"id": f"{seed}-{'-'.join(train)}-{len(cell)}", "protocol": "dgnet.cross_action", "scale": "smoke",
            "seed": seed, "cell": {**cell, TRAIN: list(train)}, "config": cfg,
            "metrics": {"": {"mpjpe": sum(v["mpjpe"] for v in per_action.values()) / len(per_action),
                             "per_action": per_action}}}


def records():
    out = []
    for i, cell in enumerate(({}, {"model.options.graph_style": "fixed"})):
        for j, train in enumerate((["Walk"], ["Boxing"])):
            for seed in (0, 1):
                base = 40 + 10 * i + 5 * j + seed
                out.append(record(cell, train, seed, {"Walk": {"mpjpe": base + (0 if train == ["Walk"] else 20)},
                                                      "Boxing": {"mpjpe": base + (0 if train == ["Boxing"] else 25)},
                                                      "Run": {"mpjpe": base + 30}}))
    return out


def test_heatmap_png_is_written(tmp_path):
    path = plot_cross_action(records(), tmp_path / "plots" / "cross.heatmap.png")
    assert path.exists() and path.stat().st_size > 1000
    w, h = png_size(path)
    assert w > 100 and h > 100
    assert [p.name for p in path.parent.iterdir()] == ["cross.heatmap.png"]  # no temp file left


def test_two_panels_are_wider_than_one(tmp_path):
    both = plot_cross_action(records(), tmp_path / "both.png")
    one = plot_cross_action([r for r in records() if not r["cell"].get("model.options.graph_style")],
                            tmp_path / "one.png")
    assert one.stat().st_size > 1000
    assert png_size(both)[0] > png_size(one)[0]


@pytest.mark.filterwarnings("ignore:Attempting to set identical")  # empty heat map: matplotlib widens its axis
def test_records_without_breakdown_and_no_records_still_plot(tmp_path):
    recs = records()
    for r in recs:
        r["metrics"][""].pop("per_action")
    assert plot_cross_action(recs, tmp_path / "empty.png").stat().st_size > 1000
    assert plot_cross_action([], tmp_path / "none.png").stat().st_size > 1000
