"""What UGCN needs from the engine: the window-merge option, flat memory in the sequence length, the
step learning-rate schedule, weight decay on convolutions only, the motion loss in training (and its
option errors), and one end-to-end UGCN run."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from bench.config import ADDED_LATER, SCHEMA, complete, hash_view, resolve
from bench.engine.evaluate import predict_seq2seq, window_starts, window_weights
from bench.config import experiment_id
from bench.engine.experiment import run_experiment
from bench.engine.train import check_training, lr_factor_after, make_loss_fn, make_optimizer, training_loss
from bench.errors import ConfigError
from bench.losses import motion_loss
from bench.registry import create_model
from bench.skeleton import H36M_17

J = 17
PERM = H36M_17.flip_permutation()
pytestmark = pytest.mark.usefixtures("one_thread")


class StartStub(nn.Module):
    """Seq2seq stub whose output z at in-window position k is k (x, y copy the input): the merged z of a
    frame is the mean in-window position of the windows that were merged for it."""

    output_mode = "seq2seq"
    causal_shift = 0
    num_joints_in = num_joints_out = J

    def __init__(self, t):
        super().__init__()
        self.receptive_field = t
        self.batches = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        k = torch.arange(x.shape[1], dtype=x.dtype).view(1, -1, 1).expand(x.shape[0], -1, x.shape[2])
        return torch.stack([x[..., 0], x[..., 1], k], -1)


def keypoints(n):
    return np.random.RandomState(n).uniform(-1, 1, (n, J, 2)).astype(np.float32)


def test_centre_merge_takes_the_window_nearest_the_frame_centre():
    # 4-frame windows every 2 frames over 8 frames: starts 0, 2, 4; centre offset 1.5 in each window.
    out = predict_seq2seq(StartStub(4), keypoints(8), False, PERM, PERM, step=2, merge="centre")
    # frames 2..5 lie at positions {2, 0}, {3, 1}, {2, 0}, {3, 1}: 2 and 1 are nearer 1.5 than 0 and 3
    expected = [0, 1, 2, 1, 2, 1, 2, 3]
    assert np.allclose(out[:, 0, 2], expected)
    mean = predict_seq2seq(StartStub(4), keypoints(8), False, PERM, PERM, step=2, merge="mean")
    assert np.allclose(mean[:, 0, 2], [0, 1, 1, 2, 1, 2, 2, 3])


def test_centre_merge_averages_ties():
    # 4-frame windows every frame: frame 3 sits at positions 3, 2, 1, 0 of windows 0..3, and 2 and 1 are
    # both 0.5 from the centre 1.5, so the two are averaged
    out = predict_seq2seq(StartStub(4), keypoints(9), False, PERM, PERM, step=1, merge="centre")
    assert np.allclose(out[3:6, 0, 2], 1.5)
    w = list(window_weights(window_starts(9, 4, 1), 9, 4, "centre", per_batch=2))
    assert sum(len(c) for c, _ in w) == 6 and all(ws.shape == (len(c), 4) for c, ws in w)


def test_bad_merge_is_rejected():
    with pytest.raises(ValueError, match="unknown window merge"):
        predict_seq2seq(StartStub(4), keypoints(8), False, PERM, PERM, merge="median")
    with pytest.raises(ConfigError, match="eval.window_merge must be one of mean, centre"):
        resolve({"eval.window_merge": "median"})


@pytest.mark.parametrize("merge", ["mean", "centre"])
def test_windows_per_forward_do_not_grow_with_the_sequence(merge):
    """A 96-frame model over 1,000 and 20,000 frames: never more than batch_frames // 96 windows (x2 with
    the flip copy) in one forward pass."""
    largest = {}
    for n in (1000, 20000):
        stub = StartStub(96)
        predict_seq2seq(stub, keypoints(n), True, PERM, PERM, batch_frames=960, step=5, merge=merge)
        largest[n] = max(stub.batches)
        assert sum(stub.batches) == 2 * len(window_starts(n, 96, 5))
    assert largest[1000] == largest[20000] == 2 * 10


def test_step_schedule_and_exponential_schedule():
    step = resolve({"train": {"lr_schedule": "step", "lr_milestones": [80, 90, 100], "lr_gamma": 0.1,
                             "lr_decay": 0.95}})["train"]
    lr = 1e-2
    for epoch in range(1, 111):
        lr *= lr_factor_after(epoch, step)
    assert lr == pytest.approx(1e-5)
    assert lr_factor_after(79, step) == 1.0 and lr_factor_after(80, step) == 0.1
    assert lr_factor_after(3, dict(step, lr_schedule="exponential")) == 0.95
    model = create_model("videopose3d", receptive_field=3, channels=8)
    with pytest.raises(ConfigError, match="needs train.lr_milestones"):
        check_training(model, dict(step, lr_milestones=[]))
    with pytest.raises(ConfigError, match="increasing list"):
        resolve({"train.lr_milestones": [90, 80]})


def test_weight_decay_on_convolutions_only():
    model = create_model("ugcn", widths=[4, 4, 4, 4, 4], merge_channels=4)
    opt = make_optimizer(model, resolve({"train": {"optimizer": "adam", "lr": 1e-3, "amsgrad": False,
                                                     "weight_decay": 1e-5, "weight_decay_scope": "conv"}})["train"])
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    convs = [m for m in model.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert decayed == {id(m.weight) for m in convs}
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))
    opt_all = make_optimizer(model, resolve({"train": {"optimizer": "adam", "lr": 1e-3, "amsgrad": False,
                                                         "weight_decay": 1e-5}})["train"])
    assert len(opt_all.param_groups) == 1 and opt_all.param_groups[0]["weight_decay"] == 1e-5


def test_loss_fn_adds_the_motion_term():
    torch.manual_seed(0)
    y = torch.randn(2, 16, J, 3)
    p = y + 0.1 * torch.randn_like(y)
    tc = resolve({"train": {"loss": "mse", "motion_loss": {"intervals": [4, 8], "operator": "cross", "weight": 0.5,
                                                           "normalize": "temporal_mean", "distance": "l1"}}})["train"]
    expected = training_loss(p, y, "mse") + 0.5 * motion_loss(p, y, [4, 8], "cross")
    assert make_loss_fn(tc)(p, y).item() == pytest.approx(expected.item(), rel=1e-6)
    tc["motion_loss"]["intervals"] = []
    assert make_loss_fn(tc)(p, y).item() == pytest.approx(training_loss(p, y, "mse").item(), rel=1e-6)


def test_motion_loss_needs_enough_output_frames():
    tc = resolve({"train.motion_loss.intervals": [12]})["train"]
    check_training(create_model("ugcn", frames=16, down_up_pairs=2, widths=[4] * 5, merge_channels=4), tc)
    with pytest.raises(ConfigError, match="interval 16 needs more than 16 output frames.*predicts 16"):
        check_training(create_model("ugcn", frames=16, down_up_pairs=2, widths=[4] * 5, merge_channels=4),
                       resolve({"train.motion_loss.intervals": [4, 16]})["train"], "ugcn")
    with pytest.raises(ConfigError, match="videopose3d predicts 1"):
        check_training(create_model("videopose3d", receptive_field=27), tc, "videopose3d")


@pytest.mark.parametrize("key,value,match", [
    ("train.motion_loss.operator", "dot", "unknown operator 'dot'"),
    ("train.motion_loss.intervals", [12, 12], "distinct integers"),
    ("train.motion_loss.intervals", [0], "distinct integers >= 1"),
    ("train.motion_loss.distance", "l3", "one of l1, l2"),
    ("train.motion_loss.interval", [12], "did you mean train.motion_loss.intervals"),
])
def test_motion_loss_option_errors(key, value, match):
    with pytest.raises(ConfigError, match=match):
        resolve({key: value})


def test_keys_added_later_keep_old_experiment_ids():
    cfg = resolve({"model.name": "videopose3d"})
    old = hash_view(cfg)
    assert "motion_loss" not in old["train"] and "window_merge" not in old["eval"]
    for key in ADDED_LATER:
        assert key in SCHEMA
    # a record written before the keys existed has the same id and is completed on reading
    assert experiment_id(old, [{}]) == experiment_id(cfg, [{}])
    assert complete(old) == cfg
    changed = resolve({"model.name": "videopose3d", "train.motion_loss.intervals": [1]})
    assert experiment_id(changed, [{}]) != experiment_id(cfg, [{}])


def ugcn_cfg(tiny_data, **over):
    cfg = {"data.dataset": f"standin:{tiny_data}", "model.name": "ugcn",
           "model.options.frames": 32, "model.options.widths": [4, 4, 8, 8, 8],
           "model.options.merge_channels": 4, "train.epochs": 1, "train.batch_size": 64,
           "train.window_stride": 4, "train.loss": "mse", "train.motion_loss.intervals": [2, 8],
           "eval.window_step": 8, "eval.metrics": ["mpjpe", "p_mpjpe", "mpjve", "pck", "auc"]}
    cfg.update(over)
    return resolve(cfg)


def test_ugcn_trains_end_to_end_with_the_motion_loss(tiny_data, tmp_path):
    rec = run_experiment(ugcn_cfg(tiny_data), runs_dir=tmp_path)
    m = rec["metrics"][""]
    assert all(math.isfinite(m[k]) for k in ("mpjpe", "p_mpjpe", "mpjve", "pck", "auc"))
    assert 0 < m["mpjpe"] < 5000 and 0 <= m["pck"] <= 100
    # every 32-frame window of the training sequences (5 subjects x 4 cameras x 90 / 97 frames),
    # every 4th kept, each also mirrored
    per_camera = (90 - 31) + (97 - 31)
    assert rec["train_windows"] == 2 * math.ceil(5 * 4 * per_camera / 4)


def test_run_rejects_a_motion_interval_longer_than_the_window(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match="interval 32"):
        run_experiment(ugcn_cfg(tiny_data, **{"train.motion_loss.intervals": [32]}), runs_dir=tmp_path)
    assert not list(tmp_path.rglob("*.json"))


def test_plan_rejects_a_motion_interval_longer_than_the_window(tmp_path):
    from bench.protocols import load_protocol
    from bench.sweep import plan

    with pytest.raises(ConfigError, match=r"ugcn/h36m.yaml: cell .*interval 96 needs more than 96 output frames"):
        plan(load_protocol("ugcn.h36m"), "smoke", overrides={"train.motion_loss.intervals": [96]},
             runs_dir=tmp_path)
    assert not list(tmp_path.rglob("*"))
