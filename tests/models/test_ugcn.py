"""UGCN (bench/models/ugcn.py): parameter count from first principles, the U's temporal lengths, the
long-range reach the downsampling buys, the options of Tables 3 and 4, and clear option errors."""
import pytest
import torch

from bench.errors import ConfigError
from bench.models.ugcn import UGCN, upsample
from bench.registry import create_model, get_entry

pytestmark = pytest.mark.usefixtures("one_thread")

V, K, KT = 17, 3, 5  # joints, partition subsets, temporal kernel


def block_params(cin: int, cout: int, stride: int = 1, residual: bool = True, k: int = K) -> int:
    gcn = cin * cout * k + cout * k
    tcn = 2 * cout + cout * cout * KT + cout + 2 * cout  # BN, conv, BN
    res = 0
    if residual and (cin != cout or stride != 1):
        res = cin * cout + cout + 2 * cout
    return gcn + tcn + res


def ugcn_params(c, m=64, pairs=4, merge="sum", k=K) -> int:
    total = 2 * (2 * V)  # input BN
    total += block_params(2, c[0], residual=False, k=k)
    for level in range(1, 5):
        total += block_params(c[level - 1], c[level], 2 if level <= pairs else 1, k=k)
        total += block_params(c[level], c[level], k=k)
    for level in range(4):
        total += block_params(c[level + 1], c[level], k=k)
    if merge == "sum":
        total += sum(c[level] * m + m + 2 * m for level in range(4))
        head = m
    elif merge == "concat":
        total += sum(c[:4]) * m + m + 2 * m
        head = m
    else:
        head = c[0]
    total += head * head * k + head * k + 2 * head + head * 3 * KT + 3
    return total


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_default_parameter_count_to_the_unit():
    model = create_model("ugcn")
    assert n_params(model) == ugcn_params([64, 128, 256, 256, 256]) == 4_875_911
    assert get_entry("ugcn").params["frames=96"] == 4_875_911


@pytest.mark.parametrize("opts,expected", [
    ({"down_up_pairs": 0}, ugcn_params([64, 128, 256, 256, 256], pairs=0)),
    ({"merge": "none"}, ugcn_params([64, 128, 256, 256, 256], merge="none")),
    ({"merge": "concat", "merge_channels": 32}, ugcn_params([64, 128, 256, 256, 256], m=32, merge="concat")),
    ({"spatial_graph": False}, ugcn_params([64, 128, 256, 256, 256], k=1)),
    ({"widths": [8, 16, 16, 32, 32], "merge_channels": 8}, ugcn_params([8, 16, 16, 32, 32], m=8)),
])
def test_option_parameter_counts(opts, expected):
    assert n_params(create_model("ugcn", **opts)) == expected


def tiny(**over) -> UGCN:
    opts = {"widths": [4, 4, 8, 8, 8], "merge_channels": 4, "dropout": 0.0}
    opts.update(over)
    torch.manual_seed(0)
    return create_model("ugcn", **opts).eval()


def lengths_of_down_blocks(model, t=96):
    seen = []
    hooks = [b.register_forward_hook(lambda m, i, o: seen.append(o.shape[2])) for b in model.down]
    model(torch.randn(1, t, V, 2))
    for h in hooks:
        h.remove()
    return seen


@pytest.mark.parametrize("pairs,expected", [
    (4, [96, 48, 48, 24, 24, 12, 12, 6, 6]),
    (2, [96, 48, 48, 24, 24, 24, 24, 24, 24]),
    (0, [96] * 9),
])
def test_downsampling_stage_lengths(pairs, expected):
    assert lengths_of_down_blocks(tiny(down_up_pairs=pairs)) == expected


def test_sequence_to_sequence_contract():
    model = tiny()
    assert model.output_mode == "seq2seq" and model.receptive_field == 96 and model.eval_step == 5
    assert model(torch.randn(3, 96, V, 2)).shape == (3, 96, V, 3)
    assert model(torch.randn(1, 32, V, 2)).shape == (1, 32, V, 3)  # any multiple of 16 works
    with pytest.raises(ValueError, match="multiple of 16"):
        model(torch.randn(1, 40, V, 2))
    with pytest.raises(ValueError, match=r"\(B, T, 17, 2\)"):
        model(torch.randn(1, 96, 16, 2))


def reach(model, t=96) -> bool:
    """Does the output at frame 0 depend on the input at the last frame?"""
    x = torch.randn(1, t, V, 2, requires_grad=True)
    model(x)[0, 0].sum().backward()
    return bool(x.grad[0, -1].abs().sum() > 0)


def test_downsampling_buys_long_range_reach():
    # 14 stride-1 blocks of kernel 5 plus the regressor see +-30 frames: frame 0 cannot see frame 95.
    assert not reach(tiny(down_up_pairs=0))
    assert reach(tiny(down_up_pairs=4))


def test_outputs_depend_on_every_stage_option():
    x = torch.randn(2, 96, V, 2)
    base = tiny()(x)
    for over in ({"merge": "none"}, {"merge": "concat"}, {"spatial_graph": False}, {"down_up_pairs": 1}):
        assert not torch.allclose(tiny(**over)(x), base), over


def test_samples_are_independent_in_eval():
    model = tiny()
    x = torch.randn(2, 96, V, 2)
    torch.testing.assert_close(model(x)[:1], model(x[:1]), rtol=1e-4, atol=1e-5)


def test_upsample_is_nearest_repetition():
    x = torch.arange(3.0).view(1, 1, 3, 1)
    assert upsample(x, 2).flatten().tolist() == [0, 0, 1, 1, 2, 2]
    assert upsample(x, 1) is x


@pytest.mark.parametrize("opts,match", [
    ({"down_up_pairs": 5}, "down_up_pairs must be an integer 0..4"),
    ({"frames": 90}, "multiple of 2\\^down_up_pairs = 16"),
    ({"widths": [64, 128, 256]}, "widths must be 5 positive integers"),
    ({"merge": "average"}, "unknown merge 'average'"),
    ({"temporal_kernel": 4}, "odd positive integer"),
    ({"num_joints_in": 15, "num_joints_out": 17}, "num_joints_out must equal"),
    ({"num_joints_in": 13, "num_joints_out": 13}, "no skeleton graph for 13"),
    ({"dropout": 1.0}, "dropout must be in"),
])
def test_bad_options_are_config_errors(opts, match):
    with pytest.raises(ConfigError, match=match):
        create_model("ugcn", **opts)


def test_humaneva_and_mpii_skeletons_build():
    for j in (15, 16):
        m = create_model("ugcn", num_joints_in=j, num_joints_out=j, widths=[4, 4, 4, 4, 4], merge_channels=4)
        assert m.eval()(torch.randn(1, 96, j, 2)).shape == (1, 96, j, 3)
