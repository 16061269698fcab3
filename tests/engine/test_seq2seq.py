"""Sequence-to-sequence engine support (DG-Net): stride-1 T-frame training windows, camera context,
sliding-window test averaging with flip, and one end-to-end DG-Net run."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from bench.config import resolve
from bench.data.dataset import Sequence
from bench.engine.evaluate import predict_seq2seq, predict_sequence, window_starts
from bench.engine.experiment import run_experiment
from bench.engine.train import make_batcher, make_loss_fn, model_loss, training_loss
from bench.engine.windows import WindowBatcher, flip_context, sequence_context
from bench.errors import ConfigError
from bench.registry import create_model
from bench.skeleton import H36M_17

J = 17
INTR = np.array([2.29, 2.28, 0.07, -0.03], dtype=np.float32)  # normalised fx, fy, cx, cy
PERM = H36M_17.flip_permutation()


pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


def coded_sequence(n: int, sid: int, intrinsics=INTR) -> Sequence:
    """Frame f of sequence sid carries code c = 100 * sid + f + 1: keypoint x of joint 0 is c, keypoint
    y of joint j is j; 3D x of joint j is j * c (so the root-relative target of joint 1 is c); the
    root depth is 3 + 0.01 * f."""
    code = 100 * sid + np.arange(n, dtype=np.float32) + 1
    kp = np.zeros((n, J, 2), dtype=np.float32)
    kp[:, :, 0] = code[:, None] + 0.001 * np.arange(J)
    kp[:, :, 1] = np.arange(J)
    pos = np.zeros((n, J, 3), dtype=np.float32)
    pos[:, :, 0] = code[:, None] * np.arange(J)
    pos[:, :, 2] = 3 + 0.01 * np.arange(n, dtype=np.float32)[:, None]
    return Sequence(f"S{sid}", "Walk 1", 0, kp, pos, intrinsics=intrinsics)


def all_batches(b: WindowBatcher, seed=0):
    items = list(b.batches(np.random.RandomState(seed)))
    return [torch.cat([it[k] for it in items]) for k in range(len(items[0]))]


# ---------------------------------------------------------------- window_starts

def test_window_starts():
    assert window_starts(10, 4, 1).tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert window_starts(10, 4, 4).tolist() == [0, 4, 6]  # the last window is aligned with the end
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(10, 4, 100).tolist() == [0, 6]
    assert window_starts(4, 4, 1).tolist() == [0]
    assert window_starts(4, 4, 3).tolist() == [0]


# ---------------------------------------------------------------- training windows

LENGTHS = (10, 6, 4, 2)


def test_batcher_yields_every_t_frame_window_aligned_with_targets():
    seqs = [coded_sequence(n, i + 1) for i, n in enumerate(LENGTHS)]
    b = WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=5, out_frames=4, flip=False, step=1)
    expected = sum(n - 3 for n in LENGTHS if n >= 4) + 1  # the 2-frame sequence gives one padded window
    assert b.num_windows == expected == 12 and len(b) == 3
    x, y = all_batches(b)
    assert x.shape == (12, 4, J, 2) and y.shape == (12, 4, J, 3)
    codes = x[:, :, 0, 0]
    assert torch.equal(y[:, :, 1, 0], codes)  # every target frame is its input frame
    assert torch.equal(y[:, :, 0], torch.zeros(12, 4, 3))  # root-relative
    windows = sorted(tuple(int(v) for v in row) for row in codes)
    want = [tuple(100 * (i + 1) + s + 1 + k for k in range(4))
            for i, n in enumerate(LENGTHS) if n >= 4 for s in range(n - 3)]
    want.append((401, 402, 402, 402))  # short sequence: edge-padded at its end
    assert windows == sorted(want)


def test_batcher_window_stride_and_step():
    seqs = [coded_sequence(10, 1)]
    b = WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=64, out_frames=4, flip=False, step=2)
    x, _ = all_batches(b)
    assert sorted(int(v) for v in x[:, 0, 0, 0]) == [101, 103, 105, 107]
    b = WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=64, out_frames=4, flip=False, step=1,
                      window_stride=3)
    x, _ = all_batches(b)
    assert sorted(int(v) for v in x[:, 0, 0, 0]) == [101, 104, 107]


def test_batcher_context_and_flip():
    seqs = [coded_sequence(n, i + 1) for i, n in enumerate(LENGTHS)]
    b = WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=7, out_frames=4, flip=True, step=1,
                      context=True)
    x, y, c = all_batches(b)
    assert x.shape == (24, 4, J, 2) and c.shape == (24, 4, 5)
    flipped = x[:, 0, 0, 0] < 0  # joint 0 maps to itself; its x is negated
    assert int(flipped.sum()) == 12
    assert torch.equal(c[~flipped, :, :4], torch.from_numpy(INTR).expand(12, 4, 4))
    mirrored = torch.from_numpy(INTR * np.array([1, 1, -1, 1], dtype=np.float32))
    assert torch.equal(c[flipped, :, :4], mirrored.expand(12, 4, 4))
    # the root depth column follows the window's frames: frame f of its sequence has 3 + 0.01 f
    frame = (x[:, :, 0, 0].abs() - 1).round() % 100
    assert torch.allclose(c[:, :, 4], 3 + 0.01 * frame, atol=1e-6)
    # mirrored targets: joint 4 (LHip) of a flipped window is the negated joint 1 (RHip) code
    assert torch.equal(y[flipped][:, :, 4, 0], -x[flipped][:, :, 0, 0].abs().round())


def test_context_needs_intrinsics():
    seqs = [coded_sequence(6, 1), coded_sequence(6, 2, intrinsics=None)]
    with pytest.raises(ConfigError, match="intrinsics"):
        WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=8, out_frames=4, step=1, context=True)
    WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=8, out_frames=4, step=1)  # no context: fine


def test_sequence_context_and_flip_context():
    seq = coded_sequence(5, 1)
    ctx = sequence_context(seq)
    assert ctx.shape == (5, 5) and ctx.dtype == np.float32
    assert np.array_equal(ctx[:, :4], np.broadcast_to(INTR, (5, 4)))
    assert np.allclose(ctx[:, 4], 3 + 0.01 * np.arange(5))
    f = flip_context(torch.from_numpy(ctx))
    assert torch.equal(f[:, 2], -torch.from_numpy(ctx[:, 2]))
    assert torch.equal(f[:, [0, 1, 3, 4]], torch.from_numpy(ctx[:, [0, 1, 3, 4]]))


def test_make_batcher_and_model_loss_for_dgnet():
    torch.manual_seed(0)
    model = create_model("dgnet", channels=8, blocks=1)
    seqs = [coded_sequence(n, i + 1) for i, n in enumerate(LENGTHS)]
    tc = resolve({"train": {"batch_size": 4, "flip": True, "window_stride": 1}})["train"]
    b = make_batcher(model, seqs, H36M_17, H36M_17, tc)
    assert b.num_windows == 2 * 12 and b.in_len == 4 and b.out_frames == 4 and b.contexts is None
    x, y = next(b.batches(np.random.RandomState(0)))
    model.eval()
    loss, pred = model_loss(model, x, y, None, make_loss_fn(tc))
    ref, ref_pred = model.loss_terms(x, y, lambda p, t: training_loss(p, t, "mpjpe"))
    assert torch.allclose(loss, ref) and torch.allclose(pred, ref_pred)
    balanced = create_model("dgnet", channels=8, blocks=1, balanced_coordinates="predicted")
    b = make_batcher(balanced, seqs, H36M_17, H36M_17, tc)
    assert b.contexts is not None and len(next(b.batches(np.random.RandomState(0)))) == 3


# ---------------------------------------------------------------- sliding-window prediction

class PositionStub(nn.Module):
    """Sequence-to-sequence stub: frame k of a window -> (x, y, k + x [+ root depth from context]).

    The x, y pass-through checks alignment; the third coordinate averages the in-window positions of
    every frame, which has a closed form; it is not mirror-equivariant, so flip averaging shows."""

    output_mode = "seq2seq"
    receptive_field = 4
    causal_shift = 0
    num_joints_in = num_joints_out = J

    def __init__(self, eval_step=None):
        super().__init__()
        if eval_step is not None:
            self.eval_step = eval_step
        self.calls = []

    def forward(self, x, context=None):
        self.calls.append((x.shape[0], None if context is None else context.clone()))
        k = torch.arange(x.shape[1], dtype=x.dtype).view(1, -1, 1)
        z = k + x[..., 0]
        if context is not None:
            z = z + context[..., 4:5]
        return torch.stack([x[..., 0], x[..., 1], z], dim=-1)


def stub_keypoints(n: int) -> np.ndarray:
    rng = np.random.RandomState(n)
    return rng.uniform(-1, 1, (n, J, 2)).astype(np.float32)


# mean in-window position of each of 10 frames, 4-frame windows
POS_STEP1 = [0, 0.5, 1, 1.5, 1.5, 1.5, 1.5, 2, 2.5, 3]
POS_STEP3 = [0, 1, 2, 1.5, 1, 2, 1.5, 1, 2, 3]  # windows at 0, 3, 6


def brute_force_positions(n: int, t: int, step: int) -> list[float]:
    starts = list(range(0, n - t + 1, step))
    if starts[-1] != n - t:
        starts.append(n - t)
    return [float(np.mean([f - s for s in starts if s <= f < s + t])) for f in range(n)]


def test_hand_positions_agree_with_brute_force():
    assert brute_force_positions(10, 4, 1) == POS_STEP1
    assert brute_force_positions(10, 4, 3) == POS_STEP3
    assert brute_force_positions(10, 4, 4) == [0, 1, 2, 3, 0, 1, (2 + 0) / 2, (3 + 1) / 2, 2, 3]


@pytest.mark.parametrize("step,positions", [(1, POS_STEP1), (3, POS_STEP3)])
def test_predict_seq2seq_averages_windows_exactly(step, positions):
    kp = stub_keypoints(10)
    out = predict_seq2seq(PositionStub(), kp, False, PERM, PERM, batch_frames=4096, step=step)
    assert out.shape == (10, J, 3)
    assert np.allclose(out[..., :2], kp, atol=1e-6)
    pos = np.array(positions, dtype=np.float32)[:, None]
    assert np.allclose(out[..., 2], pos + kp[..., 0], atol=1e-6)


def test_predict_seq2seq_flip_averages_with_the_mirrored_prediction():
    kp = stub_keypoints(10)
    out = predict_seq2seq(PositionStub(), kp, True, PERM, PERM, step=1)
    # plain copy: k + x; mirrored copy, un-mirrored: k - x; the average is the position alone
    assert np.allclose(out[..., :2], kp, atol=1e-6)
    assert np.allclose(out[..., 2], np.array(POS_STEP1)[:, None], atol=1e-6)


def test_predict_seq2seq_short_sequences_and_model_step():
    for n in (1, 2, 3):
        kp = stub_keypoints(n)
        out = predict_seq2seq(PositionStub(), kp, False, PERM, PERM)
        assert out.shape == (n, J, 3)
        assert np.allclose(out[..., :2], kp, atol=1e-6)
        # one edge-padded window; each real frame sits at its own index (padding copies are dropped)
        assert np.allclose(out[..., 2], np.arange(n)[:, None] + kp[..., 0], atol=1e-6)
    kp = stub_keypoints(4)
    out = predict_seq2seq(PositionStub(), kp, True, PERM, PERM)
    assert np.allclose(out[..., 2], np.arange(4)[:, None], atol=1e-6)
    # step=None takes the model's eval_step
    kp = stub_keypoints(10)
    a = predict_seq2seq(PositionStub(eval_step=3), kp, False, PERM, PERM)
    assert np.allclose(a[..., 2], np.array(POS_STEP3)[:, None] + kp[..., 0], atol=1e-6)


@pytest.mark.parametrize("flip", [False, True])
def test_predict_seq2seq_chunking_is_exact(flip):
    kp = stub_keypoints(23)
    big_stub, small_stub = PositionStub(), PositionStub()
    big = predict_seq2seq(big_stub, kp, flip, PERM, PERM, batch_frames=4096, step=1)
    small = predict_seq2seq(small_stub, kp, flip, PERM, PERM, batch_frames=8, step=1)
    tiny = predict_seq2seq(PositionStub(), kp, flip, PERM, PERM, batch_frames=1, step=1)
    copies = 2 if flip else 1
    assert [c[0] for c in big_stub.calls] == [copies * 20]
    assert all(c[0] <= copies * 2 for c in small_stub.calls) and len(small_stub.calls) == 10
    assert np.allclose(big, small, atol=1e-6) and np.allclose(big, tiny, atol=1e-6)
    expected = np.array(brute_force_positions(23, 4, 1))[:, None] + (0 if flip else kp[..., 0])
    assert np.allclose(big[..., 2], expected, atol=1e-5)


def test_predict_seq2seq_with_context():
    kp = stub_keypoints(10)
    ctx = np.zeros((10, 5), dtype=np.float32)
    ctx[:, :4] = INTR
    ctx[:, 4] = 100 * np.arange(10)
    stub = PositionStub()
    out = predict_seq2seq(stub, kp, False, PERM, PERM, step=1, context=ctx)
    assert np.allclose(out[..., 2], np.array(POS_STEP1)[:, None] + kp[..., 0] + ctx[:, 4:5], atol=1e-4)
    stub = PositionStub()
    out = predict_seq2seq(stub, kp, True, PERM, PERM, batch_frames=8, step=1, context=ctx)
    assert np.allclose(out[..., 2], np.array(POS_STEP1)[:, None] + ctx[:, 4:5], atol=1e-4)
    for batch, c in stub.calls:  # plain windows first, then their mirrored copies with cx negated
        half = batch // 2
        assert torch.allclose(c[:half, :, 2], torch.tensor(INTR[2]))
        assert torch.allclose(c[half:, :, 2], torch.tensor(-INTR[2]))
        assert torch.equal(c[:half, :, 4], c[half:, :, 4])
    # short sequence with context: the context is edge-padded like the keypoints
    out = predict_seq2seq(PositionStub(), kp[:2], False, PERM, PERM, context=ctx[:2])
    assert np.allclose(out[..., 2], np.arange(2)[:, None] + kp[:2, :, 0] + ctx[:2, 4:5], atol=1e-4)


def test_predict_sequence_dispatches_seq2seq():
    kp = stub_keypoints(9)
    a = predict_sequence(PositionStub(), kp, True, PERM, PERM, batch_frames=12, step=2)
    b = predict_seq2seq(PositionStub(), kp, True, PERM, PERM, batch_frames=12, step=2)
    assert np.array_equal(a, b)
    assert np.allclose(a[..., 2], np.array(brute_force_positions(9, 4, 2))[:, None], atol=1e-6)


def test_dgnet_sliding_prediction_matches_window_by_window():
    torch.manual_seed(0)
    model = create_model("dgnet", channels=8, blocks=1).eval()
    with torch.no_grad():  # random head: a zero-initialised one would make every prediction 0
        torch.nn.init.normal_(model.head.weight, std=0.5)
    kp = stub_keypoints(7)
    out = predict_seq2seq(model, kp, False, PERM, PERM, batch_frames=8, step=1)
    assert out.std() > 0.01
    x = torch.from_numpy(kp)
    with torch.no_grad():
        wins = [model(x[s:s + 4][None])[0] for s in range(4)]
    for f in range(7):
        preds = [wins[s][f - s] for s in range(4) if s <= f < s + 4]
        assert np.allclose(out[f], torch.stack(preds).mean(0).numpy(), atol=1e-5)


# ---------------------------------------------------------------- end to end

def test_dgnet_trains_end_to_end(tiny_data, tmp_path):
    cfg = resolve({"data.dataset": f"standin:{tiny_data}", "model.name": "dgnet",
                   "model.options.channels": 8, "model.options.blocks": 1, "train.epochs": 1,
                   "train.batch_size": 512, "train.window_stride": 2, "eval.batch_frames": 400})
    rec = run_experiment(cfg, runs_dir=tmp_path)
    m = rec["metrics"][""]
    assert math.isfinite(m["mpjpe"]) and 0 < m["mpjpe"] < 5000
    assert all(math.isfinite(m[k]) for k in ("p_mpjpe", "n_mpjpe", "mpjve"))
    torch.manual_seed(0)
    assert rec["params"] == sum(p.numel() for p in create_model("dgnet", channels=8, blocks=1).parameters())
    assert rec["config"]["model"]["name"] == "dgnet"
    # stride-1 4-frame windows over the training sequences (5 subjects x 4 cameras x 90 / 97 frames),
    # every 2nd kept, each also mirrored
    per_camera = (90 - 3) + (97 - 3)
    assert rec["train_windows"] == 2 * math.ceil(5 * 4 * per_camera / 2)
    assert len(rec["curve"]) == 1 and math.isfinite(rec["curve"][0]["train_mpjpe"])


def test_camera_context_matches_the_dataset_projection(tiny_data):
    """Back-projecting the stand-in's 2D with its context and the true relative depths gives the
    root-relative pose up to the lens distortion of the projection (a few mm): normalised
    coordinates, intrinsics and root depth follow one convention."""
    from bench.data import load_dataset
    from bench.engine.windows import root_relative
    from bench.models.dgnet import DGNet

    ds = load_dataset(f"standin:{tiny_data}")
    for seq in ds.sequences(["S9"], actions=["Walk"]):
        rel = torch.from_numpy(root_relative(seq.positions))[None]
        ctx = torch.from_numpy(sequence_context(seq))[None]
        out = DGNet._back_project(torch.from_numpy(seq.keypoints)[None], rel[..., 2], ctx)
        err = torch.norm(out - rel, dim=-1)
        assert float(err.mean()) < 0.01 and float(err.max()) < 0.04
        bad = ctx.clone()
        bad[..., 4] *= 1.5  # another root depth scales the pose: far off
        assert float(torch.norm(DGNet._back_project(torch.from_numpy(seq.keypoints)[None], rel[..., 2], bad)
                                - rel, dim=-1).mean()) > 0.05


def test_balanced_dgnet_trains_end_to_end(tiny_data, tmp_path):
    cfg = resolve({"data.dataset": f"standin:{tiny_data}", "model.name": "dgnet",
                   "model.options.channels": 8, "model.options.blocks": 1,
                   "model.options.balanced_coordinates": "predicted", "train.epochs": 1,
                   "train.batch_size": 512, "train.window_stride": 8, "eval.metrics": ["mpjpe"]})
    rec = run_experiment(cfg, runs_dir=tmp_path)
    assert math.isfinite(rec["metrics"][""]["mpjpe"])
    plain = sum(p.numel() for p in create_model("dgnet", channels=8, blocks=1).parameters())
    assert rec["params"] == plain + 2 * (8 + 1)  # the depth and root-depth heads, Linear(8 -> 1) each


def test_predicted_balanced_dgnet_test_predictions_ignore_the_ground_truth_depth():
    """At test time the engine hands a balanced model the per-frame context, ground-truth root depth
    included; under balanced_coordinates='predicted' the predictions do not depend on it (a scene moved
    1.5 m away from the camera, same 2D and root-relative 3D), under the oracle they do."""
    rng = np.random.RandomState(0)
    n = 11
    kp = (0.3 * rng.randn(n, J, 2)).astype(np.float32)
    pos = (0.3 * rng.randn(n, J, 3)).astype(np.float32)
    pos[:, :, 2] += 4.0
    near = Sequence("S1", "Walk 1", 0, kp, pos, intrinsics=INTR)
    far = Sequence("S1", "Walk 1", 0, kp, pos + np.float32([0, 0, 1.5]), intrinsics=INTR)
    assert not np.array_equal(sequence_context(near), sequence_context(far))
    for mode, same in (("predicted", True), ("oracle", False)):
        torch.manual_seed(0)
        model = create_model("dgnet", channels=8, blocks=1, balanced_coordinates=mode).eval()
        with torch.no_grad():
            for m in (model.head, model.depth_head, model.root_depth_head):
                if m is not None:
                    torch.nn.init.normal_(m.weight, std=0.1)
        preds = [predict_sequence(model, s.keypoints, True, PERM, PERM, 4096, None, sequence_context(s))
                 for s in (near, far)]
        assert np.array_equal(preds[0], preds[1]) == same, mode
