"""Profile runs (run.kind: profile): no training, timing metrics and model facts in an ordinary run record."""
import json

import pytest

from bench.config import config_hash, hash_view, resolve
from bench.profile_cells import profile_device
from bench.cells import execute
from bench.errors import ConfigError
from bench.flops import count_parameters
from bench.records import load_records
from bench.registry import create_model

TINY = {"model.name": "videopose3d", "model.options.receptive_field": 9, "model.options.channels": 16,
        "run.kind": "profile", "profile.batch_size": 3, "profile.warmup": 0, "profile.repeats": 2}


def test_profile_record_has_timings_and_exact_model_facts(tmp_path):
    cfg = resolve(TINY)
    rec = execute(cfg, protocol="toy.latency", scale="smoke", runs_dir=tmp_path)
    m = rec["metrics"][""]
    assert m["ms_per_frame"] > 0 and m["throughput_fps"] > 0
    # batch-1 latency of a conv model with one output frame per window is the per-frame latency
    assert m["ms_per_frame"] == pytest.approx(m["latency_ms"])
    assert m["throughput_fps"] == pytest.approx(3 * 1000 / m["batch_ms"])
    assert rec["params"] == count_parameters(create_model("videopose3d", receptive_field=9, channels=16))
    assert rec["flops_per_frame"] > 0 and rec["curve"] == [] and rec["epochs"] == 0
    assert rec["profile"]["device"] == "cpu" and rec["profile"]["repeats"] == 2
    (stored,) = load_records(tmp_path, "toy.latency", "smoke")
    assert stored["id"] == rec["id"] and json.dumps(stored)


def test_profile_keys_at_default_leave_the_experiment_hash_unchanged():
    plain = resolve({"model.name": "martinez"})
    view = hash_view(plain)
    assert "run" not in view and "profile" not in view  # records written before these keys keep their ids
    prof = resolve({"model.name": "martinez", "run.kind": "profile"})
    assert config_hash(hash_view(prof)) != config_hash(view)
    assert hash_view(resolve({"model.name": "martinez", "profile.repeats": 5}))["profile"] == {"repeats": 5}


def test_profile_options_are_validated():
    with pytest.raises(ConfigError, match="run.kind must be one of train, profile"):
        resolve({"run.kind": "bench"})
    with pytest.raises(ConfigError, match="profile.repeats"):
        resolve({"profile.repeats": 0})
    assert profile_device("cpu") == "cpu"
    assert profile_device("auto") in ("cpu", "cuda")


def test_profile_record_says_whether_deterministic_algorithms_were_on_whatever_ran_before(tmp_path):
    """A sweep process that trained a cell (seed_everything turns deterministic algorithms on) and then
    profiles one must not time, or record, the inherited setting: profile.deterministic decides."""
    import torch

    from bench.engine.seed import seed_everything

    seed_everything(0)  # what a training cell earlier in the same process leaves behind
    assert torch.are_deterministic_algorithms_enabled()
    off = execute(resolve(TINY), protocol="toy.latency", scale="smoke", runs_dir=tmp_path)
    on = execute(resolve({**TINY, "profile.deterministic": True}), protocol="toy.latency",
                        scale="smoke", runs_dir=tmp_path)
    assert off["determinism"]["deterministic_algorithms"] is False
    assert off["determinism"]["cudnn_deterministic"] is False
    assert on["determinism"]["deterministic_algorithms"] is True and on["id"] != off["id"]
    assert torch.are_deterministic_algorithms_enabled()  # the process's own setting is restored


def test_cuda_determinism_flags_name_every_source_of_gpu_nondeterminism(monkeypatch):
    """What a GPU record carries (the flags are readable on a CPU-only build too)."""
    import torch

    from bench.engine.seed import determinism_flags, deterministic_mode

    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with deterministic_mode(True):
        flags = determinism_flags("cuda:0")
        assert flags["deterministic_algorithms"] and flags["cudnn_deterministic"] and not flags["cudnn_benchmark"]
    assert flags["device"] == "cuda:0" and flags["cublas_workspace_config"] == ":16:8"
    assert flags["tf32_matmul"] == torch.backends.cuda.matmul.allow_tf32 and "cudnn" in flags and "cuda" in flags
    assert "device" not in determinism_flags("cpu")  # CPU records keep their old keys
    before = torch.are_deterministic_algorithms_enabled()
    with deterministic_mode(None):  # leaves the process alone
        assert torch.are_deterministic_algorithms_enabled() is before
