"""Every protocol file validates and runs end to end at smoke scale (new protocols are covered
automatically)."""
import pytest

from bench.protocols import list_protocols, load_protocol
from bench.report.published import get_reported_table
from bench.sweep import plan, run_sweep


@pytest.mark.parametrize("name", list_protocols())
def test_protocol_plans_at_every_scale(name, tmp_path):
    protocol = load_protocol(name)
    if protocol.reported_ref:
        assert get_reported_table(protocol.paper, protocol.table).cells
    for scale in ("smoke", "quick", "full", "paper"):
        jobs = plan(protocol, scale, runs_dir=tmp_path)
        # a scale may run no cell (only: []): its table shows every cell as full scale only
        assert bool(jobs) == (protocol.scale_settings(scale).get("only") != [])


#: Protocols whose smoke sweep runs in the default (fast) suite: one per distinct feature (a grid, explicit
#: cells, evaluation variants, several models, dataset-derived cells, another dataset, profile cells in
#: both modes, the camera context, motion-loss cells). The others run with ``-m slow`` (same code paths,
#: other numbers): together they took about a third of the default suite.
FAST_SMOKE = {"videopose3d.receptive_field", "dgnet.k", "ugcn.loss", "gastnet.components", "attention_tcn.noise",
              "models.compare", "dgnet.cross_action", "dgnet.humaneva", "models.latency", "models.throughput",
              "dgnet.details"}


@pytest.mark.parametrize("name", [n if n in FAST_SMOKE else pytest.param(n, marks=pytest.mark.slow)
                                  for n in list_protocols()])
def test_protocol_runs_at_smoke_scale(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_sweep(name, "smoke", runs_dir=tmp_path / "runs", tables_dir=tmp_path / "tables",
                    plots_dir=tmp_path / "plots", tb_dir=None, log=lambda m: None, progress=False)
    assert res.ran == len(res.records) > 0
    table = (tmp_path / "tables" / f"{name}.smoke.md").read_text()
    if load_protocol(name).reported_ref:
        assert "Kendall" in table and "—" not in table.split("Kendall")[0]  # every planned cell filled
    else:
        assert "—" not in table.split("Notes:")[0]
    assert (tmp_path / "plots" / f"{name}.smoke.png").stat().st_size > 1000
