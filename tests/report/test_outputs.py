"""Which files a table gets (bench.report.outputs): the table in each format and its statistics sidecar,
then the scatter or the
per-cell plot, the training curves when the records have them, the heat map when the layout asks."""
import pytest

from bench.report import plots
from bench.report.outputs import write_outputs
from bench.report.tables import Table, TableCell


def table(plot=None):
    metrics = ["params", "mpjpe"]
    return Table(name="toy.p", stem="toy.p.smoke", title="Toy", scale="smoke", row_keys=[], column_keys=[],
                 metrics=metrics, labels={}, rows=[()], column_groups=[()],
                 cells={((), (), m): TableCell((), (), m) for m in metrics}, plot=dict(plot or {}))


@pytest.fixture
def drawn(monkeypatch):
    """Each plot function records (name, file name, extra arguments) instead of drawing."""
    calls = []

    def fake(name):
        def draw(*args, **kw):
            path = next(a for a in args if hasattr(a, "name") and str(a).endswith(".png"))
            calls.append((name, path.name, tuple(a for a in args if isinstance(a, str)), kw))
            return path
        return draw

    for name in ("plot_protocol", "plot_scatter", "plot_curves", "plot_cross_action"):
        monkeypatch.setattr(plots, name, fake(name))
    return calls


def test_per_cell_plot_and_curves(tmp_path, drawn):
    recs = [{"id": "a", "curve": [{"epoch": 0}]}]
    paths = write_outputs(table(), recs, None, tmp_path / "t", tmp_path / "p", ("md", "csv"))
    assert [p.name for p in paths] == ["toy.p.smoke.md", "toy.p.smoke.csv", "toy.p.smoke.stats.json",
                                       "toy.p.smoke.png", "toy.p.smoke.curves.png"]
    assert [c[0] for c in drawn] == ["plot_protocol", "plot_curves"]


def test_scatter_replaces_the_per_cell_plot_and_profile_runs_have_no_curves(tmp_path, drawn):
    write_outputs(table({"scatter": ["params", "mpjpe"]}), [{"id": "a"}], None, tmp_path / "t", tmp_path / "p")
    assert [(c[0], c[1], c[2]) for c in drawn] == [("plot_scatter", "toy.p.smoke.png", ("params", "mpjpe"))]


def test_heatmap_with_its_training_key(tmp_path, drawn):
    write_outputs(table({"heatmap": "data.train_actions"}), [{"id": "a"}], None, tmp_path / "t", tmp_path / "p")
    assert [c[0] for c in drawn] == ["plot_protocol", "plot_cross_action"]
    assert drawn[1][1] == "toy.p.smoke.heatmap.png" and drawn[1][3] == {"train_key": "data.train_actions"}


def test_no_plots_without_a_plots_folder_or_records(tmp_path, drawn):
    files = ["toy.p.smoke.md", "toy.p.smoke.stats.json"]
    assert [p.name for p in write_outputs(table(), [{"id": "a"}], None, tmp_path, None)] == files
    assert [p.name for p in write_outputs(table(), [], None, tmp_path, tmp_path / "p")] == files
    assert drawn == []
