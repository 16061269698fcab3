"""Fuzz: generated bad input (data files, options and config keys through the CLI; protocol files through
the parser) ends in one clear error line, a non-zero exit and nothing written.

At least 50 cases: every registered model gets an unknown option and a wrong-typed one, the dataset gets
file-level and array-level damage (including NaNs at random places), the config gets bad keys and values,
and a valid protocol gets mutated key by key.
"""
import copy
import random

import numpy as np
import pytest
import yaml

from bench.cli import main
from bench.errors import BenchError
from bench.protocols import PROTOCOLS_DIR, parse_protocol
from bench.registry import get_entry, list_models

SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
ACTIONS = ["Walking", "Eating"]
F = 6


def vp3d_data():
    rng = np.random.default_rng(0)
    pos3d = {s: {a: (rng.normal(scale=0.3, size=(F, 17, 3)) + [0, 0, 4]).astype(np.float32) for a in ACTIONS}
             for s in SUBJECTS}
    pos2d = {s: {a: [rng.uniform(0, 1000, size=(F, 17, 2)).astype(np.float32) for _ in range(4)]
                 for a in ACTIONS} for s in SUBJECTS}
    return pos3d, pos2d


def save(folder, pos3d, pos2d):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data_3d_h36m.npz", positions_3d=pos3d)
    np.savez(folder / "data_2d_h36m_gt.npz", positions_2d=pos2d,
             metadata={"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]})
    return folder


def _set3d(s, a, value):
    def mutate(pos3d, pos2d):
        pos3d[s][a] = value
    return mutate


def _set2d(s, a, cam, value):
    def mutate(pos3d, pos2d):
        pos2d[s][a][cam] = value
    return mutate


def _nan_at(seed):
    def mutate(pos3d, pos2d):
        r = random.Random(seed)
        s, a = r.choice(SUBJECTS), r.choice(ACTIONS)
        if r.random() < 0.5:
            pos3d[s][a][r.randrange(F), r.randrange(17), r.randrange(3)] = r.choice([np.nan, np.inf, -np.inf])
        else:
            pos2d[s][a][r.randrange(4)][r.randrange(F), r.randrange(17), r.randrange(2)] = np.nan
    return mutate


ARRAY_DAMAGE = {
    "3d-20-joints": _set3d("S6", "Eating", np.zeros((F, 20, 3))),
    "3d-flat": _set3d("S6", "Eating", np.zeros((F, 17))),
    "3d-text": _set3d("S6", "Eating", np.array([["a"]])),
    "3d-not-dict": lambda p3, p2: p3.__setitem__("S5", np.zeros((F, 17, 3))),
    "2d-15-joints": _set2d("S6", "Eating", 2, np.zeros((F, 15, 2))),
    "2d-3-coords": _set2d("S6", "Eating", 2, np.zeros((F, 17, 3))),
    "2d-no-frames": _set2d("S6", "Eating", 2, np.zeros((0, 17, 2))),
    "2d-shorter": _set2d("S8", "Walking", 0, np.zeros((F - 2, 17, 2))),
    "2d-missing-camera": lambda p3, p2: p2["S9"]["Walking"].pop(),
    "2d-missing-action": lambda p3, p2: p2["S9"].pop("Walking"),
    **{f"non-finite-{i}": _nan_at(i) for i in range(8)},
}


def _file_damage(name):
    def damage(folder):
        f3, f2 = folder / "data_3d_h36m.npz", folder / "data_2d_h36m_gt.npz"
        if name == "3d-garbage":
            f3.write_bytes(b"\x00garbage, not an npz file")
        elif name == "3d-empty":
            f3.write_bytes(b"")
        elif name == "3d-missing":
            f3.unlink()
        elif name == "2d-missing":
            f2.unlink()
        elif name == "3d-wrong-key":
            np.savez(f3, poses=np.zeros(3))
        elif name == "2d-wrong-key":
            np.savez(f2, keypoints=np.zeros(3))
        elif name == "2d-truncated":
            f2.write_bytes(f2.read_bytes()[:100])
    return damage


FILE_DAMAGE = ["3d-garbage", "3d-empty", "3d-missing", "2d-missing", "3d-wrong-key", "2d-wrong-key", "2d-truncated"]


def run_cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error_line(code, err, *needles):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def train_argv(tmp_path, model="martinez", *sets, data=None):
    argv = ["train", model, "--epochs", "1", "--runs-dir", str(tmp_path / "runs"),
            "--checkpoint", str(tmp_path / "ckpt.pt")]
    if data:
        argv += ["--data", data]
    for s in sets:
        argv += ["--set", s]
    return argv


def assert_nothing_written(tmp_path):
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*"))
    assert not (tmp_path / "ckpt.pt").exists()


@pytest.mark.parametrize("damage", sorted(ARRAY_DAMAGE) + FILE_DAMAGE + ["folder-missing", "folder-is-file"])
def test_damaged_data_files(damage, tmp_path, capsys):
    folder = tmp_path / "h36m"
    if damage in ARRAY_DAMAGE:
        pos3d, pos2d = vp3d_data()
        ARRAY_DAMAGE[damage](pos3d, pos2d)
        save(folder, pos3d, pos2d)
    elif damage == "folder-is-file":
        folder.write_text("not a folder")
    elif damage != "folder-missing":
        save(folder, *vp3d_data())
        _file_damage(damage)(folder)
    code, _, err = run_cli(train_argv(tmp_path, "martinez", "model.options.linear_size=8", data=f"h36m:{folder}"),
                           capsys)
    assert_one_error_line(code, err, "h36m")  # the message names the folder or the file (data_*_h36m*.npz)
    assert_nothing_written(tmp_path)


def _int_option(name):
    """A model option whose default is an integer (not a flag), to give it text."""
    for k, v in get_entry(name).defaults.items():
        if isinstance(v, int) and not isinstance(v, bool) and k not in ("num_joints_in", "num_joints_out"):
            return k
    return None


@pytest.mark.parametrize("model", list_models())
@pytest.mark.parametrize("kind", ["unknown", "wrong_type"])
def test_bad_model_options(model, kind, tmp_path, capsys):
    if kind == "unknown":
        opt, needle = "model.options.no_such_option=1", "no_such_option"
    else:
        key = _int_option(model)
        assert key, f"{model} has no integer option to fuzz"
        opt, needle = f"model.options.{key}=abc", key
    code, _, err = run_cli(train_argv(tmp_path, model, opt, "data.downsample=64"), capsys)
    assert_one_error_line(code, err, needle)
    assert_nothing_written(tmp_path)


@pytest.mark.parametrize("setting, needle", [
    ("train.epochz=1", "train.epochz"), ("train.epochs=0", "train.epochs"), ("train.epochs=abc", "train.epochs"),
    ("train.lr=-1", "train.lr"), ("eval.metrics=[mpjpe, foo]", "foo"), ("eval.noise_sigma=-5", "noise_sigma"),
    ("seed=-1", "seed"), ("run.kind=bench", "run.kind"), ("profile.repeats=0", "profile.repeats"),
    ("data.validation_subjects=[S9]", "validation_subjects"), ("model.name=nosuchmodel", "nosuchmodel"),
    ("train.optimizer=adagrad", "train.optimizer"), ("data.source=nosuchsource", "nosuchsource"),
    ("garbage", "KEY=VALUE"), ("train.lr=.inf", "train.lr"), ("train.lr=.nan", "train.lr"),
    ("train.lr=0", "train.lr"), ("train.weight_decay=.inf", "train.weight_decay"),
    ("train.lr=1e12", "training stopped"),
])
def test_bad_config_values(setting, needle, tmp_path, capsys):
    code, _, err = run_cli(train_argv(tmp_path, "martinez", setting, "data.downsample=64"), capsys)
    assert_one_error_line(code, err, needle)
    assert_nothing_written(tmp_path)


def _protocol_mutations():
    def put(path, value):
        def mutate(raw):
            node = raw
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return mutate

    return {
        "unknown-top-key": (put(["gird"], {}), "gird"),
        "base-typo": (put(["base", "train", "epochz"], 3), "epochz"),
        "base-bad-value": (put(["base", "train", "epochs"], -1), "train.epochs"),
        "grid-not-list": (put(["grid"], {"data.source": "gt"}), "grid.data.source"),
        "grid-empty": (put(["grid"], {"data.source": []}), "grid.data.source"),
        "cells-not-list": (put(["cells"], {"model.name": "edm"}), "cells"),
        "cell-typo": (put(["cells"], [{"model.nam": "edm"}]), "model.nam"),
        "variants-not-eval": (put(["eval_variants"], {"train.epochs": [1, 2]}), "eval_variants"),
        "seeds-zero": (put(["seeds"], 0), "seeds"),
        "seeds-text": (put(["seeds"], "three"), "seeds"),
        "layout-typo": (put(["layout", "rowz"], ["model.name"]), "rowz"),
        "scale-unknown": (put(["scales", "huge"], {}), "huge"),
        "scale-grid-not-subset": (put(["scales", "quick", "grid"], {"data.source": ["det"]}), "scales.quick.grid"),
        "also-reported-bad": (put(["also_reported"], ["dgnet"]), "also_reported"),
        "actions-without-action": (put(["layout", "actions"], ["Average"]), "layout.actions"),
        "scatter-bad": (put(["layout", "plot"], {"scatter": ["params"]}), "layout.plot.scatter"),
        "missing-title": (lambda raw: raw.pop("title"), "title"),
    }


@pytest.mark.parametrize("mutation", sorted(_protocol_mutations()))
def test_mutated_protocol_files(mutation, tmp_path):
    base = yaml.safe_load((PROTOCOLS_DIR / "dgnet" / "noise.yaml").read_text())
    parse_protocol(copy.deepcopy(base), "dgnet.noise", "noise.yaml")  # the unmutated file is valid
    raw = copy.deepcopy(base)
    mutate, needle = _protocol_mutations()[mutation]
    mutate(raw)
    with pytest.raises(BenchError) as err:
        parse_protocol(raw, "fuzz.noise", str(tmp_path / "noise.yaml"))
    msg = str(err.value)
    assert "\n" not in msg and "noise.yaml" in msg and needle in msg, msg
    assert list(tmp_path.iterdir()) == []


def test_unknown_protocol_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["ablate", "dgnet.nosuch", "--scale", "smoke", "--runs-dir", str(tmp_path / "runs")],
                           capsys)
    assert_one_error_line(code, err, "dgnet.nosuch")
    assert list(tmp_path.iterdir()) == []
    code, _, err = run_cli(["ablate", "dgnet.kk", "--scale", "smoke", "--runs-dir", str(tmp_path / "runs")], capsys)
    assert_one_error_line(code, err, "did you mean dgnet.k?")


def test_bad_set_value_in_a_sweep_names_set_not_the_protocol(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["ablate", "dgnet.k", "--scale", "smoke", "--runs-dir", str(tmp_path / "runs"),
                            "--set", "train.lr=-1"], capsys)
    assert_one_error_line(code, err, "--set", "train.lr")
    assert "protocols" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("target", ["runs", "checkpoint"])
def test_unwritable_output_is_found_before_training(target, tmp_path, capsys):
    """A file where the runs folder (or the checkpoint's folder) should be: one line naming it, before any
    training (a diverging learning rate would stop training with another message), nothing written."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    argv = ["train", "martinez", "--epochs", "1", "--set", "train.lr=1e12", "--set", "data.downsample=64",
            "--runs-dir", str(blocker / "runs" if target == "runs" else tmp_path / "runs"),
            "--checkpoint", str(blocker / "ckpt.pt" if target == "checkpoint" else tmp_path / "ckpt.pt")]
    code, _, err = run_cli(argv, capsys)
    assert_one_error_line(code, err, "not writable", str(blocker))
    assert "training stopped" not in err
    assert_nothing_written(tmp_path)

