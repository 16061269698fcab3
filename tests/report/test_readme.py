"""results/README.md: one line per table (what it shows, how the run differs) and one per plot on disk."""
from bench.protocols import Protocol
from bench.report.readme import write_results_readme
from bench.report.published import get_reported_table
from bench.report.builder import build_table


def test_readme_lists_each_table_and_existing_plot_once(tmp_path):
    proto = Protocol(name="toy.noise", title="Toy noise table", paper="attention_tcn", table="table11",
                     cells=[{"model.name": "martinez"}], eval_variants={"eval.noise_sigma": [0, 5]},
                     layout={"rows": ["eval.noise_sigma"], "columns": ["model.name"], "metrics": ["p_mpjpe"]},
                     footnotes=["Paper: Human3.6M; here the stand-in.", "second note",
                                "Quick scale: 4 epochs.", "Smoke scale: 1 epoch."])
    other = Protocol(name="toy.size", title="Toy size table", layout={"rows": ["model.name"],
                     "metrics": ["params", "mpjpe"], "plot": {"scatter": ["params", "mpjpe"]}})
    t1 = build_table(proto, [], get_reported_table("attention_tcn", "table11"), "quick")
    t2 = build_table(other, [], None, "quick")
    (tmp_path / "plots").mkdir()
    for name in ("toy.noise.quick.png", "toy.noise.quick.curves.png", "toy.size.quick.png"):
        (tmp_path / "plots" / name).write_bytes(b"png")
    text = write_results_readme(tmp_path, [(t1, proto), (t2, other)], "quick").read_text()
    lines = text.splitlines()
    (noise,) = [ln for ln in lines if ln.startswith("- [tables/toy.noise.quick.md]")]
    assert "Toy noise table" in noise and "attention_tcn.table11" in noise
    assert "Differs from the paper:* Paper: Human3.6M; here the stand-in. Quick scale: 4 epochs." in noise
    assert "second note" not in text and "Smoke scale" not in text
    assert sum("plots/toy.noise.quick.png" in ln for ln in lines) == 1
    assert any("plots/toy.noise.quick.curves.png" in ln and "training curves" in ln for ln in lines)
    assert not any("toy.noise.quick.heatmap.png" in ln for ln in lines)  # not on disk, not listed
    (size_plot,) = [ln for ln in lines if "plots/toy.size.quick.png" in ln]
    assert "scatter of params against mpjpe" in size_plot
    assert "No reported numbers" in text
