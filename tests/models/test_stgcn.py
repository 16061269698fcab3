"""ST-GCN ops (bench/models/stgcn.py): the spatial-configuration partition by hand, the graph convolution
against a loop over Eq. 10 of ST-GCN, and the block's strides and residuals."""
import numpy as np
import pytest
import torch

from bench.models.stgcn import (STGCNBlock, SpatialGraphConv, hop_distances,
                                spatial_configuration_partition)
from bench.skeleton import H36M_17, MPII_16

pytestmark = pytest.mark.usefixtures("one_thread")


def test_hop_distances_h36m_by_hand():
    d = hop_distances(H36M_17)
    assert d[0, 0] == 0 and d[0, 1] == 1 and d[0, 3] == 3
    assert d[13, 16] == 6  # LWrist -> LElbow -> LShoulder -> Thorax -> RShoulder -> RElbow -> RWrist
    assert d[3, 10] == 7  # RFoot -> RKnee -> RHip -> Hip -> Spine -> Thorax -> Neck -> Head


def test_partition_thorax_and_root_by_hand():
    a = spatial_configuration_partition(H36M_17)
    assert a.shape == (3, 17, 17)
    # Thorax (8): itself, its parent Spine (7, closer to the pelvis), children Neck 9, LShoulder 11, RShoulder 14.
    assert a[0, 8, 8] == pytest.approx(1 / 5)
    assert a[1, 7, 8] == pytest.approx(1 / 5)
    for child in (9, 11, 14):
        assert a[2, child, 8] == pytest.approx(1 / 5)
    assert np.count_nonzero(a[:, :, 8]) == 5
    # The pelvis (0) is the centre: no joint is closer; RHip, LHip, Spine are farther.
    assert a[0, 0, 0] == pytest.approx(1 / 4)
    assert not a[1, :, 0].any()
    assert sorted(np.nonzero(a[2, :, 0])[0]) == [1, 4, 7]
    # A leaf (RFoot 3): itself and its parent only.
    assert a[0, 3, 3] == pytest.approx(1 / 2) and a[1, 2, 3] == pytest.approx(1 / 2) and not a[2, :, 3].any()
    # Every receiver averages its neighbourhood.
    np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(17), rtol=1e-6)


def test_partition_centre_is_the_layout_root():
    a = spatial_configuration_partition(MPII_16)  # root = Pelvis, index 6
    assert not a[1, :, 6].any() and a[0, 6, 6] > 0


def test_partition_two_hops_includes_grandparents():
    a = spatial_configuration_partition(H36M_17, max_hop=2)
    assert a[1, 1, 3] > 0  # RHip reaches RFoot in two bones (closer to the centre)
    np.testing.assert_allclose(a.sum(axis=(0, 1)), np.ones(17), rtol=1e-6)


def test_graph_conv_matches_loop_reference():
    torch.manual_seed(0)
    a = spatial_configuration_partition(H36M_17)
    conv = SpatialGraphConv(2, 3, a)
    x = torch.randn(1, 2, 4, 17)
    out = conv(x)
    w = conv.conv.weight.detach()[:, :, 0, 0].view(3, 3, 2)  # (K, C_out, C_in)
    b = conv.conv.bias.detach().view(3, 3)
    ref = torch.zeros(1, 3, 4, 17)
    for k in range(3):
        for i in range(17):
            for j in range(17):
                if a[k, j, i]:
                    ref[0, :, :, i] += a[k, j, i] * (w[k] @ x[0, :, :, j] + b[k][:, None])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_identity_graph_does_not_mix_joints():
    conv = SpatialGraphConv(2, 4, np.eye(17, dtype=np.float32)[None])
    x = torch.randn(1, 2, 3, 17)
    base = conv(x)
    x2 = x.clone()
    x2[..., 5] += 1.0
    changed = (conv(x2) - base).abs().sum(dim=(0, 1, 2)) > 0
    assert changed.nonzero().flatten().tolist() == [5]


def test_graph_conv_rejects_wrong_joint_count():
    conv = SpatialGraphConv(2, 4, spatial_configuration_partition(H36M_17))
    with pytest.raises(ValueError, match="16 joints"):
        conv(torch.randn(1, 2, 3, 16))


def test_block_stride_halves_length_and_residual_kinds():
    a = spatial_configuration_partition(H36M_17)
    blk = STGCNBlock(8, 16, a, stride=2)
    assert blk(torch.randn(2, 8, 96, 17)).shape == (2, 16, 48, 17)
    assert isinstance(blk.residual, torch.nn.Sequential)
    assert isinstance(STGCNBlock(8, 8, a).residual, torch.nn.Identity)
    assert STGCNBlock(2, 8, a, residual=False).residual is None
