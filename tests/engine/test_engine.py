"""Engine: windows, flip, training determinism, evaluation, checkpoints."""
import numpy as np
import pytest
import torch

from bench.config import resolve
from bench.data import load_dataset
from bench.engine.checkpoint import load_checkpoint, save_checkpoint
from bench.engine.evaluate import evaluate_sequences, predict_sequence
from bench.engine.experiment import run_experiment
from bench.engine.train import bn_momentum
from bench.engine.windows import WindowBatcher, flip_pose, pad_sequence
from bench.errors import ConfigError
from bench.registry import create_model
from bench.skeleton import H36M_17


def tiny_cfg(tiny_data, **over):
    base = {"data.dataset": f"standin:{tiny_data}", "model.name": "videopose3d",
            "model.options.receptive_field": 27, "model.options.channels": 16, "train.epochs": 2,
            "train.batch_size": 64, "train.window_stride": 4, "eval.batch_frames": 50}
    base.update(over)
    return resolve(base)


def test_pad_sequence_edge_and_causal():
    kp = np.arange(5, dtype=np.float32)[:, None, None].repeat(2, -1)
    centred = pad_sequence(kp, 5, 0)
    assert centred[:, 0, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 4, 4]
    causal = pad_sequence(kp, 5, 2)  # all padding on the left
    assert causal[:, 0, 0].tolist() == [0, 0, 0, 0, 0, 1, 2, 3, 4]


def test_windows_cover_every_frame_and_centre_on_target(tiny_data):
    ds = load_dataset(f"standin:{tiny_data}")
    seqs = ds.sequences(["S1"], cameras=[0])
    b = WindowBatcher(seqs, 5, 0, H36M_17, H36M_17, batch_size=1000, flip=False)
    assert b.num_windows == sum(len(s) for s in seqs)
    x, y = next(b.batches(np.random.RandomState(0)))
    # the centre input frame of every window is the frame of its target
    kp = np.concatenate([s.keypoints for s in seqs])
    centre = x[:, 2].numpy()
    assert all(any(np.allclose(c, k) for k in kp[:200]) for c in centre[:5])
    assert x.shape[1:] == (5, 17, 2) and y.shape[1:] == (1, 17, 3)
    assert torch.allclose(y[:, 0, 0], torch.zeros(3))  # root-relative, root zeroed


def test_flip_is_an_involution_and_swaps_sides():
    x = torch.randn(3, 17, 2)
    perm = H36M_17.flip_permutation()
    f = flip_pose(x, perm)
    assert torch.allclose(f[:, 4, 0], -x[:, 1, 0]) and torch.allclose(f[:, 4, 1], x[:, 1, 1])
    assert torch.allclose(flip_pose(f, perm), x)


def test_flip_batches_contain_mirrored_copies(tiny_data):
    ds = load_dataset(f"standin:{tiny_data}")
    seqs = ds.sequences(["S1"], cameras=[0])[:1]
    b = WindowBatcher(seqs, 3, 0, H36M_17, H36M_17, batch_size=10_000, flip=True)
    x, y = next(b.batches(np.random.RandomState(0)))
    assert len(x) == 2 * len(seqs[0])
    flipped = flip_pose(y[:, 0], H36M_17.flip_permutation())
    # each target's mirror image is also in the batch
    a, b = flipped.reshape(len(y), 1, -1), y[:, 0].reshape(1, len(y), -1)
    d = (a - b).abs().amax(-1).min(1).values
    assert float(d.max()) < 1e-5


def test_bn_momentum_decays_from_start_to_end():
    assert bn_momentum(0, 10, 0.1, 0.001) == pytest.approx(0.1)
    assert bn_momentum(10, 10, 0.1, 0.001) == pytest.approx(0.001)


def test_prediction_matches_window_by_window(tiny_data):
    ds = load_dataset(f"standin:{tiny_data}")
    seq = ds.sequences(["S9"], cameras=[1])[0]
    torch.manual_seed(0)
    model = create_model("videopose3d", receptive_field=9, channels=16).eval()
    whole = predict_sequence(model, seq.keypoints, False, None, None, batch_frames=7)
    padded = torch.from_numpy(pad_sequence(seq.keypoints, 9, 0))
    with torch.no_grad():
        for t in (0, 5, len(seq) - 1):
            one = model(padded[t:t + 9][None])[0, 0].numpy()
            assert np.allclose(whole[t], one, atol=1e-5)


def test_a_last_batch_of_one_window_joins_the_batch_before_it(tiny_data, tmp_path):
    """BatchNorm cannot train on one window with one output frame: such a batch is merged, every window
    still seen once per epoch; training with that batch size runs instead of stopping with an error."""
    ds = load_dataset(f"standin:{tiny_data}")
    seqs = ds.sequences(["S1"], cameras=[0])[:1]
    n = 2 * len(seqs[0])  # windows with flip
    b = WindowBatcher(seqs, 3, 0, H36M_17, H36M_17, batch_size=n - 1, flip=True)
    batches = list(b.batches(np.random.RandomState(0)))
    assert [len(x) for x, _ in batches] == [n] and len(b) == 1  # not [n - 1, 1]
    b.batch_size = n - 2
    assert [len(x) for x, _ in b.batches(np.random.RandomState(0))] == [n - 2, 2] and len(b) == 2
    seq2seq = WindowBatcher(seqs, 1, 0, H36M_17, H36M_17, batch_size=b.batch_size, flip=True, out_frames=5,
                            step=1)  # several output frames per window: BatchNorm copes, nothing merged
    m = len(seq2seq.starts) * 2  # windows with flip
    seq2seq.batch_size = m - 1
    assert [len(x) for x, _ in seq2seq.batches(np.random.RandomState(0))] == [m - 1, 1]
    cfg = tiny_cfg(tiny_data, **{"train.epochs": 1})
    windows = run_experiment(cfg, runs_dir=tmp_path / "probe")["train_windows"]  # flips included
    rec = run_experiment(resolve(cfg, {"train.batch_size": windows - 1}), runs_dir=tmp_path)
    assert rec["metrics"][""]["mpjpe"] > 0


def test_same_seed_gives_identical_metrics_and_record(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data)
    r1 = run_experiment(cfg, runs_dir=tmp_path / "a")
    r2 = run_experiment(cfg, runs_dir=tmp_path / "b")
    assert r1["id"] == r2["id"]
    assert r1["metrics"] == r2["metrics"]
    assert (tmp_path / "a" / "adhoc" / "adhoc" / f"{r1['id']}.json").is_file()
    assert r1["curve"][-1]["train_mpjpe"] < r1["curve"][0]["train_mpjpe"] * 1.5
    r3 = run_experiment(resolve(cfg, {"seed": 1}), runs_dir=tmp_path / "c")
    assert r3["metrics"][""]["mpjpe"] != r1["metrics"][""]["mpjpe"]


def test_noise_variants_increase_error_and_are_seeded(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, **{"train.epochs": 1})
    variants = [{"eval.noise_sigma": 0}, {"eval.noise_sigma": 40}]
    rec = run_experiment(cfg, variants=variants, runs_dir=tmp_path)
    m = rec["metrics"]
    assert set(m) == {"eval.noise_sigma=0", "eval.noise_sigma=40"}
    assert m["eval.noise_sigma=40"]["mpjpe"] > m["eval.noise_sigma=0"]["mpjpe"]


def test_best_epoch_needs_validation_subjects(tiny_data):
    with pytest.raises(ConfigError, match="validation_subjects"):
        tiny_cfg(tiny_data, **{"eval.epoch": "best"})
    with pytest.raises(ConfigError, match="overlaps the test"):
        tiny_cfg(tiny_data, **{"data.validation_subjects": ["S9"], "data.test_subjects": ["S9"]})


def test_best_epoch_uses_validation_curve(tiny_data, tmp_path):
    cfg = tiny_cfg(tiny_data, **{"eval.epoch": "best", "data.validation_subjects": ["S8"],
                                 "train.epochs": 3})
    rec = run_experiment(cfg, runs_dir=tmp_path)
    vals = [r["val_mpjpe"] for r in rec["curve"]]
    assert rec["best_epoch"] == int(np.argmin(vals)) + 1


def test_evaluation_action_vs_frame_averaging(tiny_data):
    ds = load_dataset(f"standin:{tiny_data}")
    seqs = ds.sequences(["S9", "S11"])
    model = create_model("videopose3d", receptive_field=3, channels=8).eval()
    cfg = tiny_cfg(tiny_data)
    a = evaluate_sequences(model, seqs, cfg, H36M_17, H36M_17)
    cfg["eval"]["averaging"] = "frame"
    f = evaluate_sequences(model, seqs, cfg, H36M_17, H36M_17)
    groups = a["per_action"]
    assert a["mpjpe"] == pytest.approx(np.mean([g["mpjpe"] for g in groups.values()]))
    n = {g: sum(len(s) for s in seqs if s.group == g) for g in groups}
    expected = sum(groups[g]["mpjpe"] * n[g] for g in groups) / sum(n.values())
    assert f["mpjpe"] == pytest.approx(expected, rel=1e-6)


def test_checkpoint_roundtrip_and_mismatch(tmp_path):
    cfg = resolve({"model.options.receptive_field": 27, "model.options.channels": 16})
    model = create_model("videopose3d", **cfg["model"]["options"])
    save_checkpoint(tmp_path / "m.pt", model, cfg, 3)
    loaded, saved = load_checkpoint(tmp_path / "m.pt", expected_model=cfg["model"])
    assert saved == cfg
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    other = resolve(cfg, {"model.options.channels": 32})["model"]
    with pytest.raises(ConfigError, match="channels"):
        load_checkpoint(tmp_path / "m.pt", expected_model=other)
