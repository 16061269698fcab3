"""Nothing is lost or endangered (issue 17): outputs written independently and atomically, a full disk
is one line, corrupt records are moved aside and re-run, checkpoints never run code, a checkpoint that
does not fit the data is one line."""
import errno
import json
import pickle

import pytest
import torch

from bench.cli import main
from bench.errors import OutputError
from bench.records import write_atomic


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(code, err, *needles):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def train(tmp_path, tiny_data, capsys, *sets):
    argv = ["train", "martinez", "--data", f"standin:{tiny_data}", "--epochs", "1",
            "--runs-dir", str(tmp_path / "runs"), "--checkpoint", str(tmp_path / "ckpt" / "m.pt"),
            "--set", "model.options.linear_size=16"]
    for s in sets:
        argv += ["--set", s]
    return run_cli(argv, capsys)


def test_a_failing_checkpoint_keeps_the_record(tmp_path, tiny_data, capsys, monkeypatch):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    code, _, err = train(tmp_path, tiny_data, capsys)
    one_error_line(code, err, "the disk is full", "m.pt")
    records = list((tmp_path / "runs").rglob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["metrics"][""]["mpjpe"] > 0
    assert not (tmp_path / "ckpt" / "m.pt").exists()
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == []  # no temporary file left behind


def test_full_disk_while_writing_is_one_line_and_leaves_the_old_file(tmp_path):
    """The writer fails half way (ENOSPC, as a full disk does): one line, the previous file intact, no
    temporary file left."""
    target = tmp_path / "runs" / "r.json"
    target.parent.mkdir()
    target.write_text('{"old": true}')

    def half_then_full(tmp):
        with open(tmp, "w") as fh:
            fh.write('{"new": ')
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match="the disk is full") as e:
        write_atomic(target, half_then_full)
    assert "\n" not in str(e.value) and str(target) in str(e.value)
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_corrupt_record_is_moved_aside_and_its_cell_run_again(tmp_path, tiny_data, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # tables and plots of the sweep go to this folder's results/
    argv = ["ablate", "videopose3d.receptive_field", "--scale", "smoke", "--runs-dir", str(tmp_path / "runs"),
            "--set", f"data.dataset=standin:{tiny_data}"]
    assert main(argv) == 0
    records = sorted((tmp_path / "runs").rglob("*.json"))
    good = {p: p.read_text() for p in records}
    broken = records[0]
    broken.write_text(good[broken][: len(good[broken]) // 2])  # cut short, as by a crash of another tool
    capsys.readouterr()

    # bench table: skips it with a line saying how to recover, and still writes the table
    assert main(["table", "videopose3d.receptive_field", "--scale", "smoke", "--runs-dir", str(tmp_path / "runs"),
                 "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert f"skipped: unreadable run record {broken}" in out and "moves it aside" in out

    # the sweep: moves it aside with a message and trains that cell again
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "moved aside to" in out and "1 to run" in out
    assert json.loads(broken.read_text())["id"] == broken.stem
    assert len(list(broken.parent.glob(f"{broken.name}.corrupt-*"))) == 1
    assert all(p.read_text() == text for p, text in good.items() if p != broken)


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file when unpickled


def test_a_crafted_checkpoint_does_not_run_code(tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    with open(bad, "wb") as fh:
        pickle.dump({"format": 1, "model": {"name": "martinez", "options": {}}, "payload": _Exploit(str(marker))},
                    fh)
    code, _, err = run_cli(["eval", str(bad)], capsys)
    one_error_line(code, err, "bad.pt", "never code")
    assert not marker.exists()


def test_eval_of_a_checkpoint_that_does_not_fit_the_data_is_one_line(tmp_path, tiny_data, capsys):
    assert train(tmp_path, tiny_data, capsys)[0] == 0
    capsys.readouterr()
    code, _, err = run_cli(["eval", str(tmp_path / "ckpt" / "m.pt"), "--data", "humaneva"], capsys)
    one_error_line(code, err, "m.pt", "17 input", "humaneva")
