"""DG-Net graph operations (bench/models/graph_ops.py) against hand computations of the paper's
equations (Zhang et al., TIP 2021, Eq. 1-14; model-specs.md 4.2)."""
import pytest
import torch
from torch.nn import functional as F

from bench.errors import ConfigError
from bench.models.graph_ops import (AffinityWeighting, DynamicalSpatialGraph, DynamicalTemporalGraph,
                                    FixedSpatialGraph, FixedTemporalGraph, SpatialNonLocal, knn_mask,
                                    static_mask)
from bench.skeleton import H36M_17


pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


def rows(mask: torch.Tensor) -> list[set[int]]:
    """(J, J) boolean mask -> the neighbour set of every row."""
    return [set(torch.nonzero(r).flatten().tolist()) for r in mask]


def line(xs, channels=1) -> torch.Tensor:
    """Joints on the x axis, (J, C) with the other channels 0."""
    f = torch.zeros(len(xs), channels)
    f[:, 0] = torch.tensor(xs, dtype=torch.float32)
    return f


# ---------------------------------------------------------------- knn_mask

LINE = [0, 1, 3, 7, 8]
LINE_SETS = {
    1: [{0}, {1}, {2}, {3}, {4}],
    2: [{0, 1}, {1, 0}, {2, 1}, {3, 4}, {4, 3}],
    3: [{0, 1, 2}, {1, 0, 2}, {2, 1, 0}, {3, 4, 2}, {4, 3, 2}],
}


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_knn_mask_neighbour_sets_on_a_line(k, channels):
    mask = knn_mask(line(LINE, channels), k)
    assert mask.dtype == torch.bool and mask.shape == (5, 5)
    assert rows(mask) == LINE_SETS[k]
    assert mask.sum(-1).tolist() == [k] * 5
    assert bool(mask.diagonal().all())  # the joint itself is always one of the K


def test_knn_mask_self_first_and_ties_to_lower_index():
    # joints 0, 1, 2 share the same features; 3 and 4 are equidistant (5) from all three
    f = line([5, 5, 5, 0, 10])
    assert rows(knn_mask(f, 1)) == [{0}, {1}, {2}, {3}, {4}]  # self wins its distance-0 tie
    assert rows(knn_mask(f, 2)) == [{0, 1}, {1, 0}, {2, 0}, {3, 0}, {4, 0}]
    assert rows(knn_mask(f, 3)) == [{0, 1, 2}, {1, 0, 2}, {2, 0, 1}, {3, 0, 1}, {4, 0, 1}]
    # a fully degenerate pose (every joint identical): self, then the lowest indices
    same = torch.ones(6, 3)
    assert rows(knn_mask(same, 2)) == [{0, 1}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}]
    # the same with 17 joints, as in a DTG on a static (edge-padded) clip where every motion is 0
    still = knn_mask(torch.zeros(2, 17, 4), 4)
    for i, nb in enumerate(rows(still[1])):
        assert nb == {i} | set([o for o in range(17) if o != i][:3])


def test_knn_mask_batched_frames_are_independent():
    a = line(LINE, 2)
    b = line(LINE[::-1], 2)  # the same points, joint order reversed
    c = line([0, 10, 11, 30, 31], 2)
    feats = torch.stack([torch.stack([a, b, c]), torch.stack([c, a, b])])  # (B=2, T=3, J=5, C=2)
    mask = knn_mask(feats, 2)
    assert mask.shape == (2, 3, 5, 5) and mask.dtype == torch.bool
    assert rows(mask[0, 0]) == LINE_SETS[2]
    assert rows(mask[0, 1]) == [{0, 1}, {1, 0}, {2, 3}, {3, 4}, {4, 3}]
    assert rows(mask[0, 2]) == [{0, 1}, {1, 2}, {2, 1}, {3, 4}, {4, 3}]
    assert not torch.equal(mask[0, 0], mask[0, 1]) and not torch.equal(mask[0, 1], mask[0, 2])
    for bi in range(2):
        for t in range(3):
            assert torch.equal(mask[bi, t], knn_mask(feats[bi, t], 2))
    assert torch.equal(mask[1, 0], mask[0, 2]) and torch.equal(mask[1, 1], mask[0, 0])


def test_knn_mask_k_out_of_range_raises():
    f = line(LINE)
    with pytest.raises(ValueError):
        knn_mask(f, 6)
    with pytest.raises(ValueError):
        knn_mask(f, 0)
    assert bool(knn_mask(f, 5).all())  # K = J selects everything


def test_knn_mask_carries_no_gradient():
    f = torch.randn(2, 3, 17, 8, requires_grad=True)
    mask = knn_mask(f, 3)
    assert not mask.requires_grad and mask.grad_fn is None


# ---------------------------------------------------------------- static masks

def test_static_mask_fixed_full_symmetry():
    j = H36M_17.num_joints
    adj = torch.from_numpy(H36M_17.adjacency() > 0)
    eye = torch.eye(j, dtype=torch.bool)
    fixed = static_mask("fixed", 3, H36M_17)
    assert fixed.dtype == torch.bool and torch.equal(fixed, adj | eye)
    assert int(fixed.sum()) == 2 * 16 + 17  # 16 bones both ways, plus self
    assert bool(static_mask("full", 3, H36M_17).all())
    sym = static_mask("symmetry", 3, H36M_17)
    perm = H36M_17.flip_permutation()
    flip = torch.zeros(j, j, dtype=torch.bool)
    flip[torch.arange(j), torch.from_numpy(perm)] = True
    assert torch.equal(sym, adj | eye | flip)
    names = H36M_17.joint_names
    lhip, rhip = names.index("LHip"), names.index("RHip")
    lwrist, rwrist = names.index("LWrist"), names.index("RWrist")
    assert sym[lhip, rhip] and sym[rhip, lhip] and sym[lwrist, rwrist] and sym[rwrist, lwrist]
    assert not fixed[lwrist, rwrist]
    assert torch.equal(sym, sym.T)
    with pytest.raises(ValueError):
        static_mask("dynamical", 3, H36M_17)


@pytest.mark.parametrize("k", [1, 3, 7])
def test_static_mask_random_k_per_row_self_included_and_seeded(k):
    m1 = static_mask("random", k, H36M_17, torch.Generator().manual_seed(5))
    m2 = static_mask("random", k, H36M_17, torch.Generator().manual_seed(5))
    m3 = static_mask("random", k, H36M_17, torch.Generator().manual_seed(6))
    assert m1.shape == (17, 17) and m1.dtype == torch.bool
    assert m1.sum(-1).tolist() == [k] * 17
    assert bool(m1.diagonal().all())
    assert torch.equal(m1, m2)
    if k > 1:
        assert not torch.equal(m1, m3)


# ---------------------------------------------------------------- DSG

def _dsg(norm, weighting="none", k=3, c=4):
    torch.manual_seed(0)
    return DynamicalSpatialGraph(c, k, H36M_17, "dynamical", weighting, norm)


def test_dsg_none_softmax_is_neighbour_mean_and_raw_is_sum():
    torch.manual_seed(1)
    x = torch.randn(2, 3, 17, 4)
    for norm, reduce in (("softmax", "mean"), ("raw", "sum"), ("sigmoid", "half_sum")):
        op = _dsg(norm)
        out = op(x)
        h = op.linear(x)
        expected = torch.zeros_like(out)
        for b in range(2):
            for t in range(3):
                d = torch.cdist(x[b, t].double(), x[b, t].double())
                for i in range(17):
                    # hand KNN: self first, then the 2 nearest others by (distance, index)
                    others = sorted((float(d[i, j]), j) for j in range(17) if j != i)
                    nb = [i] + [j for _, j in others[:2]]
                    s = h[b, t, nb].sum(0)
                    expected[b, t, i] = {"mean": s / 3, "sum": s, "half_sum": s / 2}[reduce]
        assert torch.allclose(out, expected, atol=1e-5), norm


def test_dsg_fc_weighting_matches_explicit_eq5_to_7():
    """B_t = D_t (.) R_t with R(i, j) = gamma([x_i, x_j]) = LeakyReLU_0.2(w_q.x_i + b + w_k.x_j) (one Linear
    on the concatenation, then the nonlinearity), normalised over the K selected neighbours."""
    torch.manual_seed(2)
    x = torch.randn(1, 2, 17, 4)
    for norm in ("softmax", "raw", "sigmoid"):
        op = _dsg(norm, "fc")
        out = op(x)
        wq, bq = op.weighting.query.weight[0], op.weighting.query.bias[0]
        wk = op.weighting.key.weight[0]
        h = op.linear(x)
        mask = knn_mask(x, 3)
        expected = torch.zeros_like(out)
        for t in range(2):
            for i in range(17):
                nb = torch.nonzero(mask[0, t, i]).flatten()
                r = torch.stack([F.leaky_relu(x[0, t, i] @ wq + bq + x[0, t, j] @ wk, 0.2) for j in nb])
                w = {"softmax": torch.softmax(r, 0), "raw": r, "sigmoid": torch.sigmoid(r)}[norm]
                expected[0, t, i] = (w[:, None] * h[0, t, nb]).sum(0)
        assert torch.allclose(out, expected, atol=1e-5), norm


@pytest.mark.parametrize("weighting", ["fc", "embedded_gaussian"])
def test_dsg_gradients_reach_weighting_not_indices(weighting):
    # the default normalisation: with the LeakyReLU inside gamma the query half no longer cancels
    # under the row softmax, so both halves of gamma([x_i, x_j]) must receive gradient
    op = _dsg("softmax", weighting)
    torch.manual_seed(3)
    x = torch.randn(2, 2, 17, 4, requires_grad=True)
    (op(x) * torch.randn(2, 2, 17, 4)).sum().backward()
    w = op.weighting
    params = [w.query.weight, w.key.weight] if weighting == "fc" else [w.theta.weight, w.phi.weight]
    for p in params:
        assert p.grad is not None and float(p.grad.abs().sum()) > 0
    assert float(op.linear.weight.grad.abs().sum()) > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()
    # the neighbour mask the op used carries no gradient
    mask = op.neighbours(x, None)
    assert not mask.requires_grad and mask.grad_fn is None


def test_dsg_fc_softmax_key_gets_gradient():
    op = _dsg("softmax", "fc")
    torch.manual_seed(4)
    x = torch.randn(2, 2, 17, 4)
    (op(x) * torch.randn(2, 2, 17, 4)).sum().backward()
    assert float(op.weighting.key.weight.grad.abs().sum()) > 0


def test_dsg_static_and_precomputed_styles_use_their_mask():
    torch.manual_seed(5)
    x = torch.randn(1, 2, 17, 4)
    fixed = DynamicalSpatialGraph(4, 3, H36M_17, "fixed", "none", "raw")
    adj = torch.from_numpy(H36M_17.adjacency(self_loops=True))
    assert torch.allclose(fixed(x), adj @ fixed.linear(x), atol=1e-5)
    pre = DynamicalSpatialGraph(4, 3, H36M_17, "precomputed", "none", "raw")
    given = torch.eye(17, dtype=torch.bool).expand(1, 2, 17, 17)
    assert torch.allclose(pre(x, spatial_mask=given), pre.linear(x), atol=1e-6)
    with pytest.raises(ValueError):
        pre(x)


def test_affinity_weighting_rejects_unknown_options():
    with pytest.raises(ConfigError):
        AffinityWeighting(4, "bogus")
    with pytest.raises(ConfigError):
        AffinityWeighting(4, "fc", "bogus")


# ---------------------------------------------------------------- DTG

def _dtg_input() -> torch.Tensor:
    """(1, 3, 5, 2): joint 0 and joint 3 share their first motion (1, 0); the second motions differ."""
    x0 = torch.tensor([[0., 0.], [3., 1.], [-2., 4.], [6., -1.], [1., 1.]])
    m0 = torch.tensor([[1., 0.], [0., 5.], [-3., 0.], [1., 0.], [0., -5.]])
    m1 = torch.tensor([[2., 2.], [2., 4.], [-4., -4.], [9., 0.], [2., 1.]])
    return torch.stack([x0, x0 + m0, x0 + m0 + m1])[None]


def test_dtg_neighbours_follow_motion_not_position():
    op = DynamicalTemporalGraph(2, 2, H36M_17, "dynamical", "none", "softmax")
    mask = op.neighbours(_dtg_input(), None)
    assert mask.shape == (1, 2, 5, 5) and mask.dtype == torch.bool
    # pair (0, 1): joints 0 and 3 move alike; ties (1 and 4 are equally far from 0 and 3) go to 0
    assert rows(mask[0, 0]) == [{0, 3}, {1, 0}, {2, 0}, {3, 0}, {4, 0}]
    # pair (1, 2): motions (2,2) (2,4) (-4,-4) (9,0) (2,1)
    assert rows(mask[0, 1]) == [{0, 4}, {1, 0}, {2, 4}, {3, 4}, {4, 0}]
    k4 = DynamicalTemporalGraph(2, 4, H36M_17, "dynamical", "none", "softmax").neighbours(_dtg_input(), None)
    # row 0 at K=4: self, 3 (distance 0), 2 (4), then 1 and 4 tie at sqrt(26): the lower index
    assert rows(k4[0, 0])[0] == {0, 3, 2, 1}


def _dtg_reference(op: DynamicalTemporalGraph, x: torch.Tensor, norm: str) -> torch.Tensor:
    """Eq. 14 frame by frame: Y_t = U_x x_t + sum_{j in U_{t+1}} Q_{t+1} U_f x_{t+1}^j
    + sum_{j in U_{t-1}} Q_{t-1} U_b x_{t-1}^j, zero beyond the ends; fc scores alpha / beta on
    [x_t^i, x_{t+-1}^j]."""
    b, t, j, _ = x.shape
    mask = knn_mask(x[:, 1:] - x[:, :-1], op.k)

    def weights(w: AffinityWeighting, xi, xn, nb):
        if w.kind == "none":
            r = torch.zeros(len(nb))
        else:
            r = torch.stack([F.leaky_relu(xi @ w.query.weight[0] + w.query.bias[0] + xn[n] @ w.key.weight[0], 0.2)
                             for n in nb])
        if norm == "softmax":
            return torch.softmax(r, 0)
        if norm == "sigmoid":
            return torch.sigmoid(r)
        return torch.ones(len(nb)) if w.kind == "none" else r

    out = op.self_linear(x).clone()
    for bi in range(b):
        for ti in range(t):
            for i in range(j):
                if ti + 1 < t:  # forward: motion x_{t+1} - x_t, pair index ti
                    nb = torch.nonzero(mask[bi, ti, i]).flatten()
                    q = weights(op.alpha, x[bi, ti, i], x[bi, ti + 1], nb)
                    out[bi, ti, i] += (q[:, None] * op.forward_linear(x[bi, ti + 1, nb])).sum(0)
                if ti > 0:  # backward: motion x_t - x_{t-1}, pair index ti - 1
                    nb = torch.nonzero(mask[bi, ti - 1, i]).flatten()
                    q = weights(op.beta, x[bi, ti, i], x[bi, ti - 1], nb)
                    out[bi, ti, i] += (q[:, None] * op.backward_linear(x[bi, ti - 1, nb])).sum(0)
    return out


@pytest.mark.parametrize("weighting,norm", [("none", "softmax"), ("none", "raw"), ("fc", "softmax"),
                                            ("fc", "raw"), ("fc", "sigmoid")])
def test_dtg_matches_explicit_eq10_to_14(weighting, norm):
    torch.manual_seed(6)
    op = DynamicalTemporalGraph(3, 3, H36M_17, "dynamical", weighting, norm)
    x = torch.randn(2, 4, 17, 3)
    assert torch.allclose(op(x), _dtg_reference(op, x, norm), atol=1e-5)


def test_dtg_first_frame_has_no_backward_and_last_no_forward_term():
    torch.manual_seed(7)
    x = torch.randn(2, 3, 17, 4)
    op = DynamicalTemporalGraph(4, 4, H36M_17, "dynamical", "fc", "softmax")
    with torch.no_grad():
        op.forward_linear.weight.zero_()
        no_fwd = op(x)
    assert torch.equal(no_fwd[:, 0], op.self_linear(x[:, 0]).detach())
    assert not torch.allclose(no_fwd[:, 1:], op.self_linear(x[:, 1:]).detach(), atol=1e-4)  # backward acts
    torch.manual_seed(7)
    op = DynamicalTemporalGraph(4, 4, H36M_17, "dynamical", "fc", "softmax")
    with torch.no_grad():
        op.backward_linear.weight.zero_()
        no_bwd = op(x)
    assert torch.equal(no_bwd[:, -1], op.self_linear(x[:, -1]).detach())
    assert not torch.allclose(no_bwd[:, :-1], op.self_linear(x[:, :-1]).detach(), atol=1e-4)
    with pytest.raises(ValueError):
        op(x[:, :1])


# ---------------------------------------------------------------- FTG, FSG, non-local

def test_ftg_is_eq9_with_zero_padding():
    torch.manual_seed(8)
    op = FixedTemporalGraph(5)
    x = torch.randn(2, 4, 17, 5)
    w, bias = op.conv.weight, op.conv.bias  # (C_out, C_in, 3): taps t-1, t, t+1
    w_b, w_x, w_f = w[:, :, 0].T, w[:, :, 1].T, w[:, :, 2].T
    zero = torch.zeros_like(x[:, :1])
    prev = torch.cat([zero, x[:, :-1]], 1)
    nxt = torch.cat([x[:, 1:], zero], 1)
    expected = x @ w_x + nxt @ w_f + prev @ w_b + bias
    assert torch.allclose(op(x), expected, atol=1e-5)
    # a single frame sees only itself
    assert torch.allclose(op(x[:, :1]), x[:, :1] @ w_x + bias, atol=1e-5)


def test_fsg_plain_and_semgcn_at_init():
    torch.manual_seed(9)
    x = torch.randn(2, 3, 17, 4)
    adj = torch.from_numpy(H36M_17.adjacency(self_loops=True))
    deg = adj.sum(-1, keepdim=True)
    plain = FixedSpatialGraph(4, 6, H36M_17, "plain")
    assert torch.allclose(plain(x), (adj / deg) @ (x @ plain.weight) + plain.bias, atol=1e-5)
    sem = FixedSpatialGraph(4, 6, H36M_17, "semgcn")  # edge logits all equal: uniform over A + I
    eye = torch.eye(17)
    expected = ((adj * eye) / deg) @ (x @ sem.weight[0]) + ((adj * (1 - eye)) / deg) @ (x @ sem.weight[1])
    assert torch.allclose(sem(x), expected + sem.bias, atol=1e-5)
    with pytest.raises(ValueError):
        plain(torch.randn(2, 3, 17, 5))


def test_spatial_non_local_is_identity_at_init():
    torch.manual_seed(10)
    op = SpatialNonLocal(8)
    x = torch.randn(3, 4, 17, 8)
    assert torch.equal(op.train()(x), x)
    assert torch.equal(op.eval()(x), x)
    with torch.no_grad():
        op.bn.weight.fill_(1.0)
    assert not torch.allclose(op.train()(x), x)  # the block is not an identity by construction
