"""VideoPose3D temporal ConvNet: parameter counts, the two forward paths, causality, options, errors."""
import math

import pytest
import torch

from baselines.videopose3d import VideoPose3D, resolve_filter_widths
from bench.errors import ConfigError
from bench.flops import count_parameters, flops_per_frame
from bench.registry import create_model, get_entry

J = 17


def closed_form_params(widths, j_in=17, j_out=17, c=1024, features=2):
    """Expand conv (no bias) + BN, per block a temporal and a 1x1 conv (no bias) + 2 BN, shrink with bias."""
    n = j_in * features * widths[0] * c + 2 * c
    n += sum(w * c * c + c * c + 4 * c for w in widths[1:])
    return n + c * 3 * j_out + 3 * j_out


def randomise_bn(model, seed=0):
    """Non-trivial BN statistics and affine parameters, so eval-mode comparisons exercise BN."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def small(rf=27, **kw):
    kw.setdefault("channels", 32)
    torch.manual_seed(0)
    return randomise_bn(create_model("videopose3d", receptive_field=rf, **kw)).eval()


@pytest.mark.parametrize("rf, expected", [(27, 8_555_571), (81, 12_753_971), (243, 16_952_371)])
def test_parameter_counts_of_presets(rf, expected):
    model = create_model("videopose3d", receptive_field=rf)
    assert count_parameters(model) == expected
    assert count_parameters(model) == closed_form_params(model.filter_widths)
    assert get_entry("videopose3d").params[f"receptive_field={rf}"] == expected


def test_parameter_counts_of_other_configs():
    assert count_parameters(create_model("videopose3d", receptive_field=63, filter_widths=(3, 3, 7))) \
        == 12_749_875
    assert count_parameters(create_model("videopose3d", receptive_field=27, num_joints_in=15,
                                         num_joints_out=15)) == 8_537_133
    assert count_parameters(create_model("videopose3d", receptive_field=27, num_joints_out=15)) == 8_549_421


@pytest.mark.parametrize("rf, widths", [(27, (3, 3, 3)), (81, (3, 3, 3, 3)), (243, (3, 3, 3, 3, 3)),
                                        (9, (3, 3)), (729, (3,) * 6)])
def test_receptive_field_presets(rf, widths):
    assert resolve_filter_widths(rf, None) == widths


def test_invalid_receptive_field_is_one_line_config_error():
    with pytest.raises(ConfigError) as err:
        create_model("videopose3d", receptive_field=28)
    msg = str(err.value)
    assert "\n" not in msg and "receptive_field=28" in msg
    for valid in ("27", "81", "243"):
        assert valid in msg


def test_filter_widths_must_match_receptive_field():
    with pytest.raises(ConfigError, match="63"):
        create_model("videopose3d", receptive_field=81, filter_widths=(3, 3, 7))
    model = create_model("videopose3d", receptive_field=63, filter_widths="3,3,7", channels=8)
    assert model.filter_widths == (3, 3, 7) and model.receptive_field == 63
    for bad in ((3, 4), (), "3,x"):
        with pytest.raises(ConfigError):
            create_model("videopose3d", receptive_field=12, filter_widths=bad)


@pytest.mark.parametrize("opts", [dict(variant="fast"), dict(dense=True, variant="strided"),
                                  dict(channels=0), dict(dropout=1.0)])
def test_bad_options(opts):
    with pytest.raises(ConfigError):
        create_model("videopose3d", receptive_field=27, **opts)


def test_contract_attributes():
    model = create_model("videopose3d", receptive_field=27, channels=16)
    assert (model.receptive_field, model.causal_shift, model.output_mode) == (27, 0, "conv")
    assert (model.num_joints_in, model.num_joints_out, model.in_features) == (17, 17, 2)
    causal = create_model("videopose3d", receptive_field=243, causal=True, channels=16)
    assert causal.causal_shift == 121
    model.set_bn_momentum(0.05)
    assert all(m.momentum == 0.05 for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    # VideoPose3D's layer list: no-bias convs, BN momentum 0.1 at start, shrink with bias.
    fresh = create_model("videopose3d", receptive_field=27, channels=16)
    assert all(c.bias is None for c in fresh.layers_conv) and fresh.expand_conv.bias is None
    assert fresh.shrink.bias is not None
    assert all(m.momentum == 0.1 for m in fresh.modules() if isinstance(m, torch.nn.BatchNorm1d))
    assert [c.dilation[0] for c in fresh.layers_conv[::2]] == [3, 9] and fresh.pads == [3, 9]


@pytest.mark.parametrize("t", [27, 28, 40])
def test_output_shapes(t):
    model = small(27, num_joints_out=15)
    with torch.no_grad():
        out = model(torch.randn(3, t, J, 2))
    assert out.shape == (3, t - 27 + 1, 15, 3)


def test_shape_checks():
    model = small(27)
    with pytest.raises(AssertionError, match="receptive field"):
        model(torch.randn(1, 26, J, 2))
    with pytest.raises(AssertionError, match="joints"):
        model(torch.randn(1, 27, 16, 2))
    with pytest.raises(AssertionError, match="features"):
        model(torch.randn(1, 27, J, 3))
    with pytest.raises(AssertionError, match=r"\(batch, frames"):
        model(torch.randn(27, J, 2))
    strided = small(27, variant="strided")
    with pytest.raises(AssertionError, match="exactly 27"):
        strided(torch.randn(1, 29, J, 2))


@pytest.mark.parametrize("rf, widths, causal", [(27, None, False), (81, None, False), (27, None, True),
                                                (81, None, True), (63, (3, 3, 7), False),
                                                (63, (3, 3, 7), True)])
def test_strided_equals_dilated(rf, widths, causal):
    model = small(rf, filter_widths=widths, causal=causal)
    x = torch.randn(4, rf, J, 2)
    with torch.no_grad():
        model.variant = "dilated"
        dilated = model(x)
        model.variant = "strided"
        strided = model(x)
        model.variant = "auto"
        auto = model(x)
    assert model.forward_path(rf) == "strided" and model.forward_path(rf + 1) == "dilated"
    assert dilated.shape == strided.shape == (4, 1, J, 3)
    torch.testing.assert_close(strided, dilated, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(auto, strided, atol=0, rtol=0)


def test_strided_equals_dilated_full_size_243():
    torch.manual_seed(0)
    model = randomise_bn(create_model("videopose3d", receptive_field=243)).eval()
    x = torch.randn(2, 243, J, 2)
    with torch.no_grad():
        strided = model(x)
        model.variant = "dilated"
        dilated = model(x)
    torch.testing.assert_close(strided, dilated, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_whole_sequence_equals_sliding_windows(causal):
    model = small(27, causal=causal)
    x = torch.randn(2, 27 + 5, J, 2)
    with torch.no_grad():
        seq = model(x)
        windows = torch.cat([model(x[:, t:t + 27]) for t in range(6)], dim=1)
    torch.testing.assert_close(seq, windows, atol=1e-5, rtol=1e-5)


def test_causal_output_depends_only_on_past_frames():
    """Engine alignment: pad pad + causal_shift frames in front, pad - causal_shift after; the output for
    frame t must not change when a later frame is perturbed, and must change when frame t is."""
    model = small(27, causal=True)
    pad = (model.receptive_field - 1) // 2
    front, back = pad + model.causal_shift, pad - model.causal_shift
    assert (front, back) == (26, 0)
    n, k = 20, 12
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
    """With the blocks' temporal convs zeroed, a block only adds a constant to its cropped residual, so an
    output frame sees just the expand conv's window: the centre 3 frames (non-causal) or the last 3 (causal)."""
    model = small(27, causal=causal)
    with torch.no_grad():
        for conv in model.layers_conv[::2]:
            conv.weight.zero_()
    x = torch.randn(1, 27, J, 2, requires_grad=True)
    model(x).sum().backward()
    touched = (x.grad.abs().sum(dim=(0, 2, 3)) > 0).nonzero().flatten().tolist()
    assert touched == ([24, 25, 26] if causal else [12, 13, 14])


def test_dense_option():
    dense = create_model("videopose3d", receptive_field=27, dense=True, channels=16)
    assert [c.kernel_size[0] for c in dense.layers_conv[::2]] == [7, 19]
    assert all(c.dilation[0] == 1 for c in dense.layers_conv)
    assert dense.forward_path(27) == "dilated"
    sparse = create_model("videopose3d", receptive_field=27, channels=16)
    assert count_parameters(dense) > count_parameters(sparse)
    with torch.no_grad():
        assert dense.eval()(torch.randn(2, 30, J, 2)).shape == (2, 4, J, 3)


@pytest.mark.parametrize("t", [27, 31])
def test_training_backward(t):
    model = create_model("videopose3d", receptive_field=27, channels=16).train()
    x = torch.randn(4, t, J, 2, requires_grad=True)
    model(x).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_flops_match_closed_form():
    c = 32
    model = create_model("videopose3d", receptive_field=27, channels=c)
    # Strided, one 27-frame window: expand gives 9 frames, block 1 gives 3, block 2 gives 1.
    macs = 34 * c * 3 * 9 + (3 * c * c + c * c) * (3 + 1) + c * 51
    assert flops_per_frame(model, (1, 27, J, 2)) == 2 * macs
    # Dilated, one 27-frame window: 25 frames after the expand conv, 19 after block 1, 1 after block 2.
    model.variant = "dilated"
    macs = 34 * c * 3 * 25 + (3 * c * c + c * c) * (19 + 1) + c * 51
    assert flops_per_frame(model, (1, 27, J, 2)) == 2 * macs


@pytest.mark.slow
def test_strided_is_faster_than_dilated():
    import time
    torch.set_num_threads(2)
    model = create_model("videopose3d", receptive_field=243).eval()
    x = torch.randn(16, 243, J, 2)

    def best(variant):
        model.variant = variant
        times = []
        with torch.inference_mode():
            model(x)
            for _ in range(3):
                t0 = time.perf_counter()
                model(x)
                times.append(time.perf_counter() - t0)
        return min(times)

    assert best("strided") * 4 < best("dilated")


def test_registry_metadata(published):
    entry = get_entry("videopose3d")
    assert "Pavllo" in entry.citation and "CVPR 2019" in entry.citation
    # The published numbers live in results/reported/ (the registry holds none).
    vp3d = {"model.name": "videopose3d", "model.options.receptive_field": 243}
    assert published("attention_tcn", "table9", {**vp3d, "data.source": "cpn"}) == {"mpjpe": 46.8, "p_mpjpe": 36.5}
    assert published("gastnet", "table2", {**vp3d, "data.source": "gt"}) == \
        {"mpjpe": 37.2, "p_mpjpe": 27.2, "params": 16_950_000}
    assert [published("attention_tcn", "table1", {**vp3d, "model.options.receptive_field": rf})["mpjpe"]
            for rf in (27, 81, 243)] == [40.6, 38.7, 37.8]
    for preset in entry.presets.values():
        assert math.prod(resolve_filter_widths(preset["receptive_field"], preset.get("filter_widths"))) \
            == preset["receptive_field"]
    assert isinstance(create_model("videopose3d", receptive_field=27, channels=8), VideoPose3D)
