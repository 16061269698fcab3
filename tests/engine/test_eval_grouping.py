"""eval.group_by (per-action breakdown by 'action subject', HumanEva tables) and eval.latency
(ms_per_frame of the test forward passes), with a stub model that predicts zeros."""
import numpy as np
import pytest
import torch
from torch import nn

from bench import metrics as M
from bench.config import resolve
from bench.data import load_dataset
from bench.data.dataset import Sequence
from bench.engine.evaluate import evaluate_sequences, group_name
from bench.engine.windows import root_relative


class ZeroModel(nn.Module):
    receptive_field = 1
    causal_shift = 0
    output_mode = "conv"
    num_joints_in = num_joints_out = 17

    def __init__(self):
        super().__init__()
        self.calls = 0
        self.shapes = []

    def forward(self, x):
        self.calls += 1
        self.shapes.append(tuple(x.shape))
        return torch.zeros(x.shape[0], x.shape[1], 17, 3)


def seq(subject, action, frames=3):
    return Sequence(subject=subject, action=action, camera=0, keypoints=np.zeros((frames, 17, 2), np.float32),
                    positions=np.zeros((frames, 17, 3), np.float32))


@pytest.mark.parametrize("subject, action, by_action, by_subject_action", [
    ("Validate/S1", "Walking 1", "Walking", "Walking S1"),
    ("Train/S3", "Jog 2", "Jog", "Jog S3"),
    ("S9", "Walk 1", "Walk", "Walk S9"),
    ("S11", "Directions", "Directions", "Directions S11"),
])
def test_group_name(subject, action, by_action, by_subject_action):
    s = seq(subject, action)
    assert group_name(s, "action") == by_action
    assert group_name(s, "subject_action") == by_subject_action


@pytest.fixture(scope="module")
def ds(tiny_data):
    return load_dataset(f"standin:{tiny_data}")


@pytest.fixture(scope="module")
def test_seqs(ds):
    return ds.sequences(ds.test_subjects)


def cfg(tiny_data, **eval_over):
    return resolve({"data.dataset": f"standin:{tiny_data}", "eval.metrics": ["mpjpe"], "eval.flip": False,
                    **{f"eval.{k}": v for k, v in eval_over.items()}})


def expected_group_mpjpe(seqs, key):
    out = {}
    for s in seqs:
        err = M.mpjpe_per_frame(np.zeros((len(s), 17, 3)), root_relative(s.positions) * 1000)
        out.setdefault(key(s), []).append(err)
    return {k: float(np.concatenate(v).mean()) for k, v in out.items()}


def test_subject_action_groups_and_latency(ds, test_seqs, tiny_data):
    assert {s.subject for s in test_seqs} == {"S9", "S11"}
    model = ZeroModel()
    out = evaluate_sequences(model, test_seqs, cfg(tiny_data, latency=True, group_by="subject_action"),
                             ds.keypoints_layout, ds.skeleton)
    assert set(out["per_action"]) == {"Walk S9", "Walk S11", "Wave S9", "Wave S11"}
    assert out["ms_per_frame"] > 0 and np.isfinite(out["ms_per_frame"])
    assert out["latency_ms_per_frame"] > 0 and np.isfinite(out["latency_ms_per_frame"])
    # one forward pass per test sequence, then the batch-1 latency: 3 warm-up + 20 timed single windows
    assert model.calls == len(test_seqs) + 23
    assert model.shapes[len(test_seqs):] == [(1, 1, 17, 2)] * 23
    want = expected_group_mpjpe(test_seqs, lambda s: f"{s.group} {s.subject}")
    for k, v in want.items():
        assert out["per_action"][k]["mpjpe"] == pytest.approx(v, rel=1e-5)
    # action averaging: unweighted mean over the (action, subject) groups
    assert out["mpjpe"] == pytest.approx(np.mean(list(want.values())), rel=1e-5)
    assert out["frames"] == sum(len(s) for s in test_seqs)


def test_default_grouping_and_no_latency(ds, test_seqs, tiny_data):
    out = evaluate_sequences(ZeroModel(), test_seqs, cfg(tiny_data), ds.keypoints_layout, ds.skeleton)
    assert set(out["per_action"]) == {"Walk", "Wave"}
    assert "ms_per_frame" not in out and "latency_ms_per_frame" not in out
    want = expected_group_mpjpe(test_seqs, lambda s: s.group)
    for k, v in want.items():
        assert out["per_action"][k]["mpjpe"] == pytest.approx(v, rel=1e-5)


def test_latency_with_flip_and_frame_averaging(ds, test_seqs, tiny_data):
    c = cfg(tiny_data, latency=True, flip=True, averaging="frame", group_by="subject_action")
    out = evaluate_sequences(ZeroModel(), test_seqs, c, ds.keypoints_layout, ds.skeleton)
    assert out["ms_per_frame"] > 0
    assert len(out["per_action"]) == 4
    all_err = np.concatenate([M.mpjpe_per_frame(np.zeros((len(s), 17, 3)), root_relative(s.positions) * 1000)
                              for s in test_seqs])
    assert out["mpjpe"] == pytest.approx(float(all_err.mean()), rel=1e-5)


def test_group_by_is_validated(tiny_data):
    from bench.errors import ConfigError

    with pytest.raises(ConfigError, match="eval.group_by"):
        cfg(tiny_data, group_by="subject")
    with pytest.raises(ConfigError, match="eval.latency"):
        cfg(tiny_data, latency="yes")


class SlowSeq2Seq(nn.Module):
    """Sequence-to-sequence stub whose every forward pass takes at least 4 ms."""
    receptive_field = 4
    causal_shift = 0
    output_mode = "seq2seq"
    num_joints_in = num_joints_out = 17

    def forward(self, x):
        import time
        time.sleep(0.004)
        return torch.zeros(x.shape[0], x.shape[1], 17, 3)


def test_batch1_latency_is_per_frame_as_evaluated(ds, test_seqs, tiny_data):
    """A window every 2 frames (eval.window_step): each frame costs half a window's time."""
    out = evaluate_sequences(SlowSeq2Seq(), test_seqs[:1], cfg(tiny_data, latency=True, window_step=2),
                             ds.keypoints_layout, ds.skeleton)
    assert 2.0 <= out["latency_ms_per_frame"] < 2.0 + 10  # >= 4 ms / 2; sleep may overshoot, never undershoot
