"""The model contract (bench/contract.py) of every registered model, at tiny widths: one window's shapes, the
declared receptive field and causal shift, the strided path against the long-input path, the published
parameter count; and the contract check itself (defaults, one-line errors, ``create_model`` calls it)."""
import pytest
import torch
from torch import nn

from bench import registry
from bench.contract import ModelContract, model_contract
from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.registry import create_model, get_entry, list_models, match_reported_params

pytestmark = pytest.mark.usefixtures("one_thread")  # fixture in tests/conftest.py

#: Tiny option sets (the widths of protocols/models/latency.yaml's smoke scale; 27-frame TCNs).
TINY = {
    "videopose3d": {"receptive_field": 27, "channels": 16},
    "gastnet": {"receptive_field": 27, "channels": 16},
    "attention_tcn": {"receptive_field": 27, "channels": 16, "reduction": 8},
    "dgnet": {"channels": 16},
    "ugcn": {"widths": [4, 4, 8, 8, 8], "merge_channels": 4},
    "hossain": {"hidden_size": 16},
    "martinez": {"linear_size": 32},
    "semgcn": {"hid_dim": 16},
    "edm": {"hidden_sizes": [32, 32]},
}
#: Sequence-to-sequence models whose forward runs any window length (the engine feeds them T-frame windows
#: only): DG-Net's graphs and Hossain et al.'s recurrent encoder / decoder are defined for every T.
ANY_LENGTH = {"dgnet", "hossain"}
#: Frames a conv model's long-input test adds to one window.
EXTRA = 4


def _randomise_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so eval-mode comparisons exercise them."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return model


def tiny(name: str, **options) -> nn.Module:
    torch.manual_seed(0)
    return _randomise_bn(create_model(name, **{**TINY[name], **options})).eval()


def run(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's output for ``x`` (with a camera context when the contract asks for one)."""
    c = model_contract(model)
    args = (torch.rand(*x.shape[:2], 5, generator=torch.Generator().manual_seed(2)),) if c.needs_context else ()
    with torch.no_grad():
        return model(x, *args)


def poses(model: nn.Module, frames: int, batch: int = 2, seed: int = 1) -> torch.Tensor:
    c = model_contract(model)
    return torch.randn(batch, frames, c.num_joints_in, c.in_features, generator=torch.Generator().manual_seed(seed))


def declared(name: str) -> ModelContract:
    """The contract of ``name`` at its tiny options (built on the meta device: no weights are made)."""
    with torch.device("meta"):
        return model_contract(create_model(name, **TINY[name]), name)


CONV = [n for n in list_models() if not declared(n).seq2seq]


def test_every_registered_model_has_a_tiny_option_set():
    assert sorted(TINY) == list_models()


# ------------------------------------------------------------------------- every model

@pytest.mark.parametrize("name", list_models())
def test_one_window(name):
    """conv: one receptive field in, one frame out; seq2seq: T in, T out."""
    model = tiny(name)
    c = model_contract(model, name)
    y = run(model, poses(model, c.receptive_field))
    assert y.shape == (2, c.receptive_field if c.seq2seq else 1, c.num_joints_out, 3)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", list_models())
def test_an_input_shorter_than_the_receptive_field_is_refused(name):
    model = tiny(name)
    rf = model_contract(model, name).receptive_field
    if rf == 1:
        pytest.skip("a single-frame model has no shorter non-empty input")
    x = poses(model, rf - 1)
    if name in ANY_LENGTH:
        assert run(model, x).shape[1] == rf - 1  # runs (see ANY_LENGTH); the engine never feeds it
        return
    with pytest.raises((AssertionError, ValueError)):
        run(model, x)


@pytest.mark.parametrize("name", CONV)
def test_conv_long_input_is_its_windows(name):
    """RF + k - 1 frames give k frames, frame i being the output for the window of frames i .. i + RF - 1
    (the strided / single-window path against the dilated / unfolded one, same weights)."""
    model = tiny(name)
    rf = model_contract(model, name).receptive_field
    x = poses(model, rf + EXTRA - 1)
    y = run(model, x)
    assert y.shape[1] == EXTRA
    windows = torch.cat([run(model, x[:, i:i + rf]) for i in range(EXTRA)], dim=1)
    torch.testing.assert_close(y, windows, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in list_models() if "causal" in get_entry(n).defaults])
def test_a_causal_model_ignores_the_future(name):
    """causal_shift = (RF - 1) // 2, so output frame i is the pose of frame i + RF - 1: it does not change
    when any later frame changes, and does when that frame changes."""
    model = tiny(name, causal=True)
    c = model_contract(model, name)
    rf = c.receptive_field
    assert c.causal_shift == (rf - 1) // 2
    x = poses(model, rf + EXTRA - 1)
    y = run(model, x)
    for i in range(EXTRA - 1):
        later = x.clone()
        later[:, i + rf:] += 1.0
        changed = run(model, later)
        torch.testing.assert_close(changed[:, :i + 1], y[:, :i + 1], rtol=0, atol=1e-6)
        assert not torch.allclose(changed[:, i + 1], y[:, i + 1], atol=1e-4)


@pytest.mark.parametrize("name", [n for n in list_models() if "variant" in get_entry(n).defaults])
def test_strided_path_equals_dilated_path(name):
    """Both forms of one network (same weights: the dilated build loads the strided build's state)."""
    strided = tiny(name, variant="strided")
    dilated = create_model(name, **TINY[name], variant="dilated").eval()
    dilated.load_state_dict(strided.state_dict())
    rf = model_contract(strided).receptive_field
    assert model_contract(strided).forward_path(rf) == "strided"
    assert model_contract(dilated).forward_path(rf) == "dilated"
    x = poses(strided, rf)
    torch.testing.assert_close(run(strided, x), run(dilated, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list_models())
def test_parameter_count_is_the_published_one(name):
    """At the defaults every model has a published count; at the tiny options one applies only when the
    registry's key matches them exactly."""
    match = match_reported_params(name, {})
    assert match["match"] == "exact"
    with torch.device("meta"):
        assert count_parameters(create_model(name)) == match["params"]
    tiny_match = match_reported_params(name, TINY[name])
    if tiny_match["match"] == "exact":
        assert count_parameters(tiny(name)) == tiny_match["params"]


# ------------------------------------------------------------------------- the check itself

class Declared(nn.Module):
    """A stub that declares the required attributes only."""

    receptive_field, causal_shift, num_joints_in, num_joints_out = 9, 0, 17, 16

    def __init__(self, **attrs):
        super().__init__()
        self.bn = nn.BatchNorm1d(4)
        for k, v in attrs.items():
            setattr(self, k, v)


def test_defaults_are_filled_in():
    model = Declared()
    c = model_contract(model)
    assert (c.receptive_field, c.causal_shift, c.num_joints_in, c.num_joints_out) == (9, 0, 17, 16)
    assert (c.in_features, c.output_mode, c.train_out_frames, c.eval_step, c.needs_context) == \
        (2, "conv", 1, 1, False)
    assert c.loss_terms is c.apply_max_norm is c.forward_path is None
    c.set_bn_momentum(0.25)  # the default setter: every BatchNorm layer
    assert model.bn.momentum == 0.25
    seq = model_contract(Declared(output_mode="seq2seq", eval_step=3))
    assert seq.seq2seq and seq.train_out_frames == 9 and seq.eval_step == 3


def test_declared_values_and_hooks_are_the_models():
    assert model_contract(Declared(needs_context=True)).needs_context
    vp3d = tiny("videopose3d")
    assert model_contract(vp3d).forward_path(27) == "strided" and model_contract(vp3d).forward_path(30) == "dilated"
    martinez = tiny("martinez")
    assert model_contract(martinez).apply_max_norm == martinez.apply_max_norm
    assert model_contract(tiny("dgnet")).loss_terms is not None
    assert model_contract(tiny("hossain")).eval_step == 1 and model_contract(tiny("ugcn")).eval_step == 5


@pytest.mark.parametrize("attrs, needle", [
    ({"receptive_field": None}, "receptive_field=None"),
    ({"receptive_field": 0}, "receptive_field=0"),
    ({"causal_shift": 5}, "causal_shift=5"),
    ({"num_joints_out": 2.5}, "num_joints_out=2.5"),
    ({"in_features": True}, "in_features=True"),
    ({"output_mode": "recurrent"}, "output_mode='recurrent'"),
    ({"output_mode": "seq2seq", "train_out_frames": 4}, "train_out_frames=4"),
    ({"eval_step": 0}, "eval_step=0"),
    ({"needs_context": "yes"}, "needs_context='yes'"),
    ({"apply_max_norm": 1.0}, "apply_max_norm"),
])
def test_a_wrong_value_is_one_line_naming_the_model_and_the_attribute(attrs, needle):
    with pytest.raises(ConfigError, match="model 'stub' \\(Declared\\)") as err:
        model_contract(Declared(**attrs), "stub")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_create_model_checks_the_contract(monkeypatch):
    class Missing(nn.Module):
        receptive_field, num_joints_in, num_joints_out = 1, 17, 17  # no causal_shift

    entry = registry.ModelEntry(name="missing", builder=Missing, citation="-")
    monkeypatch.setitem(registry._REGISTRY, "missing", entry)
    with pytest.raises(ConfigError, match="model 'missing' \\(Missing\\) does not declare causal_shift"):
        create_model("missing")
