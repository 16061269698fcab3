"""Bad input through the CLI: one clear line, non-zero exit, nothing written."""
import pytest

from bench.cli import main
from bench.errors import ConfigError
from bench.protocols import parse_protocol


def run_cli(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("argv, needle", [
    (["train", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    (["train", "videopose3d", "--set", "model.options.widht=3"], "unknown option(s) widht"),
    (["train", "videopose3d", "--set", "train.epoch=3"], "did you mean train.epochs"),
    (["train", "videopose3d", "--set", "eval.noise_sigma=-5"], "eval.noise_sigma must be a finite number >= 0"),
    (["train", "videopose3d", "--data", "standin:/nonexistent/folder"], "data folder not found"),
    (["train", "videopose3d", "--data", "nosuchset"], "unknown dataset 'nosuchset'"),
    (["ablate", "nosuch.protocol", "--scale", "smoke"], "unknown protocol 'nosuch.protocol'"),
    (["ablate", "videopose3d.receptive_field", "--scale", "smoke", "--set",
      "model.options.receptive_field=28"], "receptive"),
    (["profile", "videopose3d", "--set", "receptive_field=28"], "receptive"),
    (["eval", "/nonexistent/model.pt"], "checkpoint not found"),
    (["data", "info", "h36m"], "needs a folder"),
])
def test_bad_input_is_one_line_and_nonzero(capsys, tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)  # anything written would land here
    code, err = run_cli(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert needle in err
    assert not (tmp_path / "results").exists()


def test_unknown_subject_action_camera(capsys, tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = f"standin:{tiny_data}"
    for sets, needle in ((["data.test_subjects=[S99]"], "unknown subject 'S99'"),
                         (["data.actions=[Juggling]"], "unknown action 'Juggling'")):
        args = ["train", "videopose3d", "--data", data, "--epochs", "1"]
        for s in sets:
            args += ["--set", s]
        code, err = run_cli(capsys, *args)
        assert code == 2 and needle in err, err
    assert not (tmp_path / "results" / "runs").exists()


def test_nan_in_data_is_reported_with_location(capsys, tmp_path, monkeypatch, dataset_writer):
    dataset_writer(tmp_path, nan_at=("S5", "Walk 1"))
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(capsys, "train", "videopose3d", "--data", f"standin:{tmp_path}")
    assert code == 2 and "non-finite" in err and "S5" in err and "frame 3" in err


def test_protocol_typo_in_key_names_file_and_key():
    raw = {"title": "t", "base": {"train": {"epochz": 3}}}
    with pytest.raises(ConfigError, match=r"x.yaml: base: unknown key 'train.epochz'"):
        parse_protocol(raw, "p.x", "x.yaml")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_protocol({"title": "t", "gird": {}}, "p.x", "x.yaml")
    with pytest.raises(ConfigError, match="seeds must be a positive integer"):
        parse_protocol({"title": "t", "seeds": 0}, "p.x", "x.yaml")


def test_list_runs(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "videopose3d" in out and "dgnet.noise" in out and "standin" in out
