"""Hossain & Little (ECCV 2018) seq2seq LN-LSTM: parameter counts, the LN-LSTM cell, the residual self-fed
decoder, the smoothness loss, the seq2seq contract and the options."""
import pytest
import torch

import baselines.hossain  # noqa: F401  (registers the model)
from baselines.hossain import LayerNormLSTMCell, smoothness_joint_weights
from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.registry import metadata_options
from bench.registry import create_model, get_entry

SMALL = dict(hidden_size=8, dropout=0.0, recurrent_dropout=0.0)


def closed_form_params(j_in, j_out, h=1024, layers=1, layer_norm=True, encoder_output_projection=False):
    """Hand count: each cell has an (H + H) x 4H kernel plus five layer norms (gain + shift, 2H each) or, without
    layer norm, a 4H bias; encoder input projection aH + H; decoder input dH + H and output Hd + d."""
    a, d = 2 * j_in, 3 * j_out
    cell = 2 * h * 4 * h + (5 * 2 * h if layer_norm else 4 * h)
    total = 2 * layers * cell + (a * h + h) + (d * h + h) + (h * d + d)
    return total + ((h * a + a) if encoder_output_projection else 0)


def test_closed_form_small_configs():
    for opts in (dict(num_layers=1), dict(num_layers=2, layer_norm=False),
                 dict(num_joints_in=16, num_joints_out=15, encoder_output_projection=True)):
        model = create_model("hossain", hidden_size=8, **opts)
        j_in, j_out = opts.get("num_joints_in", 17), opts.get("num_joints_out", 17)
        assert count_parameters(model) == closed_form_params(
            j_in, j_out, 8, opts.get("num_layers", 1), opts.get("layer_norm", True),
            opts.get("encoder_output_projection", False))


def test_registry_counts_and_the_paper_figure():
    entry = get_entry("hossain")
    assert entry.params == {
        "num_joints_in=16, num_joints_out=16": closed_form_params(16, 16),
        "num_joints_in=16, num_joints_out=16, encoder_output_projection=True":
            closed_form_params(16, 16, encoder_output_projection=True),
        "num_joints_in=17, num_joints_out=17": closed_form_params(17, 17),
    }
    for key, expected in entry.params.items():
        assert count_parameters(create_model("hossain", **metadata_options("hossain", key))) == expected
    # the release's graph (with its dead encoder output layer) is the attention TCN's "16.96M"
    assert round(closed_form_params(16, 16, encoder_output_projection=True) / 1e6, 2) == 16.96
    assert round(closed_form_params(16, 16) / 1e6, 2) == 16.93


def _copy_lstmcell_into(cell: LayerNormLSTMCell, ref: torch.nn.LSTMCell) -> None:
    """torch gate order i, f, g, o -> TF order i, j(=g), f, o; torch's two biases -> one, minus forget_bias."""
    def reorder(w):
        i, f, g, o = w.chunk(4, dim=0)
        return torch.cat([i, g, f, o], dim=0)

    with torch.no_grad():
        cell.linear.weight.copy_(torch.cat([reorder(ref.weight_ih), reorder(ref.weight_hh)], dim=1))
        bias = reorder(ref.bias_ih + ref.bias_hh)
        bias[2 * ref.hidden_size:3 * ref.hidden_size] -= cell.forget_bias
        cell.linear.bias.copy_(bias)


def test_cell_without_layer_norm_is_torch_lstmcell():
    torch.manual_seed(0)
    ref = torch.nn.LSTMCell(5, 6)
    with torch.no_grad():  # distinct gate biases, so a swapped gate shows
        ref.bias_ih.copy_(torch.linspace(-2, 2, 24))
    cell = LayerNormLSTMCell(5, 6, layer_norm=False, forget_bias=1.0)
    _copy_lstmcell_into(cell, ref)
    x, h, c = torch.randn(3, 5), torch.randn(3, 6), torch.randn(3, 6)
    h_ref, c_ref = ref(x, (h, c))
    h_out, c_out = cell(x, (h, c))
    torch.testing.assert_close(h_out, h_ref)
    torch.testing.assert_close(c_out, c_ref)


def test_layer_norm_is_per_gate():
    """Each gate has its own layer norm: rescaling one gate's kernel rows changes nothing (it would with one
    norm over the four gates together, or none)."""
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(4, 6)
    assert cell.linear.bias is None and len(cell.norms) == 5
    x, state = torch.randn(2, 4), (torch.randn(2, 6), torch.randn(2, 6))
    h0, c0 = cell(x, state)
    with torch.no_grad():
        cell.linear.weight[12:18] *= 7.0  # forget-gate rows (TF order i, j, f, o)
    h1, c1 = cell(x, state)
    torch.testing.assert_close(h1, h0)
    torch.testing.assert_close(c1, c0)
    # the new cell state is layer-normalised: zero mean, unit variance at the initial gain/shift
    torch.testing.assert_close(c0.mean(-1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(c0.var(-1, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)


def test_recurrent_dropout_only_in_training():
    cell = LayerNormLSTMCell(4, 16, recurrent_dropout=0.5)
    x, state = torch.randn(3, 4), (torch.zeros(3, 16), torch.zeros(3, 16))
    cell.eval()
    torch.testing.assert_close(cell(x, state)[0], cell(x, state)[0])
    cell.train()
    torch.manual_seed(1)
    a = cell(x, state)[0]
    assert not torch.allclose(a, cell(x, state)[0])


def _decoder_trace(model, x):
    """Inputs of the decoder's input projection and outputs of its output projection, step by step."""
    ins, deltas = [], []
    h1 = model.decoder.in_proj.register_forward_hook(lambda m, i, o: ins.append(i[0].detach()))
    h2 = model.decoder.out_proj.register_forward_hook(lambda m, i, o: deltas.append(o.detach()))
    with torch.no_grad():
        y = model(x)
    h1.remove()
    h2.remove()
    return y.reshape(y.shape[0], y.shape[1], -1), ins, deltas


@pytest.mark.parametrize("start", ["zeros", "ones"])
def test_residual_self_fed_decoder(start):
    """y_t = y_{t-1} + Δ_t with y_0 = the start pose, and the decoder's input at step t is y_{t-1}."""
    torch.manual_seed(0)
    model = create_model("hossain", decoder_start=start, **SMALL).eval()
    y, ins, deltas = _decoder_trace(model, torch.randn(2, 5, 17, 2))
    s = torch.full((2, 51), 1.0 if start == "ones" else 0.0)
    prev = [s] + [y[:, t] for t in range(4)]
    for t in range(5):
        torch.testing.assert_close(ins[t], prev[t])
        torch.testing.assert_close(y[:, t], prev[t] + deltas[t])
    with torch.no_grad():  # the decoder's output layer zeroed: the output is the residual path alone
        model.decoder.out_proj.weight.zero_()
        model.decoder.out_proj.bias.zero_()
        torch.testing.assert_close(model(torch.randn(2, 5, 17, 2)), s.view(2, 1, 17, 3).expand(2, 5, 17, 3))


def test_without_residual_the_output_is_the_projection():
    torch.manual_seed(0)
    model = create_model("hossain", residual=False, **SMALL).eval()
    y, ins, deltas = _decoder_trace(model, torch.randn(2, 4, 17, 2))
    for t in range(4):
        torch.testing.assert_close(y[:, t], deltas[t])
        if t:
            torch.testing.assert_close(ins[t], deltas[t - 1])


def test_every_output_depends_on_every_input_frame():
    """Not causal: the decoder starts from the encoder's state after the whole window, so perturbing the last
    (or the first) input frame changes every output frame, the first one included."""
    torch.manual_seed(0)
    for reverse in (True, False):
        model = create_model("hossain", reverse_input=reverse, **SMALL).eval()
        x = torch.randn(2, 5, 17, 2)
        with torch.no_grad():
            base = model(x)
            for frame in (0, 4):
                y = x.clone()
                y[:, frame] += 0.5
                changed = (model(y) - base).abs().amax(dim=(0, 2, 3)) > 1e-6
                assert changed.all(), (reverse, frame, changed)


def test_reverse_input_reads_the_window_backwards():
    torch.manual_seed(0)
    fwd = create_model("hossain", reverse_input=False, **SMALL).eval()
    rev = create_model("hossain", reverse_input=True, **SMALL).eval()
    rev.load_state_dict(fwd.state_dict())
    x = torch.randn(2, 5, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(rev(x), fwd(x.flip(1)))


def test_smoothness_loss():
    torch.manual_seed(0)
    model = create_model("hossain", **SMALL)
    w = smoothness_joint_weights(17)
    assert w.tolist() == [1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1, 1, 4, 4, 1, 4, 4]
    assert smoothness_joint_weights(16).tolist() == w[1:].tolist()  # the paper's 16 = H36M-17 minus the root
    assert smoothness_joint_weights(15).tolist().count(4.0) == 4
    x, target = torch.randn(3, 5, 17, 2), torch.randn(3, 5, 17, 3)
    mse = lambda p, t: ((p - t) ** 2).mean()  # noqa: E731
    model.eval()
    loss, pred = model.loss_terms(x, target, mse)
    torch.testing.assert_close(pred, model(x))
    expected = mse(pred, target) + 5.0 * (w[:, None] * (pred[:, 1:] - pred[:, :-1]) ** 2).mean()
    torch.testing.assert_close(loss, expected)
    off = create_model("hossain", smoothness_weight=0.0, **SMALL).eval()
    off.load_state_dict(model.state_dict())
    torch.testing.assert_close(off.loss_terms(x, target, mse)[0], mse(pred, target))
    assert float(model.smoothness(pred[:, :1])) == 0.0  # one frame: nothing to smooth


def test_contract_and_shapes():
    model = create_model("hossain", **SMALL).eval()
    assert (model.output_mode, model.receptive_field, model.causal_shift, model.in_features) == ("seq2seq", 5, 0, 2)
    assert (model.num_joints_in, model.num_joints_out, model.eval_step) == (17, 17, 1)
    paper = create_model("hossain", num_joints_in=16, num_joints_out=16, frames=7, **SMALL).eval()
    assert paper.receptive_field == 7
    assert paper.encoder.in_proj.in_features == 32 and paper.decoder.out_proj.out_features == 48
    with torch.no_grad():
        assert model(torch.randn(3, 5, 17, 2)).shape == (3, 5, 17, 3)
        assert model(torch.randn(1, 9, 17, 2)).shape == (1, 9, 17, 3)  # any T: the LSTMs unroll
        assert paper(torch.randn(2, 7, 16, 2)).shape == (2, 7, 16, 3)
    for bad in ((3, 5, 16, 2), (3, 5, 17, 3), (5, 17, 2), (3, 0, 17, 2)):
        with pytest.raises(ValueError, match="hossain: expected input"):
            model(torch.zeros(bad))


def test_encoder_output_projection_is_parameters_only():
    torch.manual_seed(0)
    plain = create_model("hossain", **SMALL).eval()
    extra = create_model("hossain", encoder_output_projection=True, **SMALL).eval()
    extra.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(2, 5, 17, 2)
    with torch.no_grad():
        torch.testing.assert_close(extra(x), plain(x))


@pytest.mark.parametrize("options, word", [
    ({"hidden_size": 0}, "hidden_size"), ({"frames": 2.5}, "frames"), ({"num_layers": True}, "num_layers"),
    ({"dropout": 1.0}, "dropout"), ({"recurrent_dropout": -0.1}, "recurrent_dropout"),
    ({"layer_norm": "yes"}, "layer_norm"), ({"decoder_start": "mean"}, "decoder_start"),
    ({"smoothness_weight": -1}, "smoothness_weight"), ({"smoothness_joints": "x"}, "smoothness_joints"),
    ({"num_joints_out": 14}, "smoothness_joints"), ({"no_such_option": 1}, "no_such_option"),
])
def test_invalid_options(options, word):
    with pytest.raises(ConfigError, match=word):
        create_model("hossain", **options)
    assert create_model("hossain", num_joints_out=14, smoothness_joints="uniform", hidden_size=4)


def test_engine_paths():
    """The engine's training loss goes through loss_terms; its sliding-window evaluation runs the model."""
    import numpy as np

    from bench.engine.evaluate import predict_sequence
    from bench.engine.train import model_loss, training_loss

    torch.manual_seed(0)
    model = create_model("hossain", **SMALL)
    x, y = torch.randn(4, 5, 17, 2), torch.randn(4, 5, 17, 3)
    loss, pred = model_loss(model.eval(), x, y, None, lambda p, t: training_loss(p, t, "mpjpe"))
    torch.testing.assert_close(loss, training_loss(pred, y, "mpjpe") + 5.0 * model.smoothness(pred))
    loss.backward()
    assert model.decoder.in_proj.weight.grad is not None  # gradients flow through the self-fed decoder
    out = predict_sequence(model, np.random.RandomState(0).randn(12, 17, 2).astype(np.float32), False,
                           None, None, batch_frames=20)
    assert out.shape == (12, 17, 3) and np.isfinite(out).all()
