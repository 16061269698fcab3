"""Martinez et al. 2017 baseline: parameter counts, frame-wise contract, max-norm, options."""
import pytest
import torch

from baselines.martinez import Martinez
from bench.errors import ConfigError
from bench.flops import count_parameters, flops_per_frame
from bench.registry import create_model, get_entry


def closed_form_params(j_in, j_out, c=1024, stages=2, bn=True):
    per_linear_bn = c * c + c + (2 * c if bn else 0)
    return (2 * j_in * c + c + (2 * c if bn else 0)) + stages * 2 * per_linear_bn + c * 3 * j_out + 3 * j_out


@pytest.mark.parametrize("j_in, j_out, expected", [(16, 16, 4_291_632), (17, 17, 4_296_755),
                                                   (16, 15, 4_288_557)])
def test_parameter_counts(j_in, j_out, expected):
    model = create_model("martinez", num_joints_in=j_in, num_joints_out=j_out)
    assert count_parameters(model) == expected == closed_form_params(j_in, j_out)
    assert get_entry("martinez").params[f"num_joints_in={j_in}, num_joints_out={j_out}"] == expected


def test_paper_setting_is_32_in_48_out():
    model = create_model("martinez", num_joints_in=16, num_joints_out=16)
    assert model.input[0].in_features == 32 and model.output.out_features == 48


def test_options_change_structure():
    no_bn = create_model("martinez", batch_norm=False, num_stages=3, linear_size=64)
    assert count_parameters(no_bn) == closed_form_params(17, 17, c=64, stages=3, bn=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in no_bn.modules())
    plain = create_model("martinez", residual=False, linear_size=32, dropout=0.0).eval()
    with torch.no_grad():
        assert plain(torch.randn(2, 3, 17, 2)).shape == (2, 3, 17, 3)


def test_contract_and_shapes():
    model = create_model("martinez", linear_size=64).eval()
    assert (model.receptive_field, model.causal_shift, model.output_mode) == (1, 0, "conv")
    assert (model.num_joints_in, model.num_joints_out, model.in_features) == (17, 17, 2)
    with torch.no_grad():
        assert model(torch.randn(4, 7, 17, 2)).shape == (4, 7, 17, 3)
    with pytest.raises(AssertionError, match="joints"):
        model(torch.randn(4, 7, 16, 2))
    with pytest.raises(AssertionError, match=r"\(batch, frames"):
        model(torch.randn(4, 17, 2))
    model.set_bn_momentum(0.3)
    assert all(m.momentum == 0.3 for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))


def test_frames_are_independent_in_eval_mode():
    model = create_model("martinez", linear_size=64).eval()
    x = torch.randn(2, 6, 17, 2)
    with torch.no_grad():
        base = model(x)
        y = x.clone()
        y[:, 3] += 1.0
        out = model(y)
    changed = (out - base).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.tolist() == [False, False, False, True, False, False]


def test_apply_max_norm_clips_weight_matrices():
    model = create_model("martinez", linear_size=64)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 6
    biases = [m.bias.detach().clone() for m in linears]
    with torch.no_grad():
        linears[0].weight.mul_(0).add_(0.001)  # norm well below 1 must stay as it is
    small = linears[0].weight.detach().clone()
    assert all(float(m.weight.detach().norm()) > 1 for m in linears[1:])
    model.apply_max_norm()
    for m in linears[1:]:
        assert float(m.weight.detach().norm()) == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(linears[0].weight, small, atol=0, rtol=0)
    for m, b in zip(linears, biases):
        torch.testing.assert_close(m.bias, b, atol=0, rtol=0)


def test_apply_max_norm_is_noop_when_off():
    model = create_model("martinez", linear_size=64, max_norm=False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.apply_max_norm()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)


def test_training_step_with_max_norm():
    torch.manual_seed(0)
    model = create_model("martinez", linear_size=64).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = model(torch.randn(8, 2, 17, 2)).square().mean()
    loss.backward()
    opt.step()
    model.apply_max_norm()
    assert all(float(m.weight.detach().norm()) <= 1 + 1e-5 for m in model.modules() if isinstance(m, torch.nn.Linear))


def test_flops_by_hand():
    model = create_model("martinez", num_joints_in=16, num_joints_out=16)
    macs = 32 * 1024 + 4 * 1024 * 1024 + 1024 * 48
    assert flops_per_frame(model, (3, 5, 16, 2)) == 2 * macs


@pytest.mark.parametrize("opts", [dict(linear_size=0), dict(num_stages=-1), dict(dropout=1.5)])
def test_bad_options(opts):
    with pytest.raises(ConfigError):
        create_model("martinez", **opts)


def test_registry_metadata(published):
    entry = get_entry("martinez")
    assert "Martinez" in entry.citation and "ICCV 2017" in entry.citation
    # The published numbers live in results/reported/ (attention TCN Table 9 quotes the paper's).
    table9 = {"model.name": "martinez"}
    assert published("attention_tcn", "table9", {**table9, "data.source": "sh_ft_h36m"}) == \
        {"mpjpe": 62.9, "p_mpjpe": 47.7}
    assert published("attention_tcn", "table9", {**table9, "data.source": "gt"}) == {"mpjpe": 45.5, "p_mpjpe": 37.1}
    assert isinstance(create_model("martinez", **entry.presets["paper16"]), Martinez)
