"""Every shipped protocol plans unchanged on a folder in the real Human3.6M layout (``--data h36m:DIR``,
generated with the real take names by tests/data/h36m_fixture.py), and one smoke sweep runs end to end
on it (issue 17, item 3)."""
import importlib.util
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import flatten
from bench.data.dataset import data_fingerprint
from bench.errors import BenchError
from bench.protocols import list_protocols, load_protocol
from bench.data.actions import H36M_ACTION_GROUPS
from bench.sweep import plan

_spec = importlib.util.spec_from_file_location("h36m_fixture", Path(__file__).parent / "data" / "h36m_fixture.py")
fixture = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixture)


@pytest.fixture(scope="module")
def h36m_dir(tmp_path_factory):
    return fixture.write_h36m_fixture(tmp_path_factory.mktemp("h36m"), frames=12)


def _default_dataset(name: str) -> str:
    return str(flatten(load_protocol(name).base).get("data.dataset", "standin")).partition(":")[0]


H36M_PROTOCOLS = [p for p in list_protocols() if _default_dataset(p) == "standin"]
OTHER_PROTOCOLS = [p for p in list_protocols() if _default_dataset(p) != "standin"]


def test_the_split_is_what_it_should_be():
    assert len(H36M_PROTOCOLS) >= 30 and set(OTHER_PROTOCOLS) == {"dgnet.humaneva", "gastnet.humaneva"}


@pytest.mark.parametrize("scale", ["smoke", "quick", "full", "paper"])
@pytest.mark.parametrize("name", H36M_PROTOCOLS)
def test_every_protocol_plans_on_real_human36m(name, scale, h36m_dir):
    protocol = load_protocol(name)
    jobs = plan(protocol, scale, overrides={"data.dataset": f"h36m:{h36m_dir}"})
    assert bool(jobs) == (protocol.scale_settings(scale).get("only") != [])  # only: [] = full scale only
    for job in jobs:
        assert job.cfg["data"]["dataset"] == f"h36m:{h36m_dir}"
        if job.cfg["run"]["kind"] == "train":
            # the role resolves to a file of the folder, and the plan knows that file's content hash
            src = {"gt": "gt", "cpn": "cpn_ft_h36m_dbb", "sh": "sh_pt_mpii"}[job.cfg["data"]["source"]]
            files = [str(h36m_dir / "data_3d_h36m.npz"), str(h36m_dir / f"data_2d_h36m_{src}.npz")]
            assert job.data_sha256 == data_fingerprint(files)["sha256"]


def test_cross_action_cells_come_from_the_dataset(h36m_dir):
    jobs = plan(load_protocol("dgnet.cross_action"), "paper", overrides={"data.dataset": f"h36m:{h36m_dir}"})
    trained_on = {tuple(j.cell["data.train_actions"]) for j in jobs}
    assert trained_on == {(g,) for g in H36M_ACTION_GROUPS} and len(trained_on) == 15
    smoke = plan(load_protocol("dgnet.cross_action"), "smoke", overrides={"data.dataset": f"h36m:{h36m_dir}"})
    assert len({tuple(j.cell["data.train_actions"]) for j in smoke}) == 2


@pytest.mark.parametrize("name", OTHER_PROTOCOLS)
def test_protocols_of_other_datasets_plan_on_their_data_and_refuse_h36m(name, h36m_dir):
    assert plan(load_protocol(name), "full")
    with pytest.raises(BenchError, match=f"--data h36m:{h36m_dir}: protocol {name} is written for"):
        plan(load_protocol(name), "quick", overrides={"data.dataset": f"h36m:{h36m_dir}"})


def test_a_smoke_sweep_end_to_end_on_real_human36m(h36m_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["ablate", "dgnet.h36m", "--scale", "smoke", "--data", f"h36m:{h36m_dir}",
            "--runs-dir", str(tmp_path / "runs"), "--format", "md"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    tables = sorted((tmp_path / "results" / "tables").glob("dgnet.h36m.smoke.h36m-*.md"))
    assert len(tables) == 1  # its own file: the committed stand-in table is never overwritten
    text = tables[0].read_text()
    assert "Data: `h36m:" in text and "data_2d_h36m_cpn_ft_h36m_dbb.npz" in text
    assert "this table's runs read the data named above" in text
    assert "Run with --set data.dataset=h36m:" in text
    # the 15 action groups of the papers are its rows (S11 'Directions 1' is there: Directions has S11)
    for group in H36M_ACTION_GROUPS:
        assert f"| {group} |" in text, group
    assert "2 run(s) trained" in out


def _sweep(tmp_path, data, capsys):
    argv = ["ablate", "videopose3d.receptive_field", "--scale", "smoke", "--data", data,
            "--runs-dir", str(tmp_path / "runs"), "--format", "md", "--set", "data.downsample=4"]
    assert main(argv) == 0
    return capsys.readouterr().out


def test_data_replaced_in_place_runs_again(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = fixture.write_h36m_fixture(tmp_path / "h36m", frames=8)
    assert "3 to run" in _sweep(tmp_path, f"h36m:{folder}", capsys)
    assert "0 to run" in _sweep(tmp_path, f"h36m:{folder}", capsys)
    fixture.write_h36m_fixture(folder, frames=9)  # the same file names, other content
    out = _sweep(tmp_path, f"h36m:{folder}", capsys)
    assert out.count("made from other data files") == 3 and "3 to run" in out
    assert len(list((tmp_path / "runs").rglob("*.json.stale-*"))) == 3


def test_runs_on_other_data_never_pool_in_one_table(tmp_path, tiny_data, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    folder = fixture.write_h36m_fixture(tmp_path / "h36m", frames=8)
    _sweep(tmp_path, f"standin:{tiny_data}", capsys)
    _sweep(tmp_path, f"h36m:{folder}", capsys)
    tables = sorted(p.name for p in (tmp_path / "results" / "tables").glob("*.md"))
    assert len(tables) == 2 and all(t.startswith("videopose3d.receptive_field.smoke.") for t in tables)
    assert main(["table", "videopose3d.receptive_field", "--scale", "smoke", "--data", f"standin:{tiny_data}",
                 "--set", "data.downsample=4", "--runs-dir", str(tmp_path / "runs"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "3 run record(s) of this protocol and scale belong to other configurations" in out
    assert "(n=2)" not in out and "3 run records" in out
