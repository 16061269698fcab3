"""Step budgets, warm-up, validation during training (subjects or the end of every take), the convergence
criterion, the reference levels and the loss-term hook (issue 19 items 1-3, engine side)."""

import numpy as np
import pytest
import torch
import yaml

import bench.losses
from bench.config import ADDED_LATER, SCHEMA, complete, experiment_id, hash_view, resolve
from bench.data import load_dataset
from bench.data.dataset import Sequence
from bench.engine.budget import convergence, step_bn_momentum, step_lr, validation_steps, warmup_factor
from bench.engine.data import split_sequences
from bench.engine.evaluate import reference_levels
from bench.engine.experiment import run_experiment
from bench.engine.train import train_model
from bench.errors import ConfigError
from bench.golden import GOLDEN_DIR
from bench.registry import create_model

pytestmark = pytest.mark.usefixtures("one_thread")

NEW_KEYS = ("train.steps", "train.warmup_steps", "train.val_every", "train.convergence_tolerance",
            "data.validation_fraction")


def small_cfg(tiny_data, **over):
    base = {"data.dataset": f"standin:{tiny_data}", "model.name": "videopose3d",
            "model.options.receptive_field": 3, "model.options.channels": 8, "train.epochs": 4,
            "train.batch_size": 16, "train.window_stride": 4, "eval.batch_frames": 64,
            "eval.metrics": ["mpjpe"], "train.lr_decay": 0.5}
    base.update(over)
    return resolve(base)


def train(tiny_data, cfg, val=False):
    """train_model on S1 camera 0 (validation: S5 camera 0 when ``val``); returns (result, model)."""
    ds = load_dataset(f"standin:{tiny_data}")
    seqs = ds.sequences(["S1"], cameras=[0])
    val_seqs = ds.sequences(["S5"], cameras=[0]) if val else []
    torch.manual_seed(0)
    model = create_model("videopose3d", **cfg["model"]["options"])
    result = train_model(model, cfg, seqs, val_seqs, ds.keypoints_layout, ds.skeleton)
    return result, model


# --- the schedule compressed onto a step budget -----------------------------------------------------

def test_compressed_schedules_by_hand():
    # A resolved train section: the schedule reads every key it needs from it, no default of its own.
    tc = resolve({"train": {"lr": 1e-3, "epochs": 10, "lr_decay": 0.5, "lr_schedule": "exponential",
                            "bn_momentum_start": 0.1, "bn_momentum_end": 0.001}})["train"]
    assert step_lr(0, 100, tc) == pytest.approx(1e-3)
    assert step_lr(20, 100, tc) == pytest.approx(1e-3 * 0.5 ** 2)  # 2 of the 10 epochs done
    assert step_lr(25, 100, tc) == pytest.approx(1e-3 * 0.5 ** 2.5)
    step = dict(tc, lr_schedule="step", lr_milestones=[5, 8], lr_gamma=0.1)
    assert [step_lr(s, 100, step) for s in (0, 49, 50, 79, 80, 99)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    cos = dict(tc, lr_schedule="cosine", lr_min=1e-5)
    assert step_lr(0, 100, cos) == pytest.approx(1e-3)
    assert step_lr(50, 100, cos) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2)
    assert step_lr(100, 100, cos) == pytest.approx(1e-5)
    assert step_bn_momentum(0, 100, tc) == pytest.approx(0.1)
    assert step_bn_momentum(50, 100, tc) == pytest.approx(0.01)  # 0.1 * (0.001 / 0.1) ** 0.5
    assert [warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_validation_steps():
    assert validation_steps(40, 7, None, True) == set(range(2, 41, 2))  # 20 evenly spaced
    assert validation_steps(5, 7, None, True) == {1, 2, 3, 4, 5}
    assert validation_steps(21, 7, None, False) == {7, 14, 21}  # every pass
    assert validation_steps(21, 7, 5, False) == {5, 10, 15, 20, 21}  # every 5 steps and the last


def test_a_step_budget_runs_exactly_n_steps_on_the_compressed_schedule(tiny_data):
    cfg = small_cfg(tiny_data, **{"train.steps": 9, "train.val_every": 1, "train.warmup_steps": 3})
    result, _ = train(tiny_data, cfg)
    assert result.steps == 9 and [r["step"] for r in result.curve] == list(range(1, 10))
    assert all("epoch" not in r for r in result.curve)
    # row s holds the lr of 0-based step s - 1: 1e-3 * 0.5 ** (4 epochs * (s - 1) / 9), warmed up over 3
    for r in result.curve:
        s = r["step"] - 1
        assert r["lr"] == pytest.approx(1e-3 * 0.5 ** (4 * s / 9) * min(1, (s + 1) / 3))
    b = result.budget
    per_pass = b["steps_per_pass"]
    assert b["unit"] == "steps" and b["steps"] == 9 and b["warmup_steps"] == 3 and per_pass < 9  # > 1 pass
    assert b["passes"] == pytest.approx(b["windows_seen"] / result.num_windows) and b["passes"] > 1
    assert "compressed onto 9 steps" in b["schedule"]


def test_warmup_under_an_epoch_budget_then_the_epoch_schedule(tiny_data):
    cfg = small_cfg(tiny_data, **{"train.epochs": 2, "train.warmup_steps": 2, "train.val_every": 1})
    result, _ = train(tiny_data, cfg)
    per_pass = result.budget["steps_per_pass"]
    lrs = [r["lr"] for r in result.curve]
    assert lrs[:3] == pytest.approx([0.5e-3, 1e-3, 1e-3])
    assert lrs[per_pass] == pytest.approx(0.5e-3)  # first step of epoch 2: lr x lr_decay
    assert [r["epoch"] for r in result.curve] == [1] * per_pass + [2] * per_pass


def test_epoch_budget_record_and_curve_keep_their_shape(tiny_data):
    cfg = small_cfg(tiny_data, **{"train.epochs": 2})
    result, _ = train(tiny_data, cfg)
    per_pass = result.budget["steps_per_pass"]
    assert [(r["epoch"], r["step"]) for r in result.curve] == [(1, per_pass), (2, 2 * per_pass)]
    assert list(result.curve[0]) == ["epoch", "step", "train_mpjpe", "val_mpjpe", "lr", "time_s"]
    assert result.budget["unit"] == "epochs" and result.budget["passes"] == 2
    assert result.budget["windows_seen"] == 2 * result.num_windows and result.budget["steps"] == 2 * per_pass


def test_flip_and_no_flip_take_the_same_steps(tiny_data):
    a, _ = train(tiny_data, small_cfg(tiny_data, **{"train.steps": 7, "train.flip": True}))
    b, _ = train(tiny_data, small_cfg(tiny_data, **{"train.steps": 7, "train.flip": False}))
    assert a.steps == b.steps == 7 and a.budget["windows_seen"] == b.budget["windows_seen"]
    assert a.num_windows == 2 * b.num_windows
    assert a.budget["passes"] == pytest.approx(b.budget["passes"] / 2)


# --- validation -------------------------------------------------------------------------------------

def test_validation_fraction_splits_every_training_take(tiny_data):
    ds = load_dataset(f"standin:{tiny_data}")
    base = small_cfg(tiny_data)["data"]
    plain, _, test = split_sequences(ds, base)
    train, val, test2 = split_sequences(ds, dict(base, validation_fraction=0.2))
    assert len(train) == len(val) == len(plain) and len(test2) == len(test)
    for whole, t, v in zip(plain, train, val):
        assert (t.subject, t.action, t.camera) == (v.subject, v.action, v.camera) == \
               (whole.subject, whole.action, whole.camera)
        assert len(v) == round(0.2 * len(whole)) and len(t) + len(v) == len(whole)
        assert np.array_equal(np.concatenate([t.positions, v.positions]), whole.positions)
        assert np.array_equal(np.concatenate([t.keypoints, v.keypoints]), whole.keypoints)
    # with validation subjects too: their whole takes plus the ends of the remaining training takes
    train, val, _ = split_sequences(ds, dict(base, validation_fraction=0.2, validation_subjects=["S1"]))
    assert {s.subject for s in train} == {s.subject for s in plain} - {"S1"}
    assert sum(s.subject == "S1" for s in val) == sum(s.subject == "S1" for s in plain)
    assert len(val) == len(plain)


def test_validation_fraction_config(tiny_data):
    for bad in (0.5, -0.1, 1):
        with pytest.raises(ConfigError, match=r"validation_fraction must be a number in \[0, 0.5\)"):
            small_cfg(tiny_data, **{"data.validation_fraction": bad})
    with pytest.raises(ConfigError, match="validation_fraction"):
        small_cfg(tiny_data, **{"eval.epoch": "best"})
    assert small_cfg(tiny_data, **{"eval.epoch": "best", "data.validation_fraction": 0.1})["eval"]["epoch"] == "best"
    ds = load_dataset(f"standin:{tiny_data}")  # takes of ~90 frames: 0.001 holds out none
    with pytest.raises(ConfigError, match="holds out no frame"):
        split_sequences(ds, small_cfg(tiny_data, **{"data.validation_fraction": 0.001})["data"])


def test_validation_does_not_change_training(tiny_data):
    cfg = small_cfg(tiny_data, **{"train.steps": 6, "train.val_every": 2})
    plain, m1 = train(tiny_data, cfg)
    validated, m2 = train(tiny_data, cfg, val=True)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert [r["train_mpjpe"] for r in plain.curve] == [r["train_mpjpe"] for r in validated.curve]
    assert all(r["val_mpjpe"] is None for r in plain.curve)
    assert all(r["val_mpjpe"] > 0 for r in validated.curve) and len(validated.curve) == 3


def test_best_state_on_the_validation_fraction(tiny_data, tmp_path):
    cfg = small_cfg(tiny_data, **{"train.steps": 8, "train.val_every": 2, "eval.epoch": "best",
                                  "data.validation_fraction": 0.25, "data.train_subjects": ["S1"],
                                  "data.test_subjects": ["S9"]})
    rec = run_experiment(cfg, runs_dir=tmp_path)
    vals = [r["val_mpjpe"] for r in rec["curve"]]
    assert [r["step"] for r in rec["curve"]] == [2, 4, 6, 8]
    assert rec["best_step"] == rec["curve"][int(np.argmin(vals))]["step"] and rec["best_epoch"] is None
    assert rec["budget"]["steps"] == 8 and rec["convergence"]["curve"] == "val"
    assert rec["convergence"]["converged"] in (True, False)
    d = rec["dataset"]
    assert d["validation_sequences"] == d["train_sequences"] and d["validation_frames"] > 0
    assert set(rec["reference"]) == {"mean_pose", "zero_pose"}
    assert set(rec["reference"]["mean_pose"]) == {"mpjpe"}


# --- convergence ------------------------------------------------------------------------------------

def rows(values, key="val_mpjpe", step=10):
    return [{"step": step * (i + 1), key: v, "train_mpjpe": 1000.0} for i, v in enumerate(values)]


def test_convergence_criterion_on_hand_made_curves():
    # 8 rows over 80 steps: the last quarter is steps 70 and 80
    flat = convergence(rows([100, 80, 70, 65, 62, 61, 60.5, 60.2]), 80, 0.02)
    assert flat["converged"] is True and flat["curve"] == "val"
    assert flat["best_before_last_quarter"] == 61 and flat["best_last_quarter"] == 60.2
    assert flat["improvement_mm"] == pytest.approx(0.8)  # <= max(0.02 x 61, 0.5) = 1.22
    falling = convergence(rows([100, 90, 80, 70, 60, 50, 40, 30]), 80, 0.02)
    assert falling["converged"] is False and falling["improvement_mm"] == pytest.approx(20)
    small = convergence(rows([10, 9, 8, 7, 6, 5, 4.5, 4.4]), 80, 0.02)  # 0.6 mm > the 0.5 mm floor
    assert small["converged"] is False
    worse = convergence(rows([50, 40, 30, 30, 30, 30, 35, 36]), 80, 0.02)  # got worse: stopped improving
    assert worse["converged"] is True and worse["improvement_mm"] < 0
    few = convergence(rows([100, 90, 80]), 30, 0.02)
    assert few["converged"] is None and few["improvement_mm"] is None
    train_only = convergence(rows([100, 80, 70, 65, 62, 61, 60.5, 60.2], key="train_mpjpe"), 80, 0.02)
    assert train_only["curve"] == "train" and train_only["converged"] is True
    assert "training MPJPE (no validation set)" in train_only["criterion"]
    assert "validation MPJPE" in flat["criterion"]


# --- reference levels -------------------------------------------------------------------------------

def seq(action, joint1_heights, root=(1.0, 2.0, 3.0)):
    """A 2-joint sequence: the root at ``root``, joint 1 straight above it at each height (metres)."""
    h = np.asarray(joint1_heights, dtype=np.float32)
    pos = np.zeros((len(h), 2, 3), dtype=np.float32) + np.asarray(root, dtype=np.float32)
    pos[:, 1, 2] += h
    return Sequence("S1", action, 0, np.zeros((len(h), 2, 2), dtype=np.float32), pos)


def test_reference_levels_by_hand(tiny_data):
    train_seqs = [seq("Walk", [1.0, 3.0])]  # mean pose: joint 1 at 2 m above the root
    test_seqs = [seq("Walk", [2.0, 4.0]), seq("Sit", [2.0, 2.0, 2.0])]
    metrics = ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc"]
    cfg = small_cfg(tiny_data, **{"eval.metrics": metrics})
    ref = reference_levels(train_seqs, test_seqs, cfg)
    mean, zero = ref["mean_pose"], ref["zero_pose"]
    # mean pose: Walk frames err (0, 2000) mm on joint 1 -> per frame 0, 1000 -> 500; Sit 0 -> 250
    assert mean["mpjpe"] == pytest.approx(250)
    assert mean["p_mpjpe"] == pytest.approx(0, abs=1e-6)  # two joints align exactly
    assert mean["n_mpjpe"] == pytest.approx(0, abs=1e-6)  # collinear: the scale fits exactly
    assert mean["mpjve"] == pytest.approx(500)  # Walk: joint 1 moves 2000 mm once -> 1000; Sit 0
    assert mean["pck"] == pytest.approx((75 + 100) / 2)
    # zero pose: per frame |joint 1| / 2 -> Walk 1000, 2000 -> 1500; Sit 1000 -> 1250
    assert zero["mpjpe"] == pytest.approx(1250) and zero["n_mpjpe"] == pytest.approx(1250)
    assert zero["p_mpjpe"] == pytest.approx(1250)  # both joints at the target's centroid: h / 2 each
    assert zero["mpjve"] == pytest.approx(500) and zero["pck"] == pytest.approx(50)
    assert zero["auc"] == pytest.approx(50 * 30 / 31)  # the root is within every threshold but 0; joint 1 never
    cfg["eval"]["averaging"] = "frame"
    ref = reference_levels(train_seqs, test_seqs, cfg)
    assert ref["mean_pose"]["mpjpe"] == pytest.approx(1000 / 5)
    assert ref["zero_pose"]["mpjpe"] == pytest.approx((1000 + 2000 + 3 * 1000) / 5)
    assert ref["mean_pose"]["mpjve"] == pytest.approx(1000 / 3)


# --- experiment ids ---------------------------------------------------------------------------------

GOLDEN_IDS = {"videopose3d": "10d8b1b8ba7f", "ugcn": "e04e06abe447", "dgnet": "7d11b45978ff",
              "martinez": "af6a3e75232d"}


@pytest.mark.parametrize("model", sorted(GOLDEN_IDS))
def test_old_configs_keep_their_experiment_ids(model):
    entry = yaml.safe_load((GOLDEN_DIR / f"{model}.yaml").read_text())
    cfg = resolve({"model.name": model}, entry["experiment"])
    assert experiment_id(cfg, [{}]) == GOLDEN_IDS[model]  # the id before these keys existed
    view = hash_view(cfg)
    for key in NEW_KEYS:
        assert key in ADDED_LATER and key in SCHEMA
        section, name = key.split(".")
        assert name not in view[section]
    assert complete(view) == cfg and experiment_id(view, [{}]) == GOLDEN_IDS[model]
    steps = resolve({"model.name": model}, entry["experiment"], {"train.steps": 100})
    assert experiment_id(steps, [{}]) != GOLDEN_IDS[model]


# --- the motion-loss term hook ----------------------------------------------------------------------

def test_loss_terms_recorded_at_start_and_end(tiny_data, tmp_path, monkeypatch):
    seen = []

    def fake_terms(pred, target, train_cfg):
        seen.append(pred.requires_grad)
        d = float(torch.norm(pred - target, dim=-1).mean())
        return {"position": d, "motion": 2 * d, "motion_weighted": 2 * d * train_cfg.motion_loss.weight}

    monkeypatch.setattr(bench.losses, "loss_terms", fake_terms, raising=False)
    cfg = resolve({"data.dataset": f"standin:{tiny_data}", "model.name": "ugcn", "model.options.frames": 16,
                   "model.options.widths": [4, 4, 4, 4, 4], "model.options.merge_channels": 4,
                   "train.steps": 2, "train.batch_size": 32, "train.window_stride": 16,
                   "train.motion_loss.intervals": [2], "eval.window_step": 16, "eval.metrics": ["mpjpe"],
                   "data.train_subjects": ["S1"], "data.test_subjects": ["S9"]})
    rec = run_experiment(cfg, runs_dir=tmp_path)
    terms = rec["loss_terms"]
    assert set(terms) == {"start", "end"} and set(terms["start"]) == {"position", "motion", "motion_weighted"}
    assert terms["start"] != terms["end"] and seen == [False, False]
    assert rec["budget"]["steps"] == 2
    monkeypatch.undo()  # the real one: position and motion terms, weighted
    real = run_experiment(cfg, runs_dir=tmp_path / "real")["loss_terms"]
    assert real["start"]["position"] > 0 and real["end"]["motion"] >= 0
    no_motion = dict(cfg, train=dict(cfg["train"], motion_loss=dict(cfg["train"]["motion_loss"], intervals=[])))
    assert "loss_terms" not in run_experiment(no_motion, runs_dir=tmp_path / "b")


def test_bench_eval_prints_the_records_reference_levels(tiny_data, tmp_path, monkeypatch, capsys):
    import json

    from bench.cli import main

    monkeypatch.chdir(tmp_path)
    cfg = small_cfg(tiny_data, **{"train.steps": 2, "data.train_subjects": ["S1"], "data.test_subjects": ["S9"],
                                  "eval.metrics": ["mpjpe", "p_mpjpe"]})
    rec = run_experiment(cfg, runs_dir=tmp_path / "runs", checkpoint=str(tmp_path / "m.pt"))
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "m.pt"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reference"] == rec["reference"] and set(out["reference"]["zero_pose"]) == {"mpjpe", "p_mpjpe"}
    assert out["mpjpe"] == pytest.approx(rec["metrics"][""]["mpjpe"])
