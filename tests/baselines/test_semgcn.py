"""SemGCN (Zhao et al. 2019): parameter counts, semantic graph convolution, non-local block, contract, options."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import baselines.semgcn  # noqa: F401  (registers "semgcn")
from baselines.semgcn import (H36M_16, NONLOCAL_GROUPINGS, PAPER_GROUPS_16, GroupedNonLocal, SemGCN,
                              SemGraphConv)
from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.registry import create_model, get_entry
from bench.skeleton import H36M_17


def closed_form_params(j, c=128, layers=4, non_local=False):
    edges = j + 2 * (j - 1)  # A + I of a tree
    conv = lambda i, o: 2 * i * o + edges + o  # noqa: E731  (W_self, W_nbr, logits, bias)
    total = conv(2, c) + 2 * c + layers * 2 * (conv(c, c) + 2 * c) + conv(c, 3)
    if non_local:
        h = c // 2
        total += (layers + 1) * (3 * (c * h + h) + c + (h * c + c) + 2 * c)
    return total


@pytest.mark.parametrize("j, non_local, expected", [(16, False, 267_343), (16, True, 434_703),
                                                    (17, False, 267_373), (17, True, 434_733)])
def test_parameter_counts(j, non_local, expected):
    model = create_model("semgcn", num_joints=j, non_local=non_local)
    assert count_parameters(model) == expected == closed_form_params(j, non_local=non_local)
    key = f"num_joints={j}" + (", non_local=True" if non_local else "")
    assert get_entry("semgcn").params[key] == expected


def test_small_configs_and_meta_device():
    model = create_model("semgcn", hid_dim=16, num_layers=2, non_local=True, nonlocal_groups="separate")
    assert count_parameters(model) == closed_form_params(17, c=16, layers=2, non_local=True)
    with torch.device("meta"):  # how `bench check` builds the presets
        meta = create_model("semgcn", num_joints=16, non_local=True)
    assert sum(p.numel() for p in meta.parameters()) == 434_703


def test_graphs():
    assert H36M_16.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14)
    assert "Neck/Nose" not in H36M_16.joint_names and H36M_16.joint_names[9] == "Head"
    assert create_model("semgcn", num_joints=17, hid_dim=4).skeleton is H36M_17
    for groups in NONLOCAL_GROUPINGS.values():  # every H36M-17 joint in exactly one group
        assert sorted(j for g in groups for j in g) == list(range(17))
    assert sorted(j for g in PAPER_GROUPS_16 for j in g) == list(range(16))
    assert len(NONLOCAL_GROUPINGS["merge"]) == 8 and len(NONLOCAL_GROUPINGS["separate"]) == 9


def official_semgraphconv(conv, x):
    """The official forward (models/sem_graph_conv.py): -9e15 masking, logits placed in row-major order."""
    mask = torch.from_numpy(H36M_16.adjacency(self_loops=True) > 0)
    adj = torch.full(mask.shape, -9e15)
    adj[mask] = conv.edge_logits
    adj = F.softmax(adj, dim=1)
    eye = torch.eye(adj.shape[0])
    return (adj * eye) @ (x @ conv.weight[0]) + (adj * (1 - eye)) @ (x @ conv.weight[1]) + conv.bias


def test_semgraphconv_matches_official_formula():
    torch.manual_seed(0)
    conv = SemGraphConv(3, 5, H36M_16)
    with torch.no_grad():
        conv.edge_logits.normal_()
    x = torch.randn(2, 4, 16, 3)
    torch.testing.assert_close(conv(x), official_semgraphconv(conv, x))


def test_official_initialisation():
    torch.manual_seed(0)
    conv = SemGraphConv(128, 64, H36M_16)
    assert torch.equal(conv.edge_logits.detach(), torch.ones(46))
    # xavier_uniform_ on the (2, in, out) tensor: fan_in = in*out, fan_out = 2*out.
    bound = 1.414 * math.sqrt(6.0 / (128 * 64 + 2 * 64))
    w_max, b_max = float(conv.weight.detach().abs().max()), float(conv.bias.detach().abs().max())
    assert 0.9 * bound < w_max <= bound
    assert 0 < b_max <= 1 / math.sqrt(64)


def test_edge_softmax_rows_sum_to_one_and_stay_on_the_graph():
    conv = SemGraphConv(1, 1, H36M_17)
    mask = torch.from_numpy(H36M_17.adjacency(self_loops=True) > 0)
    logits = torch.linspace(-2.0, 3.0, int(mask.sum()))
    with torch.no_grad():
        conv.weight.fill_(1.0)  # W_self = W_nbr = 1: output = A_hat x
        conv.bias.zero_()
        conv.edge_logits.copy_(logits)
        # Frame t carries a one-hot on joint t, so out[t, i] = A_hat[i, t].
        adj = conv(torch.eye(17).reshape(1, 17, 17, 1))[0, :, :, 0].T
    torch.testing.assert_close(adj.sum(-1), torch.ones(17))
    assert torch.all(adj[~mask] == 0) and torch.all(adj[mask] > 0)
    expected = torch.softmax(torch.full((17, 17), -torch.inf).masked_scatter(mask, logits), dim=-1)
    torch.testing.assert_close(adj, expected)

    # A joint that is not a neighbour does not reach the output; a neighbour does.
    conv = SemGraphConv(2, 4, H36M_17)
    x = torch.randn(1, 1, 17, 2)
    y = x.clone()
    y[0, 0, 13] += 5.0  # LWrist: neighbours are LElbow (12) and itself
    with torch.no_grad():
        diff = (conv(y) - conv(x)).abs().amax(dim=(0, 1, 3))
    assert (diff > 0).nonzero().flatten().tolist() == [12, 13]


def test_nonlocal_is_identity_at_initialisation():
    torch.manual_seed(0)
    block = GroupedNonLocal(8, PAPER_GROUPS_16).train()
    x = torch.randn(2, 3, 16, 8)
    assert torch.equal(block(x), x)
    model = create_model("semgcn", num_joints=17, hid_dim=8, num_layers=2, non_local=True).eval()
    x = torch.randn(2, 3, 17, 2)
    with torch.no_grad():
        with_nl = model(x)
        model.input_nonlocal = nn.Identity()
        model.layers = nn.Sequential(*[m for m in model.layers if not isinstance(m, GroupedNonLocal)])
        without = model(x)
    assert torch.equal(with_nl, without)


def official_nonlocal(block, x):
    """Official GraphNonLocal path (models/sem_gcn.py _GraphNonLocal + graph_non_local.py), 16 joints:
    re-order into pairs, 1x1 convs, MaxPool1d(2) on phi and g, concat score / N, W + BN, restore order."""
    order = [j for g in PAPER_GROUPS_16 for j in g]
    restore = [order.index(i) for i in range(16)]
    conv = lambda lin, h: F.conv1d(h, lin.weight[:, :, None], lin.bias)  # noqa: E731
    h = x[:, order, :].transpose(1, 2)  # (N, C, J)
    g = F.max_pool1d(conv(block.g, h), 2).permute(0, 2, 1)
    theta = conv(block.theta, h)[:, :, :, None]
    phi = F.max_pool1d(conv(block.phi, h), 2)[:, :, None, :]
    hh, ww = theta.shape[2], phi.shape[3]
    cat = torch.cat([theta.expand(-1, -1, -1, ww), phi.expand(-1, -1, hh, -1)], dim=1)
    f = F.relu(F.conv2d(cat, block.concat_project.weight[:, :, None, None]))[:, 0]
    y = (f / f.shape[-1]) @ g
    z = block.bn(conv(block.out, y.permute(0, 2, 1))) + h
    return z.transpose(1, 2)[:, restore, :]


def test_nonlocal_matches_official_grouped_block():
    torch.manual_seed(0)
    block = GroupedNonLocal(8, PAPER_GROUPS_16).eval()
    with torch.no_grad():  # make the block non-trivial (it is the identity at init)
        block.bn.weight.normal_()
        block.bn.bias.normal_()
        block.bn.running_mean.normal_()
    x = torch.randn(6, 16, 8)
    with torch.no_grad():
        ours = block(x.reshape(2, 3, 16, 8)).reshape(6, 16, 8)
        torch.testing.assert_close(ours, official_nonlocal(block, x))


def test_contract_and_shapes():
    model = create_model("semgcn", hid_dim=16, num_layers=1).eval()
    assert isinstance(model, SemGCN)
    assert (model.receptive_field, model.causal_shift, model.output_mode) == (1, 0, "conv")
    assert (model.num_joints_in, model.num_joints_out, model.in_features) == (17, 17, 2)
    with torch.no_grad():
        assert model(torch.randn(2, 3, 17, 2)).shape == (2, 3, 17, 3)
    with pytest.raises(AssertionError, match="joints"):
        model(torch.randn(2, 3, 16, 2))
    with pytest.raises(AssertionError, match="features"):
        model(torch.randn(2, 3, 17, 3))
    with pytest.raises(AssertionError, match=r"\(batch, frames"):
        model(torch.randn(3, 17, 2))
    model.set_bn_momentum(0.3)
    assert all(m.momentum == 0.3 for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    sixteen = create_model("semgcn", num_joints=16, hid_dim=8, num_layers=1, non_local=True).eval()
    with torch.no_grad():
        assert sixteen(torch.randn(1, 2, 16, 2)).shape == (1, 2, 16, 3)


@pytest.mark.parametrize("non_local", [False, True])
def test_frames_are_independent_in_eval_mode(non_local):
    torch.manual_seed(0)
    model = create_model("semgcn", hid_dim=8, num_layers=1, non_local=non_local).train()
    with torch.no_grad():  # a training pass gives BN (and the non-local BN) non-trivial statistics
        for m in model.modules():
            if isinstance(m, GroupedNonLocal):
                m.bn.weight.fill_(1.0)
        model(torch.randn(4, 3, 17, 2))
    model.eval()
    x = torch.randn(2, 3, 17, 2)
    with torch.no_grad():
        base = model(x)
        y = x.clone()
        y[:, 0] += 1.0
        changed = (model(y) - base).abs().amax(dim=(0, 2, 3)) > 0
    assert changed.tolist() == [True, False, False]


def test_dropout_option():
    assert not any(isinstance(m, nn.Dropout) for m in create_model("semgcn", hid_dim=4).modules())
    model = create_model("semgcn", hid_dim=4, num_layers=2, dropout=0.25)
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 + 2 * 2 and all(m.p == 0.25 for m in drops)


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    model = create_model("semgcn", hid_dim=16, num_layers=1, non_local=True).train()
    x, target = torch.randn(16, 1, 17, 2), torch.randn(16, 1, 17, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = F.mse_loss(model(x), target)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("opts", [dict(num_joints=15), dict(num_joints=0), dict(hid_dim=1), dict(num_layers=-1),
                                  dict(num_layers=1.5), dict(dropout=1.0), dict(dropout="x"),
                                  dict(non_local="yes"), dict(nonlocal_groups="pairs"), dict(bogus=1)])
def test_bad_options(opts):
    with pytest.raises(ConfigError):
        create_model("semgcn", **opts)


def test_registry_metadata():
    entry = get_entry("semgcn")
    assert "Zhao" in entry.citation and "CVPR 2019" in entry.citation
    # The official README's numbers (no reported table holds them yet) are cited in the entry's source text.
    for number in ("42.14/33.53", "40.78/31.46", "61.24/47.71"):
        assert number in entry.paper
    assert entry.defaults == {"num_joints": 17, "hid_dim": 128, "num_layers": 4, "non_local": False,
                              "dropout": 0.0, "nonlocal_groups": "merge"}
    with torch.device("meta"):
        for name, expected in [("paper16", 267_343), ("paper16_nonlocal", 434_703), ("h36m17", 267_373),
                               ("h36m17_nonlocal", 434_733)]:
            assert count_parameters(create_model("semgcn", **entry.presets[name])) == expected
