"""GAST-Net (bench/models/gastnet.py, graph_attention.py): parameter counts by hand, skeleton-derived masks,
the graph operations against their textbook form, the two forward paths, causality, options and errors."""
import math

import pytest
import torch

from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.models.gastnet import ABLATION_PARAMS_27F, GASTNet, resolve_filter_widths
from bench.models.graph_attention import (ChannelwiseGraphConv, GlobalAttention, LocalAttention, connection_mask,
                                          distal_joints, mirror_pairs, symmetry_mask)
from bench.registry import create_model, get_entry
from bench.skeleton import H36M_17, HUMANEVA_15, MPII_16

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

J = 17


# ---------------------------------------------------------------- parameter counts from the layer list

# Non-zeros of the local masks, counted by hand from the skeletons (model-specs.md 3.2 / 5.1 / 6):
# symmetry = self loops + both directions of the 6 mirror pairs; connection = self loops + both directions of
# every bone + one extra (grand-parent) entry for each distal joint (its second-order row has 3 joints).
NNZ = {17: {"symmetry": 17 + 12, "connection": 17 + 2 * 16 + 5},
       15: {"symmetry": 15 + 12, "connection": 15 + 2 * 14 + 4}}


def block_params(c, joints=17, heads=4, symmetry=True, connection=True, bk=True, ck=True):
    """One graph attention block at width C (C -> 2C)."""
    kernels = [k for k, on in (("symmetry", symmetry), ("connection", connection)) if on]
    n = 0
    if kernels:
        n += sum(2 * c * c + c * NNZ[joints][k] for k in kernels)  # W_self, W_nbr; one logit per channel/edge
        n += 2 * c * len(kernels)  # BN after each graph conv
        n += len(kernels) * c * c + 2 * c  # fusion 1x1 conv (no bias) + BN
    if bk or ck:
        n += c * c + c  # g of all heads (C/K channels each, with bias)
        if bk:
            n += 2 * (c * c + c) + heads * 2 * (c // heads)  # theta, phi (with bias); w_f per head
        if ck:
            n += heads * joints * joints  # C_k per head
        n += c * c + 2 * c  # fusion 1x1 conv + BN
    branches = 1 + bool(kernels) + (bk or ck)
    return n + branches * c * 2 * c + 2 * 2 * c  # block fusion conv (no bias) + BN


def model_params(widths, c, joints=17, features=2, **components):
    n = 2 * features + features * c * widths[0] + 2 * c  # input BN, stem conv (no bias), BN
    for i, w in enumerate(widths):
        ci = c * 2 ** i
        n += block_params(ci, joints, **components)
        if i:
            n += w * ci * ci + ci * ci + 4 * ci  # temporal conv + 1x1 conv (no bias) + 2 BN
    return n + c * 2 ** len(widths) * 3  # shrink, no bias


def test_block_formula_matches_the_measured_official_blocks():
    # model-specs.md 3.2: graph blocks of the official 27-frame model (C = 128).
    assert [block_params(c) for c in (128, 256, 512)] == [276_100, 1_075_332, 4_246_660]


@pytest.mark.parametrize("options, widths, c, joints, expected", [
    ({"receptive_field": 9}, (3, 3), 128, 17, 1_617_164),
    ({"receptive_field": 27}, (3, 3, 3), 128, 17, 6_915_984),
    ({"receptive_field": 81}, (3, 3, 3, 3), 64, 17, 7_054_612),
    ({"receptive_field": 243}, (3, 3, 3, 3, 3), 32, 17, 7_091_736),
    ({"receptive_field": 27, "num_joints_in": 15, "num_joints_out": 15}, (3, 3, 3), 128, 15, 6_907_152),
    ({"receptive_field": 27, "channels": 64}, (3, 3, 3), 64, 17, 1_755_792),
])
def test_parameter_counts_of_the_official_configurations(options, widths, c, joints, expected):
    model = create_model("gastnet", **options)
    assert (model.filter_widths, model.channels) == (widths, c)
    assert model_params(widths, c, joints) == expected
    assert count_parameters(model) == expected
    key = ", ".join(f"{k}={v}" for k, v in options.items())
    assert get_entry("gastnet").params[key] == expected


@pytest.mark.parametrize("component, expected, paper", [
    ("local_connection", 5_833_616, "5.83M"), ("local_symmetry", 5_856_016, "5.86M"),
    ("global_bk", 6_224_272, "6.92M"), ("global_ck", 6_912_516, "6.84M")])
def test_parameter_counts_of_the_table4_ablations(component, expected, paper):
    model = create_model("gastnet", receptive_field=27, **{component: False})
    short = {"local_connection": "connection", "local_symmetry": "symmetry", "global_bk": "bk",
             "global_ck": "ck"}[component]
    assert count_parameters(model) == model_params((3, 3, 3), 128, **{short: False}) == expected
    assert ABLATION_PARAMS_27F[f"{component}=False"] == (expected, paper)
    # The two local rows round to the paper's counts; the global rows do not (see the builder notes).
    assert (f"{expected / 1e6:.2f}M" == paper) == component.startswith("local")


@pytest.mark.parametrize("off", [("connection", "symmetry"), ("bk", "ck"), ("connection", "symmetry", "bk", "ck"),
                                 ("symmetry", "ck")])
def test_parameter_counts_of_combined_ablations(off):
    names = {"connection": "local_connection", "symmetry": "local_symmetry", "bk": "global_bk", "ck": "global_ck"}
    model = create_model("gastnet", receptive_field=9, channels=16, **{names[k]: False for k in off})
    assert count_parameters(model) == model_params((3, 3), 16, **{k: False for k in off})


# ---------------------------------------------------------------- masks from the skeleton

def rows(mask):
    return {i: set(mask[i].nonzero().flatten().tolist()) for i in range(mask.shape[0])}


def test_h36m_masks():
    assert distal_joints(H36M_17) == [3, 6, 10, 13, 16]
    con = rows(connection_mask(H36M_17))
    assert con[3] == {1, 2, 3} and con[10] == {8, 9, 10} and con[13] == {11, 12, 13}
    assert con[8] == {7, 8, 9, 11, 14} and con[0] == {0, 1, 4, 7} and con[2] == {1, 2, 3}
    assert sum(map(len, con.values())) == NNZ[17]["connection"]
    assert connection_mask(H36M_17).equal(connection_mask(H36M_17).t()) is False  # distal rows are one-sided
    sym = rows(symmetry_mask(H36M_17))
    assert mirror_pairs(H36M_17) == [(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)]
    assert sym[3] == {3, 6} and sym[6] == {3, 6} and sym[11] == {11, 14} and sym[0] == {0} and sym[10] == {10}
    assert sum(map(len, sym.values())) == NNZ[17]["symmetry"]


def test_humaneva_masks():
    # Official lists: distal [4, 7, 10, 13], left [2, 3, 4, 8, 9, 10], right [5, 6, 7, 11, 12, 13]. The
    # neck/nose (14) is a leaf on the thorax, not the end of a chain, and keeps its first-order row.
    assert distal_joints(HUMANEVA_15) == [4, 7, 10, 13]
    assert [l for l, _ in mirror_pairs(HUMANEVA_15)] == [2, 3, 4, 8, 9, 10]
    assert [r for _, r in mirror_pairs(HUMANEVA_15)] == [5, 6, 7, 11, 12, 13]
    con = rows(connection_mask(HUMANEVA_15))
    assert con[4] == {2, 3, 4} and con[13] == {11, 12, 13} and con[14] == {1, 14} and con[1] == {0, 1, 2, 5, 14}
    assert sum(map(len, con.values())) == NNZ[15]["connection"]
    assert sum(map(len, rows(symmetry_mask(HUMANEVA_15)).values())) == NNZ[15]["symmetry"]


def test_mpii_distal_joints_follow_the_same_rule():
    assert distal_joints(MPII_16) == [0, 5, 9, 10, 15]  # ankles, head top, wrists


def test_model_uses_the_skeleton_masks():
    model = create_model("gastnet", receptive_field=9, channels=8)
    sym, con = model.graph_blocks[1].local.gcns
    assert sym.mask.equal(symmetry_mask(H36M_17)) and con.mask.equal(connection_mask(H36M_17))
    assert (sym.num_edges, con.num_edges) == (29, 54)


# ---------------------------------------------------------------- graph operations vs their plain form

def test_channelwise_graph_conv_matches_dense_equation():
    """Eq. 2 written densely: per output channel c, softmax over the masked row, diagonal on x W_self,
    off-diagonal on x W_nbr."""
    torch.manual_seed(0)
    local = LocalAttention(8, H36M_17)
    with torch.no_grad():
        for g in local.gcns:
            g.logits.normal_()
    x = torch.randn(2, 3, J, 8)
    out = local.graph_convs(x)
    eye = torch.eye(J)
    refs = []
    for g in local.gcns:
        logits = torch.full((8, J, J), float("-inf"))
        r, c = g.mask.nonzero(as_tuple=True)
        logits[:, r, c] = g.logits
        a = torch.softmax(logits, dim=-1)
        assert torch.allclose(a.sum(-1), torch.ones(8, J)) and (a[:, ~g.mask] == 0).all()
        h0, h1 = x @ g.weight[0], x @ g.weight[1]
        refs.append(torch.einsum("cij,btjc->btic", a * eye, h0) + torch.einsum("cij,btjc->btic", a * (1 - eye), h1))
    torch.testing.assert_close(out, torch.cat(refs, dim=-1), atol=1e-5, rtol=1e-5)


def test_graph_conv_init():
    g = ChannelwiseGraphConv(8, 12, connection_mask(H36M_17))
    assert g.weight.shape == (2, 8, 12) and g.logits.shape == (12, 54) and (g.logits == 1).all()
    bound = 1.414 * math.sqrt(6.0 / (8 * 12 + 2 * 12))  # Xavier fans of a (2, in, out) tensor
    assert g.weight.abs().max() <= bound
    # Logits all equal: uniform weights over each row's allowed joints.
    a = g.edge_weights()
    torch.testing.assert_close(a[0, 8, [7, 8, 9, 11, 14]], torch.full((5,), 0.2))


def test_global_attention_matches_concatenation_form():
    """B_k = softmax_j LeakyReLU(w_f [theta_k(x_i) || phi_k(x_j)]) + C_k, computed the long way."""
    torch.manual_seed(0)
    c, k = 16, 4
    d = c // k
    glob = GlobalAttention(c, J, heads=k)
    with torch.no_grad():
        glob.adaptive.normal_()
        for lin in (glob.theta, glob.phi):
            lin.bias.normal_()
    x = torch.randn(5, J, c)
    theta = (x @ glob.theta.weight.t() + glob.theta.bias).view(5, J, k, d)
    phi = (x @ glob.phi.weight.t() + glob.phi.bias).view(5, J, k, d)
    pair = torch.cat([theta[:, :, None].expand(-1, -1, J, -1, -1), phi[:, None].expand(-1, J, -1, -1, -1)], -1)
    f = torch.einsum("nijkd,kd->nkij", pair, glob.score)
    ref = torch.softmax(torch.nn.functional.leaky_relu(f, 0.2), dim=-1) + glob.adaptive
    torch.testing.assert_close(glob.attention(x), ref, atol=1e-5, rtol=1e-5)


def test_ck_is_zero_initialised_and_heads_split_channels():
    model = create_model("gastnet", receptive_field=9, channels=16, heads=2)
    for c, block in zip((16, 32), model.graph_blocks):
        glob = block.glob
        assert glob.adaptive.shape == (2, J, J) and (glob.adaptive == 0).all()
        assert glob.head_channels == c // 2 and glob.score.shape == (2, c)
        assert (glob.g.bias == 0).all() and (glob.theta.bias == 0).all()


def test_disabled_components_are_not_built():
    model = create_model("gastnet", receptive_field=9, channels=8, local_symmetry=False, global_bk=False)
    block = model.graph_blocks[0]
    assert block.local.kernels == ("connection",) and block.local.fuse.in_channels == 8
    assert not hasattr(block.glob, "theta") and not hasattr(block.glob, "score")
    assert block.fuse.in_channels == 3 * 8
    bare = create_model("gastnet", receptive_field=9, channels=8, local_symmetry=False, local_connection=False,
                        global_bk=False, global_ck=False)
    assert bare.graph_blocks[0].local is None and bare.graph_blocks[0].glob is None
    assert bare.graph_blocks[0].fuse.in_channels == 8


def test_without_any_graph_component_joints_stay_independent():
    model = small(9, local_symmetry=False, local_connection=False, global_bk=False, global_ck=False)
    x = torch.randn(2, 9, J, 2)
    y = x.clone()
    y[:, :, 5] += 1.0
    with torch.no_grad():
        diff = (model(x) - model(y)).abs().sum(dim=(0, 1, 3))
    assert diff[5] > 0 and (diff[torch.arange(J) != 5] == 0).all()
    full = small(9)
    with torch.no_grad():
        diff = (full(x) - full(y)).abs().sum(dim=(0, 1, 3))
    assert (diff > 0).all()  # graph attention mixes every joint


# ---------------------------------------------------------------- forward paths

def randomise(model, seed=0):
    """Non-trivial BN statistics, logits and C_k so eval-mode comparisons exercise every part."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
        for name, p in model.named_parameters():
            if name.endswith(("logits", "adaptive")):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def small(rf=27, **kw):
    kw.setdefault("channels", 8)
    torch.manual_seed(0)
    return randomise(create_model("gastnet", receptive_field=rf, **kw)).eval()


@pytest.mark.parametrize("rf, opts", [(27, {}), (27, {"causal": True}), (81, {}), (9, {"causal": True}),
                                      (45, {"filter_widths": (3, 5, 3)}), (27, {"global_bk": False}),
                                      (27, {"local_connection": False, "global_ck": False}),
                                      (27, {"num_joints_in": 15, "num_joints_out": 15})])
def test_strided_equals_dilated(rf, opts):
    model = small(rf, **opts)
    joints = model.num_joints_in
    x = torch.randn(3, rf, joints, 2)
    with torch.no_grad():
        model.variant = "dilated"
        dilated = model(x)
        model.variant = "strided"
        strided = model(x)
        model.variant = "auto"
        auto = model(x)
    assert model.forward_path(rf) == "strided" and model.forward_path(rf + 1) == "dilated"
    assert dilated.shape == strided.shape == (3, 1, joints, 3)
    torch.testing.assert_close(strided, dilated, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(auto, strided, atol=0, rtol=0)


@pytest.mark.parametrize("causal", [False, True])
def test_whole_sequence_equals_sliding_windows(causal):
    model = small(9, causal=causal)
    x = torch.randn(2, 9 + 6, J, 2)
    with torch.no_grad():
        seq = model(x)
        windows = torch.cat([model(x[:, t:t + 9]) for t in range(7)], dim=1)
    assert seq.shape == (2, 7, J, 3)
    torch.testing.assert_close(seq, windows, atol=1e-5, rtol=1e-5)


def test_causal_output_depends_only_on_past_frames():
    """Engine alignment (pad pad + causal_shift in front, pad - causal_shift after): the output of frame t
    must not change when a later frame changes, and must change when frame t does."""
    model = small(9, causal=True)
    assert model.causal_shift == 4
    front, back = 4 + model.causal_shift, 4 - model.causal_shift
    n, k = 12, 7
    poses = torch.randn(1, n, J, 2)

    def run(p):
        padded = torch.cat([p[:, :1].expand(-1, front, -1, -1), p, p[:, -1:].expand(-1, back, -1, -1)], 1)
        with torch.no_grad():
            return model(padded)

    base = run(poses)
    assert base.shape[1] == n
    perturbed = poses.clone()
    perturbed[:, k] += 1.0
    out = run(perturbed)
    torch.testing.assert_close(out[:, :k], base[:, :k], atol=0, rtol=0)
    assert (out[:, k] - base[:, k]).abs().max() > 1e-4


@pytest.mark.parametrize("causal", [False, True])
def test_residual_crop_alignment(causal):
    """With the blocks' temporal convs zeroed, each output frame only sees the stem's window (graph blocks
    work per frame): the centre 3 frames, or the last 3 when causal."""
    model = small(27, causal=causal)
    with torch.no_grad():
        for conv in model.layers_conv[::2]:
            conv.weight.zero_()
    x = torch.randn(1, 27, J, 2, requires_grad=True)
    model(x).sum().backward()
    touched = (x.grad.abs().sum(dim=(0, 2, 3)) > 0).nonzero().flatten().tolist()
    assert touched == ([24, 25, 26] if causal else [12, 13, 14])


@pytest.mark.parametrize("t", [9, 10, 16])
def test_output_shapes(t):
    model = small(9)
    with torch.no_grad():
        assert model(torch.randn(2, t, J, 2)).shape == (2, t - 8, J, 3)
    he = small(9, num_joints_in=15, num_joints_out=15)
    with torch.no_grad():
        assert he(torch.randn(2, t, 15, 2)).shape == (2, t - 8, 15, 3)


def test_shape_checks():
    model = small(9)
    with pytest.raises(AssertionError, match="receptive field"):
        model(torch.randn(1, 8, J, 2))
    with pytest.raises(AssertionError, match="joints"):
        model(torch.randn(1, 9, 15, 2))
    with pytest.raises(AssertionError, match="features"):
        model(torch.randn(1, 9, J, 3))
    with pytest.raises(AssertionError, match=r"\(batch, frames"):
        model(torch.randn(9, J, 2))
    model.variant = "strided"
    with pytest.raises(AssertionError, match="exactly 9"):
        model(torch.randn(1, 11, J, 2))


# ---------------------------------------------------------------- training

def test_training_step_decreases_loss_and_reaches_every_parameter():
    torch.manual_seed(0)
    model = create_model("gastnet", receptive_field=9, channels=8, dropout=0.0).train()
    x, target = torch.randn(8, 9, J, 2), torch.randn(8, 1, J, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    losses = []
    for step in range(6):
        opt.zero_grad()
        loss = (model(x) - target).norm(dim=-1).mean()
        loss.backward()
        if step == 0:
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
            assert all(p.grad.abs().sum() > 0 for n, p in model.named_parameters() if "adaptive" in n)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_training_on_sequences_uses_the_dilated_path():
    model = create_model("gastnet", receptive_field=9, channels=8, global_bk=False).train()
    x = torch.randn(2, 12, J, 2)
    assert model.forward_path(12) == "dilated"
    model(x).square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# ---------------------------------------------------------------- options, errors, registry

@pytest.mark.parametrize("rf, widths", [(9, (3, 3)), (27, (3, 3, 3)), (81, (3, 3, 3, 3)),
                                        (243, (3, 3, 3, 3, 3)), (3, (3,))])
def test_receptive_field_presets(rf, widths):
    assert resolve_filter_widths(rf, None) == widths


@pytest.mark.parametrize("opts, match", [
    ({"receptive_field": 10}, "receptive_field=10"),
    ({"receptive_field": 27, "filter_widths": (3, 3, 5)}, "45"),
    ({"receptive_field": 12, "filter_widths": (3, 4)}, "odd"),
    ({"receptive_field": 27, "filter_widths": "3,x"}, "filter_widths"),
    ({"channels": 10, "heads": 4}, "heads=4"),
    ({"heads": 0}, "heads"),
    ({"channels": 0}, "channels"),
    ({"num_joints_out": 15}, "num_joints_out"),
    ({"num_joints_in": 13, "num_joints_out": 13}, "13"),
    ({"variant": "fast"}, "variant"),
    ({"dropout": 1.0}, "dropout"),
    ({"local_symmetry": "false"}, "local_symmetry"),
    ({"in_features": 2.5}, "in_features"),
])
def test_bad_options_are_one_line_config_errors(opts, match):
    with pytest.raises(ConfigError, match=match) as err:
        create_model("gastnet", **opts)
    assert "\n" not in str(err.value) and str(err.value).startswith("gastnet:")


def test_preset_channels_and_explicit_widths():
    assert [create_model("gastnet", receptive_field=rf, channels=None).channels
            for rf in (9, 27)] == [128, 128]
    model = create_model("gastnet", receptive_field=45, filter_widths="3,5,3", channels=8)
    assert model.filter_widths == (3, 5, 3) and model.receptive_field == 45 and model.pads == [6, 15]


def test_contract_attributes():
    model = create_model("gastnet", receptive_field=27, channels=8)
    assert (model.receptive_field, model.causal_shift, model.output_mode) == (27, 0, "conv")
    assert (model.num_joints_in, model.num_joints_out, model.in_features) == (17, 17, 2)
    assert create_model("gastnet", receptive_field=27, channels=8, causal=True).causal_shift == 13
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert all(m.momentum == 0.1 for m in bns)
    model.set_bn_momentum(0.01)
    assert all(m.momentum == 0.01 for m in bns)
    assert model.expand_conv.bias is None and model.shrink.bias is None and model.shrink.out_channels == 3
    assert all(c.bias is None for c in model.layers_conv)
    assert [c.dilation[0] for c in model.layers_conv[::2]] == [3, 9] and model.pads == [3, 9]
    assert [b.channels for b in model.graph_blocks] == [8, 16, 32] and model.shrink.in_channels == 64


def test_registry_metadata(published):
    entry = get_entry("gastnet")
    assert "Liu" in entry.citation and "GAST-Net" in entry.citation
    # The published numbers live in results/reported/gastnet.yaml (the registry holds none).
    cpn = {"model.name": "gastnet", "data.source": "cpn", "action": "Average"}
    t1 = [published("gastnet", "table1", {**cpn, "model.options.receptive_field": rf}) for rf in (9, 27, 81)]
    assert t1 == [{"mpjpe": 49.0, "p_mpjpe": 37.4}, {"mpjpe": 46.2, "p_mpjpe": 36.0},
                  {"mpjpe": 45.7, "p_mpjpe": 35.9}]
    t2 = {"model.name": "gastnet", "model.options.receptive_field": 81}
    assert published("gastnet", "table2", {**t2, "data.source": "gt"}) == \
        {"mpjpe": 32.5, "p_mpjpe": 24.5, "params": 7_050_000}
    assert published("gastnet", "table2", {**t2, "data.source": "sh"}) == {"mpjpe": 51.9, "p_mpjpe": 40.3}
    assert published("gastnet", "table3", {"model.name": "gastnet", "action": "Average"}) == {"p_mpjpe": 21.2}
    assert entry.defaults["dropout"] == 0.05 and entry.defaults["heads"] == 4
    for name in ("local_connection", "local_symmetry", "global_bk", "global_ck", "variant", "channels"):
        assert name in entry.doc
    for preset in entry.presets.values():
        assert math.prod(resolve_filter_widths(preset["receptive_field"], preset.get("filter_widths"))) \
            == preset["receptive_field"]
    assert isinstance(create_model("gastnet", **entry.presets["humaneva_27f"]), GASTNet)
