"""Inference rewrites for latency tables (bench.inference_opt): BatchNorm folding, torch.compile, checks."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.contract import model_contract
from bench.errors import ConfigError
from bench.inference_opt import fuse_batchnorm, inductor_problem, optimize_for_inference
from bench.registry import create_model, get_entry, list_models


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters (folds that are wrong show)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                if m.affine:
                    m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    m.bias.copy_(torch.rand(n, generator=gen) * 2 - 1)
    return model.eval()


def _bns(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def _fuse(model, x):
    model = _randomise_bn(model)
    fused, info = optimize_for_inference(model, "fuse_bn", x)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-5)
    return fused, info


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(6, 12, 3, stride=2, dilation=2, groups=3, bias=False)
        self.bn1 = nn.BatchNorm1d(12)
        self.conv2 = nn.Conv2d(12, 8, (3, 1), padding=(1, 0))
        self.bn2 = nn.BatchNorm2d(8)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(h[..., None]))


class LinearBN(nn.Module):
    """Linear -> BN on (N, C), and a channels-last Linear whose output features BN normalises via a view."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(5, 7)
        self.bn1 = nn.BatchNorm1d(7)
        self.fc2 = nn.Linear(7, 9, bias=False)
        self.bn2 = nn.BatchNorm1d(9)

    def forward(self, x):  # (N, L, 5)
        n, length, _ = x.shape
        h = F.relu(self.bn1(self.fc1(x.reshape(n * length, 5)))).reshape(n, length, 7)
        y = self.fc2(h)  # (N, L, 9): BN over the features needs (N, 9, L)
        return self.bn2(y.transpose(1, 2)).transpose(1, 2)


def test_conv_and_linear_batchnorms_fold_and_disappear():
    for model, x in ((ConvBN(), torch.randn(2, 6, 21)), (LinearBN(), torch.randn(3, 4, 5))):
        fused, info = _fuse(model, x)
        assert info["folded"] == info["bn_total"] == 2 and not info["skipped"]
        assert _bns(fused) == 0 and _bns(model) == 2  # the original keeps its BatchNorms
        assert info["verified_max_rel_diff"] < 1e-5 and info["verified_folds_max_rel_diff"] < 1e-5


def test_linear_bias_added_only_where_a_fold_needs_it():
    model = LinearBN()
    fused, _ = _fuse(model, torch.randn(3, 4, 5))
    assert model.fc2.bias is None and fused.fc2.bias is not None


class WrongAxis(nn.Module):
    """BatchNorm1d(L) on a Linear's (N, L, C) output normalises axis L, not the Linear's features."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)
        self.bn = nn.BatchNorm1d(5)

    def forward(self, x):  # (N, 5, 4)
        return self.bn(self.fc(x))


class Residual(nn.Module):
    """The conv output feeds the BatchNorm and a residual: folding would change the residual."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 1)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y


class InPlaceBefore(nn.Module):
    """An in-place op on the conv output before the BatchNorm (the BN input is the same tensor object)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 1)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        y = self.conv(x)
        y.add_(x)
        return self.bn(y)


class Functional(nn.Module):
    """The layer's weight used functionally with an explicit bias=None (VideoPose3D's strided path)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 3, bias=False)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn(F.conv1d(x, self.conv.weight, None, stride=3))


class Shared(nn.Module):
    """One conv used twice, each time with its own BatchNorm."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 4, 1)
        self.bn1, self.bn2 = nn.BatchNorm1d(4), nn.BatchNorm1d(4)

    def forward(self, x):
        return self.bn1(self.conv(x)) + self.bn2(self.conv(x * 2))


@pytest.mark.parametrize("model, x, reason", [
    (WrongAxis(), torch.randn(2, 5, 4), "channels"),
    (Residual(), torch.randn(2, 4, 6), "also read by add"),
    (InPlaceBefore(), torch.randn(2, 4, 6), "also read by add_"),
    (Functional(), torch.randn(2, 4, 9), "bias=None"),
    (Shared(), torch.randn(2, 4, 6), "more than one call"),
], ids=["wrong_axis", "residual", "in_place", "functional_no_bias", "shared_weight"])
def test_unsafe_pairs_are_left_alone_and_outputs_stay_equal(model, x, reason):
    fused, info = _fuse(model, x)
    assert info["folded"] == 0 and _bns(fused) == info["bn_total"]
    assert all(reason in why for why in info["skipped"].values()), info["skipped"]


class ZeroHead(ConvBN):
    """ConvBN with a zero-initialised output head: the model's output does not depend on the folds."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(8, 3, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x):
        return self.head(super().forward(x))


@pytest.mark.parametrize("model", [ConvBN(), ZeroHead()], ids=["conv_bn", "zero_head"])
def test_a_wrong_fold_is_an_error_not_a_model(monkeypatch, model):
    """Each fold is checked where it happens, so a wrong fold is caught even when the output hides it."""
    import bench.inference_opt as opt

    def bad_fold(pair):
        with torch.no_grad():
            pair.weight.mul_(2)

    monkeypatch.setattr(opt, "_fold", bad_fold)
    with pytest.raises(ConfigError, match="does not reproduce its output"):
        optimize_for_inference(_randomise_bn(model), "fuse_bn", torch.randn(2, 6, 21))


def test_a_changed_output_is_an_error_not_a_model(monkeypatch):
    import bench.inference_opt as opt

    monkeypatch.setattr(opt, "verify_folds", lambda *a: 0.0)
    monkeypatch.setattr(opt, "_fold", lambda pair: pair.weight.data.mul_(2))
    with pytest.raises(ConfigError, match="changed the model's outputs"):
        optimize_for_inference(_randomise_bn(ConvBN()), "fuse_bn", torch.randn(2, 6, 21))


def test_fused_copy_refuses_shapes_it_was_not_verified_on():
    model = _randomise_bn(create_model("videopose3d", receptive_field=9, channels=8))
    fused, info = optimize_for_inference(model, "fuse_bn", [torch.randn(1, 13, 17, 2), torch.randn(3, 13, 17, 2)])
    assert info["folded"] == info["bn_total"] == 3  # dilated path: every conv is a module call
    with torch.no_grad():
        fused(torch.randn(5, 13, 17, 2))  # another batch size is fine
        with pytest.raises(ValueError, match="verified for inputs"):
            fused(torch.randn(1, 9, 17, 2))  # the strided path would use the folded weights without the bias


def _tiny_options(name: str) -> dict:
    """The smoke-scale model options of the latency protocol that the model accepts."""
    from bench.protocols import load_protocol

    smoke = load_protocol("models.latency").scale_config("smoke")
    defaults = get_entry(name).defaults
    opts = {k.split(".", 2)[2]: v for k, v in smoke.items()
            if k.startswith("model.options.") and k.split(".", 2)[2] in defaults}
    if "receptive_field" in defaults:
        opts["receptive_field"] = 27
    return opts


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_keeps_its_outputs_when_fused(name):
    torch.manual_seed(0)
    model = _randomise_bn(create_model(name, **_tiny_options(name)))
    c = model_contract(model)
    rf = c.receptive_field
    step = 16 if name == "ugcn" else 2  # lengths a model accepts beyond its window
    for frames in (rf, rf + step) if not c.seq2seq else (rf,):
        x = torch.randn(2, frames, c.num_joints_in, c.in_features)
        fused, info = optimize_for_inference(model, "fuse_bn", x)
        assert info["verified_max_rel_diff"] <= 1e-4 and info["verified_folds_max_rel_diff"] <= 1e-4
        assert info["folded"] + len(info["skipped"]) == info["bn_total"] == _bns(model)
        assert _bns(fused) == info["bn_total"] - info["folded"]


def test_modes_and_one_line_errors():
    model = LinearBN().eval()
    x = torch.randn(2, 3, 5)
    same, info = optimize_for_inference(model, "none", x)
    assert same is model and info == {"mode": "none"}
    with pytest.raises(ConfigError, match="unknown optimize mode 'fast'; use one of none, fuse_bn, compile"):
        optimize_for_inference(model, "fast", x)
    with pytest.raises(ConfigError, match="eval-mode"):
        optimize_for_inference(LinearBN().train(), "fuse_bn", x)


def test_compile_without_a_cpp_compiler_is_one_config_error_line(monkeypatch):
    import bench.inference_opt as opt

    monkeypatch.setattr(opt.shutil, "which", lambda _name: None)
    with pytest.raises(ConfigError) as err:
        optimize_for_inference(LinearBN().eval(), "compile", torch.randn(2, 3, 5))
    assert "needs a C++ compiler for inductor on CPU; none found" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.slow
def test_compile_works_or_says_why_in_one_line():
    model = _randomise_bn(LinearBN())
    x = torch.randn(2, 3, 5)
    problem = inductor_problem("cpu")
    if problem:
        with pytest.raises(ConfigError, match="profile.optimize=compile"):
            optimize_for_inference(model, "compile", x)
        return
    compiled, info = optimize_for_inference(model, "compile", [x, torch.randn(4, 3, 5)])
    assert info["mode"] == "compile" and info["folded"] == 2 and len(info["compile_s"]) == 2
    with torch.inference_mode():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_fuse_batchnorm_leaves_the_original_untouched():
    model = _randomise_bn(ConvBN())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fuse_batchnorm(model, [torch.randn(2, 6, 21)])
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


# -- through the profiler, the engine and the CLI ----------------------------------------------------------

TINY_MARTINEZ = {"linear_size": 32}


def test_profile_model_reports_optimized_and_as_is_side_by_side():
    import json

    from bench.profiling import format_profile, profile_model

    plain = profile_model("martinez", TINY_MARTINEZ, batch_size=4, warmup=0, repeats=3)
    fused = profile_model("martinez", TINY_MARTINEZ, batch_size=4, warmup=0, repeats=3, optimize="fuse_bn")
    assert plain["optimize"] == "none" and plain["asis"] is None
    # parameters and FLOPs are the architecture's, whatever is timed
    assert fused["params"] == plain["params"] and fused["flops_per_frame"] == plain["flops_per_frame"]
    assert fused["optimize_info"]["folded"] == fused["optimize_info"]["bn_total"] == 5
    assert fused["asis"]["latency_ms"]["repeats"] == fused["latency_ms"]["repeats"] == 3
    assert fused["asis"]["throughput_fps"] > 0 and fused["asis"]["batch_ms"]["median"] > 0
    json.dumps(fused)
    text = format_profile(fused)
    assert "latency, batch 1 (fuse_bn)" in text and "latency, batch 1 (as is)" in text
    assert "5 of 5 BatchNorm(s) folded" in text and "time fuse_bn / as is" in text


def test_profile_record_keeps_the_asked_setting_and_adds_as_is_metrics(tmp_path):
    from bench.config import config_hash, hash_view, resolve
    from bench.cells import execute

    base = {"model.name": "martinez", "model.options.linear_size": 32, "run.kind": "profile",
            "profile.batch_size": 3, "profile.warmup": 0, "profile.repeats": 2}
    assert "optimize" not in hash_view(resolve(base))["profile"]  # existing ids stay
    cfg = resolve({**base, "profile.optimize": "fuse_bn"})
    assert config_hash(hash_view(cfg)) != config_hash(hash_view(resolve(base)))
    rec = execute(cfg, protocol="toy.latency", scale="smoke", runs_dir=tmp_path)
    m = rec["metrics"][""]
    assert m["ms_per_frame"] == pytest.approx(m["latency_ms"]) and m["ms_per_frame_asis"] > 0
    assert m["throughput_fps_asis"] == pytest.approx(3 * 1000 / m["batch_ms_asis"])
    assert rec["profile"]["optimize"] == "fuse_bn" and rec["profile"]["optimize_info"]["folded"] == 5
    with pytest.raises(ConfigError, match="profile.optimize must be one of none, fuse_bn, compile"):
        resolve({**base, "profile.optimize": "fast"})


def test_cli_profile_optimize_prints_both_timings(capsys):
    from bench.cli import main

    code = main(["profile", "martinez", "--set", "linear_size=32", "--batch", "2", "--repeats", "2",
                 "--warmup", "0", "--optimize", "fuse_bn"])
    out = capsys.readouterr().out
    assert code == 0
    assert "latency, batch 1 (fuse_bn)" in out and "latency, batch 1 (as is)" in out
    assert "batch of 2 windows (fuse_bn)" in out and "batch of 2 windows (as is)" in out


@pytest.mark.parametrize("argv, needle", [
    (["profile", "martinez", "--optimize", "fast"], "unknown optimize mode 'fast'"),
    (["profile", "martinez", "--train", "--optimize", "fuse_bn"], "--optimize applies to inference latency"),
])
def test_cli_bad_optimize_is_one_line(capsys, argv, needle):
    from bench.cli import main

    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert needle in err
