"""The optimised UGCN (bench/models/ugcn.py and stgcn.py: channels-last features, the graph convolution and
the 1x1 convolutions as matrix products, batch statistics summed in cascade, the faster dropout draw)
against a frozen copy of the implementation before it (tests/models/frozen_ugcn_reference.py).

Same parameters (names, shapes, order, seeded initialisation), state_dicts that load both ways, the same
FLOPs, and, from the same weights, the same outputs and parameter gradients for every option the protocols
of UGCN Tables 1-8 use, in eval mode and in train mode (dropout 0, and dropout 0.5 under the same seed: the
same masks):

* in float64 to 1e-10 (outputs) and a relative 1e-8 (gradients): there rounding cannot hide a different
  computation;
* in float32, the dtype of training: outputs to 1e-5 m in eval mode (observed 1e-7), gradients to a
  relative 1e-4. In train mode the batch statistics of the deepest levels (T = 2 here) amplify float32
  rounding: the reference's own output lies up to 1e-5 m from its float64 value, the new one's as far, in
  other directions, so the two are compared to 2e-5 m (observed 7e-6 on these inputs; up to 2.2e-5 over
  other seeds, with both models 1e-5 from float64).
"""
import importlib.util
from pathlib import Path

import pytest
import torch

from bench.flops import flops_per_frame
from bench.models.stgcn import Dropout, STGCNBlock, SpatialGraphConv, spatial_configuration_partition
from bench.models.ugcn import UGCN
from bench.skeleton import H36M_17

pytestmark = pytest.mark.usefixtures("one_thread")

_spec = importlib.util.spec_from_file_location("frozen_ugcn_reference",
                                               Path(__file__).with_name("frozen_ugcn_reference.py"))
ref = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref)

V = 17
TINY = {"widths": [4, 4, 8, 8, 8], "merge_channels": 4}
OPTIONS = [  # (options, frames): Table 3 (pairs), Table 4 (merge, spatial graph), the ablated extras
    ({}, 32),
    ({"down_up_pairs": 0}, 32),
    ({"down_up_pairs": 1}, 32),
    ({"down_up_pairs": 2}, 32),
    ({"merge": "concat"}, 32),
    ({"merge": "none"}, 32),
    ({"spatial_graph": False}, 32),
    ({"edge_importance": True}, 32),
    ({"input_bn": False}, 32),
    ({"temporal_kernel": 3}, 32),
    ({"temporal_kernel": 7, "max_hop": 2}, 32),
    ({"frames": 96}, 96),
    ({"frames": 96, "down_up_pairs": 2, "merge": "concat", "spatial_graph": False}, 96),
]
IDS = [",".join(f"{k}={v}" for k, v in o.items()) or "defaults" for o, _ in OPTIONS]
# (outputs atol eval, outputs atol train, gradients relative) per dtype; see the module docstring
TOL = {torch.float64: (1e-10, 1e-10, 1e-8), torch.float32: (1e-5, 2e-5, 1e-4)}


def pair(opts: dict, frames: int, dropout: float, dtype=torch.float32):
    """(reference, new) built from the same seed, the reference's state_dict loaded into the new one."""
    kw = {**TINY, "frames": frames, "dropout": dropout, **opts}
    torch.manual_seed(0)
    old = ref.UGCN(**kw)
    torch.manual_seed(0)
    new = UGCN(**kw)
    with torch.no_grad():  # BN affine parameters and edge importances away from 1 and 0, so that their role
        for name, p in old.named_parameters():  # shows in the outputs (conv biases keep their init)
            if (p.dim() == 1 and "conv" not in name and "tcn.2" not in name) or name.endswith("importance"):
                p.add_(0.1 * torch.randn_like(p))
    new.load_state_dict(old.state_dict())
    return old.to(dtype), new.to(dtype)


def run(model, x, seed=None):
    """Output and parameter gradients of a loss that weights every output element differently."""
    model.zero_grad(set_to_none=True)
    if seed is not None:
        torch.manual_seed(seed)
    out = model(x)
    w = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
    (out * w).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def assert_same(expected, got, out_atol, grad_rtol):
    (out_a, grads_a), (out_b, grads_b) = expected, got
    assert out_b.shape == out_a.shape and out_b.is_contiguous()
    torch.testing.assert_close(out_b, out_a, rtol=0, atol=out_atol)
    assert grads_a.keys() == grads_b.keys()
    # Per tensor, in norm: |dg| <= rtol |g| + rtol / 100 max|g'|. The absolute part is for gradients that
    # are zero in exact arithmetic (a conv bias followed by train-mode BN), where only rounding is left.
    floor = grad_rtol / 100 * max(float(g.norm()) for g in grads_a.values())
    for name, g in grads_a.items():
        err = float((grads_b[name] - g).norm())
        assert err <= grad_rtol * float(g.norm()) + floor, (name, err, float(g.norm()), floor)


def realistic_input(batch, frames, dtype):
    """Screen-normalised 2D keypoints in [-1, 1], as the engine feeds them."""
    gen = torch.Generator().manual_seed(1)
    return (torch.rand(batch, frames, V, 2, generator=gen) * 2 - 1).to(dtype)


def test_same_parameters_initialisation_and_state_dict_both_ways():
    for opts in ({}, {"merge": "concat", "spatial_graph": False, "edge_importance": True, "down_up_pairs": 1},
                 {"merge": "none", "input_bn": False, "max_hop": 2}):
        torch.manual_seed(3)
        old = ref.UGCN(**opts)
        rng_after_old = torch.get_rng_state()
        torch.manual_seed(3)
        new = UGCN(**opts)
        assert torch.equal(torch.get_rng_state(), rng_after_old)  # the same draws at construction
        assert [(n, p.shape) for n, p in old.named_parameters()] == [(n, p.shape) for n, p in new.named_parameters()]
        assert all(torch.equal(a, b) for a, b in zip(old.parameters(), new.parameters()))
        assert list(old.state_dict()) == list(new.state_dict())
        old.load_state_dict(new.state_dict())
        new.load_state_dict(old.state_dict())
    assert sum(p.numel() for p in UGCN().parameters()) == 4_875_911


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("opts,frames", OPTIONS, ids=IDS)
def test_same_outputs_and_gradients_eval_and_train(opts, frames, dtype):
    eval_atol, train_atol, grad_rtol = TOL[dtype]
    old, new = pair(opts, frames, dropout=0.0, dtype=dtype)
    x = realistic_input(2, frames, dtype)
    for train, atol in ((False, eval_atol), (True, train_atol)):
        old.train(train)
        new.train(train)
        assert_same(run(old, x), run(new, x), atol, grad_rtol)
    # the train-mode pass updated the BN running statistics alike
    got = new.state_dict()
    for name, a in old.state_dict().items():
        torch.testing.assert_close(got[name], a, rtol=1e-5, atol=1e-7, msg=name)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("opts,frames", [({}, 32), ({"merge": "concat", "down_up_pairs": 1}, 32), ({}, 96)])
def test_same_dropout_masks_under_the_same_seed(opts, frames, dtype):
    _, train_atol, grad_rtol = TOL[dtype]
    old, new = pair(opts, frames, dropout=0.5, dtype=dtype)
    x = realistic_input(2, frames, dtype)
    expected = run(old.train(), x, seed=7)
    state = torch.get_rng_state()
    got = run(new.train(), x, seed=7)
    assert torch.equal(torch.get_rng_state(), state)  # the same number of draws
    assert_same(expected, got, train_atol, grad_rtol)
    assert not torch.allclose(run(new, x, seed=8)[0], got[0])  # another seed, other masks


def test_dropout_draws_what_f_dropout_draws():
    x = torch.randn(2, 5, 6, 7)
    for p in (0.1, 0.5, 0.8):
        for dtype in (torch.float32, torch.float64):
            for layout in (torch.contiguous_format, torch.channels_last):
                torch.manual_seed(1)
                expected = torch.nn.functional.dropout(x.to(dtype), p, training=True)
                torch.manual_seed(1)
                got = Dropout(p)(x.to(dtype).contiguous(memory_format=layout))
                assert torch.equal(got, expected), (p, dtype, layout)
                assert got.is_contiguous(memory_format=layout)
    drop = Dropout(0.5).eval()
    assert drop(x) is x


def test_cached_aggregation_follows_a_loaded_adjacency():
    model = UGCN(**TINY)
    state = model.state_dict()
    assert not any(k.endswith("aggregation") for k in state)  # not persistent: checkpoints are unchanged
    state["down.3.gcn.adjacency"] = torch.rand_like(state["down.3.gcn.adjacency"])
    model.load_state_dict(state)
    gcn = model.down[3].gcn
    assert torch.equal(gcn.aggregation, gcn.aggregation_matrix(gcn.adjacency))


def test_blocks_and_graph_conv_match_on_either_layout():
    a = spatial_configuration_partition(H36M_17)
    for stride, cin, cout in ((1, 4, 4), (2, 4, 6), (1, 3, 6)):
        torch.manual_seed(0)
        old = ref.STGCNBlock(cin, cout, a, stride=stride, dropout=0.0).eval()
        torch.manual_seed(0)
        new = STGCNBlock(cin, cout, a, stride=stride, dropout=0.0).eval()
        x = torch.randn(2, cin, 12, V)
        for layout in (torch.contiguous_format, torch.channels_last):
            torch.testing.assert_close(new(x.contiguous(memory_format=layout)), old(x), rtol=0, atol=1e-5)
    torch.manual_seed(0)
    old = ref.SpatialGraphConv(3, 5, a, edge_importance=True)
    new = SpatialGraphConv(3, 5, a, edge_importance=True)
    with torch.no_grad():
        old.importance.add_(torch.rand_like(old.importance))
    new.load_state_dict(old.state_dict())
    x = torch.randn(2, 3, 4, V)
    torch.testing.assert_close(new(x), old(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("opts", [{}, {"merge": "concat"}, {"spatial_graph": False, "down_up_pairs": 2},
                                  {"merge": "none", "edge_importance": True}])
def test_flops_per_frame_unchanged(opts):
    kw = {**TINY, **opts}
    assert flops_per_frame(UGCN(**kw), (1, 96, V, 2)) == flops_per_frame(ref.UGCN(**kw), (1, 96, V, 2))
