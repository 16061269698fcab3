"""Parameter and FLOP counting, registry metadata checks, and the profiler."""
import json

import pytest
import torch
from torch import nn

from bench.errors import ConfigError
from bench.flops import count_flops, count_parameters, flops_per_frame
from bench.profiling import format_profile, profile_model
from bench.registry import (create_model, get_entry, list_models, match_reported_params, metadata_options,
                            parse_options_key, resolve_options)


class TinyLinear(nn.Module):
    """(B, T, 2, 2) -> (B, T, 2, 3), one Linear(4, 6) per frame."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x):
        b, t = x.shape[:2]
        return self.fc(x.reshape(b * t, 4)).reshape(b, t, 2, 3)


class TinyConv(nn.Module):
    """(B, T, 2, 2) -> (B, T - 2, 2, 3), one Conv1d(4, 6, kernel 3) over time."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3)

    def forward(self, x):
        b, t = x.shape[:2]
        y = self.conv(x.reshape(b, t, 4).transpose(1, 2))
        return y.transpose(1, 2).reshape(b, t - 2, 2, 3)


def test_count_parameters():
    model = TinyLinear()
    assert count_parameters(model) == 4 * 6 + 6
    model.fc.bias.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 24


def test_flops_of_tiny_models_by_hand():
    # One multiply-add = 2 FLOPs; biases are not counted by torch's flop counter.
    assert flops_per_frame(TinyLinear(), (3, 5, 2, 2)) == 2 * 4 * 6
    assert count_flops(TinyLinear(), (3, 5, 2, 2)) == (3 * 5 * 2 * 4 * 6, 15)
    assert flops_per_frame(TinyConv(), (2, 10, 2, 2)) == 2 * 4 * 6 * 3
    assert count_flops(TinyConv(), (2, 10, 2, 2)) == (2 * 8 * 2 * 4 * 6 * 3, 16)


def test_flop_count_restores_training_mode():
    model = TinyLinear().train()
    flops_per_frame(model, (1, 1, 2, 2))
    assert model.training


def _params_cases():
    cases = []
    for name in list_models():
        for key, value in get_entry(name).params.items():
            cases.append(pytest.param(name, key, value, id=f"{name}[{key}]"))
    return cases


@pytest.mark.parametrize("name, key, expected", _params_cases())
def test_registry_params_equal_recomputed_counts(name, key, expected):
    """Every published/reference parameter count attached to a registry entry is recomputed."""
    model = create_model(name, **metadata_options(name, key))
    assert count_parameters(model) == expected


@pytest.mark.parametrize("name", list_models())
def test_registry_metadata_keys_are_valid_options(name):
    entry = get_entry(name)
    for key in entry.params:
        resolve_options(name, metadata_options(name, key))
    for preset in entry.presets.values():
        resolve_options(name, preset)
    # Published metrics live only in results/reported/<paper>.yaml, which the tables read.
    assert not hasattr(entry, "reported")


def test_parse_options_key():
    assert parse_options_key("receptive_field=63, filter_widths=(3, 3, 7)") == \
        {"receptive_field": 63, "filter_widths": (3, 3, 7)}
    assert parse_options_key("causal=True") == {"causal": True}
    for bad in ("27f", "receptive_field=", "x=len('a')"):
        with pytest.raises(ValueError):
            parse_options_key(bad)


def test_match_reported_params():
    exact = match_reported_params("videopose3d", {"receptive_field": 81})
    assert exact == {"key": "receptive_field=81", "params": 12_753_971, "match": "exact"}
    partial = match_reported_params("videopose3d", {"receptive_field": 243, "causal": True})
    assert partial["params"] == 16_952_371 and "causal" in partial["match"]
    specific = match_reported_params("videopose3d", {"receptive_field": 63, "filter_widths": [3, 3, 7]})
    assert specific["params"] == 12_749_875
    assert match_reported_params("videopose3d", {"receptive_field": 9})["key"] is None


def test_profile_model_on_tiny_config(tmp_path):
    result = profile_model("videopose3d", {"receptive_field": 27, "channels": 16}, batch_size=4,
                           warmup=1, repeats=3, threads=1, trace_dir=str(tmp_path / "tb"))
    json.dumps(result)
    for key in ("params", "reported_params", "params_diff", "flops_per_frame", "latency_ms",
                "latency_per_frame_ms", "batch_ms", "throughput_fps", "dtype", "device", "device_name",
                "torch_version", "threads"):
        assert key in result
    assert result["params"] == count_parameters(create_model("videopose3d", receptive_field=27, channels=16))
    assert result["reported_params"] is None  # channels=16 has no published count
    assert result["forward_path"] == "strided" and result["output_frames_per_window"] == 1
    assert result["threads"] == 1 and result["device"] == "cpu" and result["dtype"] == "float32"
    lat = result["latency_ms"]
    assert 0 < lat["p25"] <= lat["median"] <= lat["p75"] and lat["repeats"] == 3
    assert result["throughput_fps"] == pytest.approx(4 * 1000 / result["batch_ms"]["median"])
    assert result["trace_files"] and all(f.endswith(".json") for f in result["trace_files"])
    text = format_profile(result)
    assert "videopose3d" in text and "FLOPs" in text


def test_profile_model_whole_sequence_and_reported_params():
    result = profile_model("martinez", {"num_joints_in": 16, "num_joints_out": 16}, batch_size=0,
                           seq_len=10, warmup=0, repeats=2)
    assert result["params"] == result["reported_params"] == 4_291_632 and result["params_diff"] == 0
    assert result["reported_params_match"] == "exact"
    assert result["output_frames_per_window"] == 10
    assert result["latency_per_frame_ms"] == pytest.approx(result["latency_ms"]["median"] / 10)
    assert result["batch_ms"] is None and result["throughput_fps"] is None
    assert result["flops_per_frame"] == 2 * (32 * 1024 + 4 * 1024 * 1024 + 1024 * 48)
    format_profile(result)


def test_profile_model_restores_threads():
    before = torch.get_num_threads()
    profile_model("martinez", {"linear_size": 16}, batch_size=2, warmup=0, repeats=1, threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
def test_cuda_without_cuda_is_one_line_config_error():
    with pytest.raises(ConfigError, match="CUDA is not available") as err:
        profile_model("martinez", {"linear_size": 16}, device="cuda")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs", [dict(device="tpu"), dict(dtype="int8"), dict(seq_len=5),
                                    dict(batch_size=-1), dict(repeats=0)])
def test_profile_model_bad_input(kwargs):
    opts = {"receptive_field": 27, "channels": 8}
    with pytest.raises(ConfigError):
        profile_model("videopose3d", opts, **{"warmup": 0, "repeats": 1, "batch_size": 1, **kwargs})


def test_eval_memory_counts_windows_per_forward_in_fresh_processes():
    from bench.profiling import eval_memory, format_eval_memory

    rows = eval_memory("ugcn", {"widths": [4, 4, 4, 4, 4], "merge_channels": 4}, [300, 1200],
                       batch_frames=960, flip=False)
    assert [r["frames"] for r in rows] == [300, 1200]
    # 96-frame windows every 5 frames: 300 frames give 43 windows (< 10 per batch only in the last batch),
    # 1200 frames 222; never more than 960 // 96 = 10 in one forward pass
    assert [r["max_windows_per_forward"] for r in rows] == [10, 10]
    assert all(r["peak_rss_mb"] > 0 and r["seconds"] > 0 for r in rows)
    assert "1,200" in format_eval_memory(rows)
    with pytest.raises(ConfigError, match="unknown option"):
        eval_memory("ugcn", {"width": 4}, [100])
    with pytest.raises(ConfigError, match="positive integers"):
        eval_memory("ugcn", {}, [0])


def test_interleaved_timing_alternates_and_summarises_each_function():
    from bench.timing import time_calls_interleaved

    order = []
    a, b = time_calls_interleaved([lambda: order.append("a"), lambda: order.append("b")], warmup=1, repeats=4,
                                  dev=torch.device("cpu"))
    assert order == ["a", "b", "a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up, then a b | b a | ...
    assert a["repeats"] == b["repeats"] == 4 and a["p25"] <= a["median"] <= a["p75"]


def test_profile_model_unknown_optimize_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown optimize mode"):
        profile_model("martinez", {"linear_size": 32}, optimize="fast")
