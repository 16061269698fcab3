"""bench check: parameter counts against the registry, golden MPJPE within tolerance."""
import shutil

import pytest
import yaml

from bench.errors import ConfigError
from bench.golden import GOLDEN_DIR, golden_checks, param_checks


def test_every_published_parameter_count_matches():
    rows = param_checks()
    assert len(rows) >= 6 and all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]


def test_golden_check_passes_then_fails_on_a_shifted_value(tmp_path):
    shutil.copy(GOLDEN_DIR / "videopose3d.yaml", tmp_path / "videopose3d.yaml")
    rows = golden_checks(["videopose3d"], log=lambda m: None, golden_dir=tmp_path)
    assert rows and all(r["ok"] for r in rows)
    g = yaml.safe_load((tmp_path / "videopose3d.yaml").read_text())
    g["expected"]["mpjpe"] += 2 * g["tolerance_mm"]
    (tmp_path / "videopose3d.yaml").write_text(yaml.safe_dump(g))
    rows = golden_checks(["videopose3d"], log=lambda m: None, golden_dir=tmp_path)
    bad = [r for r in rows if not r["ok"]]
    assert len(bad) == 1 and "mpjpe" in bad[0]["check"]


def test_golden_flops_tolerance_is_one_percent(tmp_path):
    shutil.copy(GOLDEN_DIR / "martinez.yaml", tmp_path / "martinez.yaml")
    g = yaml.safe_load((tmp_path / "martinez.yaml").read_text())
    recorded = g["expected"]["flops_per_frame"]
    assert recorded > 0
    for factor, ok in ((1.005, True), (1.02, False)):
        g["expected"]["flops_per_frame"] = recorded * factor
        (tmp_path / "martinez.yaml").write_text(yaml.safe_dump(g))
        rows = golden_checks(["martinez"], log=lambda m: None, golden_dir=tmp_path)
        (row,) = [r for r in rows if "FLOPs" in r["check"]]
        assert row["ok"] is ok and row["got"] == recorded and row["tolerance"] == "±1%"


def test_every_registered_model_has_a_golden_entry_with_flops():
    from bench.registry import list_models

    for name in list_models():
        g = yaml.safe_load((GOLDEN_DIR / f"{name}.yaml").read_text())
        assert g["model"] == name and g["expected"]["flops_per_frame"] > 0


def test_a_broken_entry_fails_before_any_entry_trains(tmp_path):
    """Every entry is resolved and preflighted (model, recipe, data) first: a recipe the model cannot take
    fails in seconds, naming its file, and no other entry has trained."""
    shutil.copy(GOLDEN_DIR / "martinez.yaml", tmp_path / "martinez.yaml")
    g = yaml.safe_load((GOLDEN_DIR / "videopose3d.yaml").read_text())
    g["experiment"]["train.motion_loss.intervals"] = [8]  # one output frame per window: no interval fits
    (tmp_path / "videopose3d.yaml").write_text(yaml.safe_dump(g))
    logged = []
    with pytest.raises(ConfigError, match=r"videopose3d\.yaml: train\.motion_loss\.intervals: interval 8"):
        golden_checks(log=logged.append, golden_dir=tmp_path)
    assert logged == []  # martinez (sorted first) did not train
