"""Attention TCN (bench/models/attention_tcn.py): parameter counts from a per-unit formula, the multi-scale
wiring, the unfolded long-input forward, causality, temporal / kernel attention by hand, switches, errors."""
import math

import pytest
import torch

from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.models.attention_tcn import (AttentionTCN, KernelAttention, StridedUnit, TemporalAttention,
                                        pose_similarity)
from bench.registry import create_model, get_entry

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

J = 17


# ---------------------------------------------------------------- parameter counts from first principles

def unit_params(c_in, c_out, w, groups=1, separable=True):
    """Strided unit: depthwise conv (w taps per channel) + BN + 1x1 conv (c_in/groups inputs per output) + BN,
    or one grouped conv of width w + BN; no biases; BN = weight + bias per channel."""
    if separable:
        return c_in * w + 2 * c_in + c_in // groups * c_out + 2 * c_out
    return c_in // groups * c_out * w + 2 * c_out


def kernel_attention_params(c, w, m, g, r, separable):
    n = m * unit_params(c, c, w, g, separable)
    if m > 1:
        n += (c * r + r) + m * (r * c + c)  # squeeze Linear C -> r, M x Linear r -> C (with biases)
    return n


def model_params(widths, c=1024, m=3, g=8, r=128, attention=True, multiscale=True, ta="cascade",
                 unit_conv="separable", input_unit="separable", layer_bias=False, j_in=J, j_out=J, f=2):
    n_w, rf = len(widths), math.prod(widths)
    lengths = [rf // math.prod(widths[:l + 1]) for l in range(n_w - 1)]
    sep, sep_in = unit_conv == "separable", input_unit == "separable"
    n = unit_params(j_in * f, c, widths[0], 1, sep_in)  # input unit
    for l in range(n_w - 1):  # main layers: kernel attention (or one unit) + 1x1 conv + BN
        w = widths[l + 1]
        n += kernel_attention_params(c, w, m, g, r, sep) if attention else unit_params(c, c, w, g, sep)
        n += c * c + (c if layer_bias else 0) + 2 * c
    if attention:  # one Linear + BN per layer, RF -> L_l (direct) or L_{l-1} -> L_l (cascade)
        sizes_in = [rf] * len(lengths) if ta == "direct" else [rf] + lengths[:-1]
        n += sum(i * o + o + 2 * o for i, o in zip(sizes_in, lengths))
    if multiscale:
        n += sum(unit_params(j_in * f, c, widths[t], 1, sep_in) for t in range(1, n_w - 1))
        n += sum(unit_params(c, c, widths[t]) + c * c + 2 * c
                 for i in range(n_w - 3) for t in range(i + 2, n_w - 1))
    return n + c * 3 * j_out + 3 * j_out  # shrink with bias


def meta_count(**options):
    with torch.device("meta"):  # no memory, no init: counting only
        return count_parameters(create_model("attention_tcn", **options))


PAPER_COUNT = dict(unit_conv="grouped", input_unit="dense", multiscale_dilation=False,
                   temporal_attention="direct", layer_bias=True)


@pytest.mark.parametrize("rf, expected", [(27, 4_112_313), (81, 8_250_815), (243, 14_513_343)])
def test_parameter_counts_of_prototypes(rf, expected):
    widths = (3,) * round(math.log(rf, 3))
    assert model_params(widths) == expected
    assert meta_count(receptive_field=rf) == expected
    assert get_entry("attention_tcn").params[f"receptive_field={rf}"] == expected


def test_official_code_configuration_count():
    """Direct temporal attention = the official class: 14,520,363 (model-specs 2.2) and its breakdown."""
    assert model_params((3,) * 5, ta="direct") == 14_520_363
    assert meta_count(receptive_field=243, temporal_attention="direct") == 14_520_363
    c = 1024
    branches = 3 * (unit_params(c, c, 3) + c * c + 2 * c)
    assert branches == 6_312_960 + 6_144  # "multi-scale dilation branches 6,312,960 (+6,144 BN)"
    assert 4 * unit_params(34, c, 3) == 148_136  # the four input units
    assert sum(243 * o + o + 2 * o for o in (81, 27, 9, 3)) == 29_520  # temporal attention incl. BN


@pytest.mark.parametrize("rf, expected, paper", [(27, 5_688_987, 5.69), (81, 8_456_831, 8.46),
                                                 (243, 11_248_003, 11.25)])
def test_paper_count_reading(rf, expected, paper):
    widths = (3,) * round(math.log(rf, 3))
    assert model_params(widths, ta="direct", unit_conv="grouped", input_unit="dense", multiscale=False,
                        layer_bias=True) == expected
    assert meta_count(receptive_field=rf, **PAPER_COUNT) == expected
    assert get_entry("attention_tcn").params[f"{rf}f_paper_count"] == expected
    assert round(expected / 1e6, 2) == paper


@pytest.mark.parametrize("options, paper", [
    ({"kernel_units": 2}, 9.14), ({"kernel_units": 4}, 13.36), ({"groups": 4}, 15.97), ({"groups": 16}, 8.89),
    ({"reduction": 64}, 10.20), ({"reduction": 256}, 13.35)])
def test_paper_count_reading_reproduces_table2_rows(options, paper):
    assert round(meta_count(receptive_field=243, **PAPER_COUNT, **options) / 1e6, 2) == paper


def test_paper_count_reading_misses_are_as_documented():
    assert round(meta_count(receptive_field=243, **PAPER_COUNT) / 1e6, 2) != 11.22  # Table 1
    assert round(meta_count(receptive_field=243, **PAPER_COUNT, groups=1) / 1e6, 2) == 44.28  # paper 44.25
    assert round(meta_count(receptive_field=75, filter_widths=(3, 5, 5), **PAPER_COUNT) / 1e6, 2) == 7.26


def test_plain_dense_configuration_is_videopose3d_sized():
    opts = dict(attention=False, multiscale_dilation=False, unit_conv="grouped", input_unit="dense", groups=1)
    n = meta_count(receptive_field=243, **opts)
    with torch.device("meta"):
        assert n == 16_952_371 == count_parameters(create_model("videopose3d", receptive_field=243))
    assert n == model_params((3,) * 5, g=1, attention=False, multiscale=False, unit_conv="grouped",
                             input_unit="dense")


@pytest.mark.parametrize("options", [
    {"receptive_field": 75, "filter_widths": (3, 5, 5)}, {"receptive_field": 45, "filter_widths": (3, 5, 3)},
    {"receptive_field": 81, "kernel_units": 1}, {"receptive_field": 81, "attention": False},
    {"receptive_field": 243, "multiscale_dilation": False, "temporal_attention": "direct"},
    {"receptive_field": 9, "channels": 64, "groups": 4, "reduction": 8}])
def test_formula_matches_other_configs(options):
    widths = options.get("filter_widths") or (3,) * round(math.log(options["receptive_field"], 3))
    expected = model_params(widths, c=options.get("channels", 1024), m=options.get("kernel_units", 3),
                            g=options.get("groups", 8), r=options.get("reduction", 128),
                            attention=options.get("attention", True),
                            multiscale=options.get("multiscale_dilation", True),
                            ta=options.get("temporal_attention", "cascade"))
    assert meta_count(**options) == expected


# ---------------------------------------------------------------- wiring

@pytest.mark.parametrize("rf, prototype, inputs, mids", [
    (9, "L3xV1xN9", [], []),
    (27, "L4xV2xN27", [1], []),
    (81, "L5xV3xN81", [1, 2], [(0, 2)]),
    (243, "L6xV4xN243", [1, 2, 3], [(0, 2), (0, 3), (1, 3)]),  # the official x_1_1, x_1_2, x_2_1
])
def test_multiscale_wiring(rf, prototype, inputs, mids):
    with torch.device("meta"):
        model = create_model("attention_tcn", receptive_field=rf)
    assert model.prototype == prototype
    assert model.input_targets == inputs and model.mid_links == mids
    assert len(model.layers) == round(math.log(rf, 3)) - 1
    assert model.lengths == [rf // 3 ** (l + 1) for l in range(len(model.layers))]


def tiny(rf=27, **kw):
    for key, value in dict(channels=16, groups=4, reduction=4).items():
        kw.setdefault(key, value)
    torch.manual_seed(0)
    model = create_model("attention_tcn", receptive_field=rf, **kw)
    g = torch.Generator().manual_seed(1)
    for m in model.modules():  # non-trivial BN statistics so eval-mode comparisons exercise BN
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


@pytest.mark.parametrize("causal, offsets", [(False, 1), (True, 2)])
def test_input_branch_samples_the_documented_frames(causal, offsets):
    model = tiny(27, causal=causal)
    seen = []
    model.input_branches[0].register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    x = torch.randn(2, 27, J, 2)
    with torch.no_grad():
        model(x)
    h = x.permute(0, 2, 3, 1).reshape(2, 2 * J, 27)
    assert torch.equal(seen[0], h[:, :, offsets::3])  # centre (1::3) or last (2::3) frame of each triple


def test_switches_change_the_structure():
    full = tiny(81)
    assert isinstance(full.layers[0].temporal, KernelAttention) and full.temporal_attention is not None
    assert len(full.input_branches) == 2 and len(full.mid_branches) == 1
    no_att = tiny(81, attention=False)
    assert isinstance(no_att.layers[0].temporal, StridedUnit) and no_att.temporal_attention is None
    assert len(no_att.input_branches) == 2 and len(no_att.mid_branches) == 1
    no_dil = tiny(81, multiscale_dilation=False)
    assert len(no_dil.input_branches) == 0 and len(no_dil.mid_branches) == 0
    assert isinstance(no_dil.layers[0].temporal, KernelAttention)
    grouped = tiny(81, unit_conv="grouped", input_unit="dense")
    unit = grouped.layers[0].temporal.units[2]
    assert unit.mix is None and unit.temporal.groups == 4 and unit.temporal.dilation == (3,)
    assert grouped.input_unit.mix is None and grouped.input_unit.temporal.in_channels == 2 * J
    one = tiny(27, kernel_units=1)
    assert len(one.layers[0].temporal.units) == 1 and one.layers[0].temporal.select is None
    assert tiny(27, layer_bias=True).layers[0].conv.bias is not None and full.layers[0].conv.bias is None
    for model in (full, no_att, no_dil, grouped, one):
        assert model(torch.randn(2, 81 if model.receptive_field == 81 else 27, J, 2)).shape[1] == 1


# ---------------------------------------------------------------- shapes and the unfolded forward

@pytest.mark.parametrize("rf, widths", [(27, None), (45, (3, 5, 3)), (75, (3, 5, 5)), (81, None), (243, None)])
def test_output_shapes(rf, widths):
    model = tiny(rf, filter_widths=widths)
    assert model.receptive_field == rf and model.output_mode == "conv" and model.causal_shift == 0
    with torch.no_grad():
        assert model(torch.randn(3, rf, J, 2)).shape == (3, 1, J, 3)
        assert model(torch.randn(2, rf + 4, J, 2)).shape == (2, 5, J, 3)
    assert model.forward_path(rf) == "strided" and model.forward_path(rf + 1) == "windows"


@pytest.mark.parametrize("options", [{"receptive_field": 27}, {"receptive_field": 75, "filter_widths": (3, 5, 5)},
                                     {"receptive_field": 81, "causal": True, "similarity": "ncc"}])
def test_unfolded_forward_equals_per_window_forward(options):
    options = dict(options)
    model = tiny(options.pop("receptive_field"), window_chunk=5, **options)  # 2 x 9 windows, chunks of 5
    # straddle the two batch rows
    rf, extra = model.receptive_field, 8
    x = torch.randn(2, rf + extra, J, 2)
    with torch.no_grad():
        y = model(x)
        ref = torch.stack([torch.cat([model(x[b:b + 1, i:i + rf]) for i in range(extra + 1)], dim=1)[0]
                           for b in range(2)])
    assert y.shape == (2, extra + 1, J, 3)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-6)


def test_causal_model_uses_the_last_frame_as_target():
    model = tiny(27, causal=True)
    assert model.target_frame == 26 and model.causal_shift == 13
    x = torch.randn(1, 40, J, 2)
    x2 = x.clone()
    x2[:, 30] += 1.0  # a frame after the targets of outputs 0..3 (target of output n = frame n + 26)
    with torch.no_grad():
        changed = (model(x2) - model(x)).abs().amax(dim=(0, 2, 3)) > 0
    assert not changed[:4].any() and changed[4:].all()
    centred = tiny(27)
    assert centred.target_frame == 13
    with torch.no_grad():  # the centred model's output 0 (target frame 13) depends on frame 26
        x3 = x[:, :27].clone()
        x3[:, 26] += 1.0
        assert not torch.equal(centred(x[:, :27]), centred(x3))


# ---------------------------------------------------------------- temporal attention by hand

def test_similarity_by_hand():
    poses = torch.zeros(1, 3, 2, 4)  # one window: 3 joints, (x, y), 4 frames; target = frame 1
    base = torch.tensor([[5.0, 5.0], [6.0, 5.0], [5.0, 7.0]])  # root-relative: (1, 0), (0, 2)
    poses[0, :, :, 0] = base
    poses[0, :, :, 1] = base
    poses[0, :, :, 2] = base + 10.0  # translated copy: identical root-relative pose
    poses[0, :, :, 3] = torch.tensor([[0.0, 0.0], [0.0, 1.0], [3.0, 0.0]])  # root-relative (0, 1), (3, 0)
    sim = pose_similarity(poses, target=1, kind="cosine")
    # frame 3 vs target: (0,0,0,1,3,0).(0,0,1,0,0,2) = 0 -> cosine 0
    torch.testing.assert_close(sim, torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    poses[0, :, :, 3] = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])  # root-relative (2, 0), (0, 2)
    expected = (2 * 1 + 2 * 2) / (math.sqrt(8) * math.sqrt(5))
    torch.testing.assert_close(pose_similarity(poses, 1, "cosine")[0, 3], torch.tensor(expected))
    # ncc: the centroid is removed instead of the root; translation-invariant, 1 for identical poses
    ncc = pose_similarity(poses, 1, "ncc")
    torch.testing.assert_close(ncc[0, :3], torch.ones(3))
    c = base - base.mean(0)
    d = poses[0, :, :, 3] - poses[0, :, :, 3].mean(0)
    torch.testing.assert_close(ncc[0, 3], (c * d).sum() / (c.norm() * d.norm()))


@pytest.mark.parametrize("mode", ["direct", "cascade"])
def test_temporal_attention_by_hand(mode):
    torch.manual_seed(0)
    att = TemporalAttention(9, [3, 1], mode).eval()
    for bn in att.bns:
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 1.5)
    sim = torch.rand(4, 9)
    w0, w1 = att(sim)

    def layer(i, v):
        fc, bn = att.maps[i], att.bns[i]
        z = v @ fc.weight.T + fc.bias
        z = (z - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias
        return torch.sigmoid(z)

    torch.testing.assert_close(w0, layer(0, sim))
    torch.testing.assert_close(w1, layer(1, sim if mode == "direct" else layer(0, sim)))
    assert att.maps[1].in_features == (9 if mode == "direct" else 3)
    assert w0.shape == (4, 3) and w1.shape == (4, 1)


def test_temporal_weights_of_the_model_use_the_target_frame():
    model = tiny(27, temporal_attention="direct")
    poses = torch.randn(2, J, 2, 27)
    poses[:, :, :, 5] = poses[:, :, :, 13] + 3.0  # frame 5 = target (13) translated
    sim = pose_similarity(poses, 13)
    assert torch.allclose(sim[:, [5, 13]], torch.ones(2, 2))
    w = model.temporal_weights(poses)
    assert [t.shape for t in w] == [(2, 9), (2, 3)]
    assert all(((t > 0) & (t < 1)).all() for t in w)


# ---------------------------------------------------------------- kernel attention

def test_kernel_attention_weights_sum_to_one_per_channel():
    torch.manual_seed(0)
    ka = KernelAttention(8, kernel=3, units=3, groups=2, reduction=4).eval()
    x = torch.randn(5, 8, 27)
    out, weights = ka(x, return_weights=True)
    assert out.shape == (5, 8, 9) and weights.shape == (5, 3, 8)
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(5, 8))
    feats = torch.stack([torch.nn.functional.mish(u(x)) for u in ka.units], dim=1)
    torch.testing.assert_close(out, (feats * weights.unsqueeze(-1)).sum(dim=1))
    assert [u.pad for u in ka.units] == [0, 1, 2]  # replicate padding (w - 1)(m - 1) / 2


def test_dilated_unit_keeps_the_block_length_and_centre():
    unit = StridedUnit(1, 1, kernel=5, dilation=3, separable=False)  # pad 4 per side
    with torch.no_grad():
        unit.temporal.weight.zero_()
        unit.temporal.weight[0, 0, 2] = 1.0  # centre tap
    x = torch.arange(25.0).reshape(1, 1, 25)
    y = unit.eval()(x)
    bn = unit.bn
    torch.testing.assert_close(y * torch.sqrt(bn.running_var + bn.eps), torch.tensor([[[2.0, 7, 12, 17, 22]]]))
    # the padding replicates the edge frames (same as F.pad(mode="replicate"))
    sep = StridedUnit(4, 6, kernel=3, dilation=3, groups=2).eval()
    x = torch.randn(2, 4, 27)
    ref = sep.bn(sep.mix(sep.temporal_bn(sep.temporal(torch.nn.functional.pad(x, (2, 2), mode="replicate")))))
    torch.testing.assert_close(sep(x), ref)


# ---------------------------------------------------------------- options, errors, asserts

def test_config_errors_name_the_option():
    cases = [({"receptive_field": 28}, "receptive_field=28"),
             ({"receptive_field": 81, "filter_widths": (3, 3, 7)}, "63"),
             ({"receptive_field": 12, "filter_widths": (3, 4)}, "filter_widths"),
             ({"receptive_field": 3, "filter_widths": (3,)}, "filter_widths"),
             ({"receptive_field": 3, "filter_widths": (1, 3)}, "filter_widths"),
             ({"filter_widths": "3,x"}, "filter_widths"),
             ({"groups": 7}, "groups=7"),
             ({"kernel_units": 0}, "kernel_units"),
             ({"reduction": -1}, "reduction"),
             ({"window_chunk": 0}, "window_chunk"),
             ({"temporal_attention": "mlp"}, "temporal_attention"),
             ({"similarity": "l2"}, "similarity"),
             ({"unit_conv": "dense"}, "unit_conv"),
             ({"input_unit": "grouped"}, "input_unit"),
             ({"attention": "yes"}, "attention"),
             ({"dropout": 1.0}, "dropout"),
             ({"channels": 0}, "channels")]
    for options, needle in cases:
        with pytest.raises(ConfigError) as err:
            create_model("attention_tcn", **options)
        msg = str(err.value)
        assert needle in msg and "\n" not in msg, (options, msg)
    with pytest.raises(ConfigError, match="unknown option"):
        create_model("attention_tcn", heads=4)
    model = create_model("attention_tcn", receptive_field=75, filter_widths="3,5,5", channels=8, groups=2,
                         reduction=2)
    assert model.filter_widths == (3, 5, 5) and model.receptive_field == 75


def test_forward_asserts_shapes():
    model = tiny(27)
    for bad in (torch.randn(2, 27, 34), torch.randn(2, 27, 16, 2), torch.randn(2, 27, J, 3),
                torch.randn(2, 26, J, 2)):
        with pytest.raises(AssertionError):
            model(bad)


def test_set_bn_momentum_reaches_every_batchnorm():
    model = tiny(81)
    model.set_bn_momentum(0.01)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(bns) > 20 and all(bn.momentum == 0.01 for bn in bns)


def test_registry_metadata(published):
    entry = get_entry("attention_tcn")
    assert entry.presets["243f"] == {"receptive_field": 243}
    # The published numbers live in results/reported/ (the registry holds none).
    key = {"model.name": "attention_tcn", "model.options.receptive_field": 243, "data.source": "cpn"}
    assert published("attention_tcn", "table9", key) == {"mpjpe": 44.8, "p_mpjpe": 35.6}
    causal = {**key, "model.options.receptive_field": 27, "model.options.causal": True}
    assert published("attention_tcn", "table10", causal) == {"mpjpe": 49.4}
    for paper in ("5.69M", "8.46M", "11.22M"):
        assert paper in entry.notes
    assert isinstance(create_model("attention_tcn", channels=8, groups=2, reduction=2), AttentionTCN)


def test_training_step_decreases_loss():
    model = tiny(27, dropout=0.0).train()
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(16, 27, J, 2, generator=g), torch.randn(16, 1, J, 3, generator=g) * 0.1
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = torch.norm(model(x) - y, dim=-1).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert all(p.grad is not None for n, p in model.named_parameters() if "temporal_attention" in n)


def test_reduction_relative_to_the_channels():
    """reduction='C/k' is r = channels / k (Table 2's r = 64 / 128 / 256 at C = 1024 as C/16, C/8, C/4, which
    keep the squeeze layer a reduction at a shrunk width); other text, or a k not dividing C, is an error
    naming the option."""
    from bench.models.attention_tcn import KernelAttention, reduction_option

    assert [reduction_option(1024, f"C/{k}") for k in (16, 8, 4)] == [64, 128, 256]
    assert reduction_option(32, " C / 8 ") == 4 and reduction_option(32, 128) == 128
    m = create_model("attention_tcn", receptive_field=27, channels=32, reduction="C/8")
    squeezes = [k.squeeze for k in m.modules() if isinstance(k, KernelAttention)]
    assert squeezes and all(s.out_features == 4 for s in squeezes)
    same = create_model("attention_tcn", receptive_field=27, channels=32, reduction=4)
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in same.parameters())
    for bad in ("C/3", "C/0", "r/8", "C*8"):
        with pytest.raises(ConfigError, match="reduction="):
            create_model("attention_tcn", receptive_field=27, channels=32, reduction=bad)
