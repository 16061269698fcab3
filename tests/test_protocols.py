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


@pytest.mark.parametrize("name", list_protocols())
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
