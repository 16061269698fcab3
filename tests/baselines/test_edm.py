"""Moreno-Noguer 2017 EDM regression: EDM/MDS maths, reflection and orientation read-out, parameter counts,
loss and module contract."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import baselines.edm  # noqa: F401  (registers "edm" until baselines/__init__.py imports it)
from baselines.edm import (EDMRegression, _resolve_anatomy, chirality_score, classical_mds, edm_matrix,
                           edm_vector, orient_to_image)
from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.metrics import mpjpe, p_mpjpe
from bench.registry import create_model, get_entry

# A standing Human3.6M-17 pose in the harness's camera frame (x right, y down, z forward, metres, root at 0),
# facing the camera (-z): the person's right side is at -x, knees slightly bent forward, nose in front.
POSE17 = torch.tensor([
    [0.00, 0.00, 0.00],     # 0 Hip
    [-0.12, 0.00, 0.00],    # 1 RHip
    [-0.13, 0.42, -0.08],   # 2 RKnee
    [-0.14, 0.85, 0.02],    # 3 RFoot
    [0.12, 0.00, 0.00],     # 4 LHip
    [0.13, 0.42, -0.06],    # 5 LKnee
    [0.14, 0.85, 0.03],     # 6 LFoot
    [0.00, -0.23, 0.01],    # 7 Spine
    [0.00, -0.48, 0.00],    # 8 Thorax
    [0.00, -0.58, -0.08],   # 9 Neck/Nose
    [0.00, -0.68, 0.00],    # 10 Head
    [0.17, -0.45, 0.00],    # 11 LShoulder
    [0.22, -0.20, -0.05],   # 12 LElbow
    [0.25, 0.02, -0.12],    # 13 LWrist
    [-0.17, -0.45, 0.00],   # 14 RShoulder
    [-0.22, -0.20, -0.03],  # 15 RElbow
    [-0.24, 0.03, -0.10],   # 16 RWrist
], dtype=torch.float64)
MIRROR = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)


def random_rotations(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, 3, 3, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[:, None, :]
    return q * torch.linalg.det(q)[:, None, None]  # proper rotations only


class _ConstantEDM(nn.Module):
    """Stands in for the network: returns the given (N, M) distances whatever the input."""

    def __init__(self, dist):
        super().__init__()
        self.dist = dist

    def forward(self, h):
        assert h.shape[0] == self.dist.shape[0]
        return self.dist.to(h.dtype)


def closed_form_params(j, hidden=(1024, 1024, 1024), bn=True):
    m = j * (j - 1) // 2
    total, width = 0, m
    for h in hidden:
        total += width * h + h + (2 * h if bn else 0)
        width = h
    return total + width * m + m


# --- EDM and MDS ------------------------------------------------------------------------------------------

def test_edm_of_a_hand_built_pose():
    pts = torch.tensor([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
    torch.testing.assert_close(edm_vector(pts), torch.tensor([3.0, 4.0, 5.0]))  # pairs (0,1), (0,2), (1,2)
    full = edm_matrix(edm_vector(pts), 3)
    torch.testing.assert_close(full, torch.tensor([[0.0, 3.0, 4.0], [3.0, 0.0, 5.0], [4.0, 5.0, 0.0]]))
    # 2D input and batch dimensions: (B, T, J, 2) -> (B, T, J(J-1)/2)
    flat = torch.tensor([[1.0, 1.0], [4.0, 5.0], [1.0, 5.0]]).expand(2, 4, 3, 2)
    torch.testing.assert_close(edm_vector(flat), torch.tensor([5.0, 4.0, 3.0]).expand(2, 4, 3))


def test_mds_recovers_a_pose_from_its_exact_edm_up_to_a_rigid_transform():
    rng = np.random.RandomState(0)
    poses = torch.from_numpy(rng.randn(5, 17, 3) * 0.3)
    shifted = poses @ random_rotations(5) + 2.0  # MDS must not care about rotation or translation
    dist = edm_matrix(edm_vector(shifted), 17)
    rec = classical_mds(dist)
    assert rec.dtype == torch.float64 and rec.shape == (5, 17, 3)
    zeros = torch.zeros(5, 3, dtype=torch.float64)
    torch.testing.assert_close(rec.mean(dim=1), zeros, atol=1e-12, rtol=0)  # factor of the centred Gram matrix
    torch.testing.assert_close(edm_matrix(edm_vector(rec), 17), dist, atol=1e-10, rtol=0)
    # The harness's P-MPJPE allows no reflection, so MDS matches either the pose or its mirror image.
    for k in range(5):
        err = min(p_mpjpe(rec[k].numpy(), poses[k].numpy()), p_mpjpe((rec[k] * MIRROR).numpy(), poses[k].numpy()))
        assert err < 1e-9


def test_mds_clamps_negative_eigenvalues_of_a_non_euclidean_matrix():
    dist = edm_matrix(edm_vector(POSE17), 17) * (1 + 0.3 * torch.rand(17, 17, dtype=torch.float64))
    rec = classical_mds(0.5 * (dist + dist.T) * (1 - torch.eye(17, dtype=torch.float64)))
    assert torch.isfinite(rec).all()


def test_chirality_score_is_positive_for_a_body_and_flips_for_its_mirror_image():
    anatomy = _resolve_anatomy(17)
    rot = random_rotations(4, seed=1)
    poses = POSE17 @ rot
    assert (chirality_score(poses, anatomy) > 0).all()
    assert (chirality_score(poses * MIRROR, anatomy) < 0).all()
    assert _resolve_anatomy(15) is not None and _resolve_anatomy(14) is None


# --- read-out: MDS -> reflection -> orientation -> root --------------------------------------------------------

def test_exact_edm_gives_back_the_camera_frame_pose():
    """With the network replaced by the ground-truth EDM, forward returns the pose itself (orthographic 2D)."""
    poses = POSE17 @ random_rotations(6, seed=2)  # any viewpoint, including from behind and upside down
    poses = poses - poses[:, :1]
    x = (1.7 * poses[:, :, :2] + 0.3).float()  # an orthographic view at another scale and offset
    model = create_model("edm", hidden_sizes=(8,)).eval()
    model.net = _ConstantEDM(edm_vector(poses))
    out = model(x.reshape(2, 3, 17, 2)).reshape(6, 17, 3)
    assert out.dtype == torch.float32
    assert mpjpe(out.double().numpy(), poses.numpy()) < 1e-5
    # Without the reflection fix the handedness is the MDS's own: some of these come out mirrored.
    plain = create_model("edm", hidden_sizes=(8,), reflection="none", orientation="mds").eval()
    plain.net = _ConstantEDM(edm_vector(poses))
    raw = plain(x.reshape(2, 3, 17, 2)).reshape(6, 17, 3).double()
    errs = [min(p_mpjpe(raw[k].numpy(), poses[k].numpy()), p_mpjpe((raw[k] * MIRROR).numpy(), poses[k].numpy()))
            for k in range(6)]
    assert max(errs) < 1e-5


def test_focal_length_corrects_the_off_axis_viewing_ray():
    pose = POSE17 @ random_rotations(1, seed=3)[0]
    pose = pose - pose[:1]
    cam = pose + torch.tensor([1.2, 0.4, 4.0], dtype=torch.float64)  # well off the optical axis
    f = 2.29
    x2d = (f * cam[:, :2] / cam[:, 2:]).float()[None]  # perspective projection, normalised screen units
    d = edm_vector(pose)[None]
    errors = {}
    for focal in (None, f):
        model = create_model("edm", hidden_sizes=(8,), focal_length=focal)
        out = model.edm_to_pose(d, x2d)
        errors[focal] = mpjpe(out.double().numpy(), pose[None].numpy())
    # What remains is the weak-perspective floor (the body's own depth extent), not the ray's tilt.
    assert errors[f] < 0.5 * errors[None] and errors[f] < 0.04  # metres


def test_orient_to_image_is_a_proper_rotation():
    pose = POSE17 @ random_rotations(1, seed=4)[0]
    x2d = torch.randn(1, 17, 2, dtype=torch.float64)  # any 2D input: still a rotation of the pose
    out = orient_to_image(pose[None], x2d)[0]
    rot = torch.linalg.lstsq(pose - pose.mean(0), out - out.mean(0)).solution
    torch.testing.assert_close(rot.T @ rot, torch.eye(3, dtype=torch.float64), atol=1e-9, rtol=0)
    assert torch.linalg.det(rot) == pytest.approx(1.0, abs=1e-9)


# --- parameters, options, contract -----------------------------------------------------------------------------

@pytest.mark.parametrize("key, j", [("num_joints=17", 17), ("num_joints=15", 15),
                                    ("num_joints=14, reflection='none'", 14)])
def test_parameter_counts(key, j):
    expected = get_entry("edm").params[key]
    opts = {"num_joints": j} if j != 14 else {"num_joints": 14, "reflection": "none"}
    assert count_parameters(create_model("edm", **opts)) == expected == closed_form_params(j)


def test_paper_preset_has_91_distances_and_options_change_structure():
    model = create_model("edm", **get_entry("edm").presets["paper14"])
    assert model.net[0].in_features == 91 and model.net[-2].out_features == 91
    small = create_model("edm", hidden_sizes=[32, 16], batch_norm=False, output_activation="softplus")
    assert count_parameters(small) == closed_form_params(17, (32, 16), bn=False)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in small.modules())
    assert isinstance(small.net[-1], nn.Softplus)


def test_contract_shapes_and_frame_independence():
    model = create_model("edm", hidden_sizes=(32, 32)).eval()
    assert isinstance(model, EDMRegression)
    assert (model.receptive_field, model.causal_shift, model.output_mode, model.in_features) == (1, 0, "conv", 2)
    assert (model.num_joints_in, model.num_joints_out) == (17, 17)
    x = torch.randn(2, 5, 17, 2)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 5, 17, 3) and torch.isfinite(out).all()
        assert out[:, :, 0].abs().max() < 1e-6  # root-centred
        y = x.clone()
        y[:, 2] += torch.randn(2, 17, 2)
        changed = (model(y) - out).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.tolist() == [False, False, True, False, False]
    with pytest.raises(AssertionError, match="joints"):
        model(torch.randn(2, 5, 16, 2))
    with pytest.raises(AssertionError, match=r"\(batch, frames"):
        model(torch.randn(5, 17, 2))
    with pytest.raises(AssertionError, match="features"):
        model(torch.randn(2, 5, 17, 3))
    model.set_bn_momentum(0.3)
    assert all(m.momentum == 0.3 for m in model.modules() if isinstance(m, nn.BatchNorm1d))


def test_input_edm_is_scale_invariant_with_max_normalisation():
    model = create_model("edm", hidden_sizes=(8,))
    x = torch.randn(3, 17, 2)
    d = model.input_edm(x)
    torch.testing.assert_close(d, model.input_edm(4.0 * x + 1.0))
    torch.testing.assert_close(d.amax(dim=-1), torch.ones(3))
    raw = create_model("edm", hidden_sizes=(8,), edm_normalisation="none")
    torch.testing.assert_close(raw.input_edm(x), edm_vector(x))
    assert torch.isfinite(model.input_edm(torch.zeros(1, 17, 2))).all()  # coincident joints: no NaN


@pytest.mark.parametrize("options, match", [
    ({"no_such_option": 1}, "unknown option"),
    ({"network": "fconv"}, "network"),
    ({"network": "cnn"}, "network"),
    ({"dropout": 1.0}, "dropout"),
    ({"hidden_sizes": ()}, "hidden_sizes"),
    ({"hidden_sizes": (64, 0)}, "hidden_sizes"),
    ({"num_joints": 3}, "num_joints"),
    ({"num_joints": 14}, "reflection"),
    ({"orientation": "camera"}, "orientation"),
    ({"reflection": "procrustes"}, "reflection"),
    ({"edm_normalisation": "mean"}, "edm_normalisation"),
    ({"output_activation": "tanh"}, "output_activation"),
    ({"focal_length": -1.0}, "focal_length"),
])
def test_invalid_options_raise_config_error(options, match):
    with pytest.raises(ConfigError, match=match):
        create_model("edm", **options)


# --- loss --------------------------------------------------------------------------------------------------

def test_loss_is_zero_when_the_predicted_edm_is_the_ground_truth():
    target = (POSE17 @ random_rotations(4, seed=5)).float().reshape(2, 2, 17, 3)
    target = target - target[:, :, :1]
    x = target[..., :2].clone()
    model = create_model("edm", hidden_sizes=(8,)).train()
    model.net = _ConstantEDM(edm_vector(target.reshape(4, 17, 3)))
    loss, pose = model.loss_terms(x, target, loss_fn=None)
    assert loss.dim() == 0 and float(loss) == pytest.approx(0.0, abs=1e-10)
    assert pose.shape == (2, 2, 17, 3) and not pose.requires_grad
    assert mpjpe(pose.double().numpy(), target.double().numpy()) < 1e-5
    # A 1 cm error on every distance costs 1e-4 (mean squared error in metres).
    model.net = _ConstantEDM(edm_vector(target.reshape(4, 17, 3)) + 0.01)
    assert float(model.loss_terms(x, target, None)[0]) == pytest.approx(1e-4, rel=1e-3)
    with pytest.raises(AssertionError, match="target shape"):
        model.loss_terms(x, target[:, :1], None)


def test_one_backward_step_gives_finite_nonzero_gradients():
    torch.manual_seed(0)
    model = create_model("edm", hidden_sizes=(16, 16), output_activation="softplus").train()
    target = torch.randn(4, 2, 17, 3) * 0.3
    target = target - target[:, :, :1]
    loss, _ = model.loss_terms(torch.randn(4, 2, 17, 2), target, loss_fn=None)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert all(float(g.abs().sum()) > 0 for g in grads)
    assert math.isfinite(loss.item()) and loss.item() > 0
