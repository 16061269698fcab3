"""DG-Net (bench/models/dgnet.py): size, option validation, multi-level loss, precomputed graphs,
balanced coordinates and per-sample independence."""
import pytest
import torch

from bench.errors import ConfigError
from bench.models.dgnet import DGNet, DynamicalSpatialGraph, DynamicalTemporalGraph
from bench.engine.windows import flip_context, flip_pose
from bench.models.graph_ops import knn_mask
from bench.skeleton import H36M_17
from bench.registry import create_model, get_entry


pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def randomise_heads(model):
    """Random output heads, whatever the model's init (zero heads would make every output 0 and the
    comparisons below vacuous)."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if name.split(".")[-1] in ("head", "depth_head"):
                torch.nn.init.normal_(m.weight, std=0.5)
                torch.nn.init.normal_(m.bias, std=0.1)
    return model


def tiny(**over):
    opts = {"channels": 8, "blocks": 2}
    opts.update(over)
    torch.manual_seed(0)
    return randomise_heads(create_model("dgnet", **opts))


# ---------------------------------------------------------------- size

def per_block_params(c: int = 128, bones: int = 16, joints: int = 17) -> int:
    """Hand count of one DG-Conv block at width C (model-specs.md 4.2 defaults)."""
    lin = c * c + c
    bn2 = 2 * (2 * c)  # the two BatchNorms of a residual module
    fsg = 2 * c * c + (2 * bones + joints) + c  # self / neighbour weights, one logit per edge of A + I, bias
    dsg = lin + (c + 1) + c  # Phi (+ bias); fc gamma split into query (+ bias) and key
    ftg = 3 * c * c + c  # kernel-3 temporal conv
    dtg = lin + 2 * c * c + 2 * ((c + 1) + c)  # U_x (+ bias), U_f, U_b; alpha and beta
    inter = c // 2
    non_local = 3 * (c * inter + inter) + 2 * inter + (inter * c + c) + 2 * c
    residual = lambda op: 2 * op + bn2  # noqa: E731
    return (residual(fsg) + residual(dsg) + 2 * residual(ftg) + residual(dtg) + 2 * non_local
            + (c * 3 + 3))  # block head


def test_parameter_count_matches_registry_and_hand_count():
    model = create_model("dgnet")
    n = n_params(model)
    assert n == 2_333_003
    assert n == get_entry("dgnet").params["frames=4"]
    block = per_block_params()
    assert block == 466_027
    stem = (2 * 2 * 128 + 49 + 128) + 2 * 128  # FSG 2 -> 128 and its BN
    assert n == stem + 5 * block + (5 * 128 * 3 + 3)  # network head on the 640-d concatenation
    one = n_params(create_model("dgnet", blocks=1))
    # each extra block adds its own modules and 128 x 3 weights of the network head
    assert n - one == 4 * (block + 128 * 3)
    assert n_params(create_model("dgnet", frames=2)) == n  # T changes no weight


# ---------------------------------------------------------------- shapes and options

@pytest.mark.parametrize("frames", [2, 3, 4, 5])
def test_output_shape_for_frames(frames):
    model = tiny(frames=frames)
    assert model.receptive_field == frames and model.output_mode == "seq2seq"
    y = model(torch.randn(3, frames, 17, 2))
    assert y.shape == (3, frames, 17, 3) and torch.isfinite(y).all()


@pytest.mark.parametrize("over", [
    {"dsg_k": 18}, {"dtg_k": 0}, {"dsg_k": 0}, {"graph_style": "bogus"}, {"weighting": "bogus"},
    {"affinity_norm": "bogus"}, {"spatial_unit": "FSG+XYZ"}, {"temporal_unit": "FTG+DSG"},
    {"temporal_unit": "FTG+DTG", "frames": 1}, {"spatial_unit": "none", "temporal_unit": "none"},
    {"supervision": "bogus"}, {"num_joints_in": 13, "num_joints_out": 13}, {"frames": 0},
])
def test_invalid_options_raise_config_error(over):
    with pytest.raises(ConfigError):
        create_model("dgnet", **over)


def test_single_frame_without_dtg_works():
    model = tiny(frames=1, temporal_unit="none")
    assert model(torch.randn(2, 1, 17, 2)).shape == (2, 1, 17, 3)
    model = tiny(frames=1, temporal_unit="FTG")
    assert model(torch.randn(2, 1, 17, 2)).shape == (2, 1, 17, 3)


@pytest.mark.parametrize("style", ["precomputed", "fixed", "full", "symmetry", "random"])
def test_graph_styles_run(style):
    assert tiny(graph_style=style)(torch.randn(2, 4, 17, 2)).shape == (2, 4, 17, 3)


def test_random_graphs_are_seeded_and_differ_between_layers():
    def masks(seed):
        m = tiny(graph_style="random", random_graph_seed=seed)
        graph_ops = (DynamicalSpatialGraph, DynamicalTemporalGraph)
        return [mod.static for mod in m.modules() if isinstance(mod, graph_ops)]

    a, b, c = masks(3), masks(3), masks(4)
    assert len(a) == 2 * 2 * 2  # 2 blocks x (DSG, DTG) x 2 layers
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
    assert not torch.equal(a[0], a[1])
    assert [int(m.sum(-1).unique()) for m in a] == [3, 3, 4, 4] * 2  # K_DSG = 3, K_DTG = 4 per row


def test_humaneva_skeleton():
    y = tiny(num_joints_in=15, num_joints_out=15)(torch.randn(2, 4, 15, 2))
    assert y.shape == (2, 4, 15, 3)


# ---------------------------------------------------------------- loss

def mpjpe(p, t):
    return torch.norm(p - t, dim=-1).mean()


def test_loss_terms_network_and_multi_level():
    torch.manual_seed(1)
    x, y = torch.randn(4, 4, 17, 2), torch.randn(4, 4, 17, 3)
    net = tiny(supervision="network").eval()
    loss, pose = net.loss_terms(x, y, mpjpe)
    assert torch.allclose(pose, net(x))
    assert torch.allclose(loss, mpjpe(net(x), y))
    multi = tiny(blocks=3).eval()
    loss, pose = multi.loss_terms(x, y, mpjpe)
    final, blocks = multi.forward_all(x)
    assert len(blocks) == 3 and all(b.shape == (4, 4, 17, 3) for b in blocks)
    expected = mpjpe(final, y) + 0.1 * sum(mpjpe(b, y) for b in blocks)
    assert torch.allclose(loss, expected, atol=1e-6)
    assert float((loss - mpjpe(final, y)).detach()) > 0.01  # the block terms are really there
    lam = tiny(blocks=3, block_loss_weight=0.5).eval()
    loss, _ = lam.loss_terms(x, y, mpjpe)
    final, blocks = lam.forward_all(x)
    assert torch.allclose(loss, mpjpe(final, y) + 0.5 * sum(mpjpe(b, y) for b in blocks), atol=1e-6)


def test_block_heads_get_gradient_only_with_multi_level():
    torch.manual_seed(2)
    x, y = torch.randn(4, 4, 17, 2), torch.randn(4, 4, 17, 3)
    for supervision, expect in (("multi_level", True), ("network", False)):
        model = tiny(supervision=supervision)
        model.loss_terms(x, y, mpjpe)[0].backward()
        g = model.blocks[0].head.weight.grad
        assert (g is not None and float(g.abs().sum()) > 0) == expect, supervision


# ---------------------------------------------------------------- precomputed graphs

def test_precomputed_masks_come_from_the_2d_input():
    model = tiny(graph_style="precomputed", dsg_k=3, dtg_k=4).eval()
    torch.manual_seed(3)
    x = torch.randn(2, 4, 17, 2)
    graphs = model._precomputed(x)
    assert torch.equal(graphs["spatial_mask"], knn_mask(x, 3))
    assert torch.equal(graphs["motion_mask"], knn_mask(x[:, 1:] - x[:, :-1], 4))
    assert tiny()._precomputed(x) == {}  # the dynamical style recomputes per layer

    # every DSG / DTG layer of the network uses exactly those masks (it masks out their complement)
    seen = {"dsg": [], "dtg": []}
    for m in model.modules():
        if isinstance(m, DynamicalSpatialGraph):
            m.exclusion = _wrap(m.exclusion, seen["dsg"])
        elif isinstance(m, DynamicalTemporalGraph):
            m.exclusion = _wrap(m.exclusion, seen["dtg"])
    with torch.no_grad():
        model(x)
    assert len(seen["dsg"]) == 2 * 2 and len(seen["dtg"]) == 2 * 2  # 2 blocks x 2 layers
    assert all(torch.equal(~m, graphs["spatial_mask"]) for m in seen["dsg"])
    assert all(torch.equal(~m, graphs["motion_mask"]) for m in seen["dtg"])


def _wrap(fn, log):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        log.append(out)
        return out
    return wrapped


def test_dynamical_style_recomputes_masks_from_layer_features():
    model = tiny(blocks=1).eval()
    torch.manual_seed(4)
    x = torch.randn(2, 4, 17, 2)
    seen = []
    dsg = model.blocks[0].spatial[1]
    assert isinstance(dsg.op1, DynamicalSpatialGraph)
    dsg.op1.exclusion = _wrap(dsg.op1.exclusion, seen)
    with torch.no_grad():
        model(x)
    assert seen[0].shape == (2, 4, 17, 17)
    assert not torch.equal(~seen[0], knn_mask(x, 3))  # from the 8-d features, not the 2D input


# ---------------------------------------------------------------- balanced coordinates

def _camera_scene(b=2, t=3, j=17):
    torch.manual_seed(5)
    rel = 0.3 * torch.randn(b, t, j, 3)
    rel[:, :, 0] = 0  # root-relative, root at 0
    root = torch.stack([0.4 * torch.randn(b, t), 0.4 * torch.randn(b, t), 4 + torch.rand(b, t)], -1)
    absolute = rel + root[:, :, None]
    fx, fy, cx, cy = 2.29, 2.28, 0.05, -0.03  # normalised, H36M-like
    uv = torch.stack([fx * absolute[..., 0] / absolute[..., 2] + cx,
                      fy * absolute[..., 1] / absolute[..., 2] + cy], -1)
    ctx = torch.cat([torch.tensor([fx, fy, cx, cy]).expand(b, t, 4), root[..., 2:3]], -1)
    return rel, uv, ctx


def test_back_projection_is_exact():
    rel, uv, ctx = _camera_scene()
    out = DGNet._back_project(uv.double(), rel[..., 2].double(), ctx.double())
    assert out.shape == rel.shape
    assert torch.allclose(out, rel.double(), atol=1e-5)
    out32 = DGNet._back_project(uv, rel[..., 2], ctx)
    assert torch.allclose(out32, rel, atol=1e-5)
    wrong = ctx.clone()
    wrong[..., 4] += 1.0  # another root depth scales x, y: not the pose
    assert not torch.allclose(DGNet._back_project(uv, rel[..., 2], wrong), rel, atol=1e-3)


def test_back_projection_of_a_mirrored_view_is_the_mirrored_pose():
    """flip_context (cx -> -cx) is the camera of the mirrored image: back-projecting the flipped 2D
    with the flipped context gives the flipped pose (what flip augmentation feeds balanced models)."""
    rel, uv, ctx = _camera_scene()
    perm = H36M_17.flip_permutation()
    mirrored = flip_pose(rel, perm)
    out = DGNet._back_project(flip_pose(uv, perm), mirrored[..., 2], flip_context(ctx))
    assert torch.allclose(out, mirrored, atol=1e-5)


def test_oracle_balanced_model_needs_context_and_averages_the_two_estimates():
    model = tiny(balanced_coordinates="oracle").eval()
    assert model.needs_context
    rel, uv, ctx = _camera_scene(t=4)
    with pytest.raises(ValueError):
        model(uv)
    with pytest.raises(ValueError):
        model(uv, ctx[..., :4])
    assert model(uv, ctx).shape == (2, 4, 17, 3)
    with torch.no_grad():  # constant xyz head, depth head 0: the mean of that constant and the
        for head in (model.head, model.depth_head):  # back-projection at the root depth
            head.weight.zero_()
            head.bias.zero_()
        model.head.bias.copy_(torch.tensor([0.2, -0.1, 0.3]))
        out = model(uv, ctx)
    flat = DGNet._back_project(uv, torch.zeros(2, 4, 17), ctx)
    assert torch.allclose(out, (torch.tensor([0.2, -0.1, 0.3]) + flat) / 2, atol=1e-6)
    assert not tiny().needs_context


# ---------------------------------------------------------------- batching

@pytest.mark.parametrize("style", ["dynamical", "precomputed"])
def test_batched_output_equals_per_sample_output(style):
    model = tiny(graph_style=style).eval()
    torch.manual_seed(6)
    x = torch.randn(5, 4, 17, 2)
    with torch.no_grad():
        batched = model(x)
        assert float(batched.std()) > 0.01
        for i in range(5):
            assert torch.allclose(batched[i], model(x[i:i + 1])[0], atol=1e-5)
        # reversing the batch reverses the outputs
        assert torch.allclose(model(x.flip(0)), batched.flip(0), atol=1e-5)


def test_predicted_balanced_coordinates_do_not_read_the_ground_truth_depth():
    """Table XI's balanced coordinates as the paper describes them ('predicted'): the depth of every joint
    is predicted; the root depth of the context (ground truth) changes nothing, in eval or train mode, output
    or gradient. The oracle reads it."""
    rel, uv, ctx = _camera_scene(t=4)
    other = ctx.clone()
    other[..., 4] += 1.5  # another ground-truth root depth
    model = tiny(balanced_coordinates="predicted")
    with torch.no_grad():  # a root-depth head that depends on the input
        torch.nn.init.normal_(model.root_depth_head.weight, std=0.1)
    assert model.needs_context and model.root_depth_head is not None
    for train in (False, True):
        model.train(train)
        outs, grads = [], []
        for c in (ctx, other):
            torch.manual_seed(0)
            loss, pose = model.loss_terms(uv, rel, lambda p, t: torch.norm(p - t, dim=-1).mean(), context=c)
            model.zero_grad()
            loss.backward()
            outs.append(pose.detach())
            grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
        assert torch.equal(outs[0], outs[1]), train
        assert all(torch.equal(a, b) for a, b in zip(*grads)), train
    oracle = tiny(balanced_coordinates="oracle").eval()
    with torch.no_grad():
        assert not torch.allclose(oracle(uv, ctx), oracle(uv, other), atol=1e-4)


def test_predicted_root_depth_starts_at_its_prior_and_is_learnt():
    from bench.models.dgnet import ROOT_DEPTH_INIT

    model = create_model("dgnet", channels=8, blocks=2, balanced_coordinates="predicted")
    feats = torch.randn(2, 4, 17, 16)
    assert torch.allclose(model.predicted_root_depth(feats), torch.full((2, 4, 1), ROOT_DEPTH_INIT))
    oracle = create_model("dgnet", channels=8, blocks=2, balanced_coordinates="oracle")
    assert oracle.root_depth_head is None
    assert n_params(model) == n_params(oracle) + 2 * 8 + 1  # the root-depth head, Linear(16 -> 1)
    rel, uv, ctx = _camera_scene(t=4)
    model.train()
    loss, _ = model.loss_terms(uv, rel, lambda p, t: torch.norm(p - t, dim=-1).mean(), context=ctx)
    loss.backward()
    assert float(model.root_depth_head.bias.grad.abs()) > 0  # the pose loss reaches the root depth


@pytest.mark.parametrize("value,match", [(True, "ambiguous: use 'predicted'"), ("gt", "false, predicted or oracle"),
                                         (1, "false, predicted or oracle")])
def test_balanced_coordinates_values(value, match):
    with pytest.raises(ConfigError, match=match):
        create_model("dgnet", channels=8, blocks=1, balanced_coordinates=value)
    assert not create_model("dgnet", channels=8, blocks=1).needs_context
