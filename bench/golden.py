"""``bench check``: the CI regression check.

For every registered model with a golden entry (results/golden/<model>.yaml) it trains the entry's
smoke-scale experiment with its fixed seed and compares the metrics with the recorded values within
the stated tolerance, the parameter count exactly and the FLOPs per frame of one receptive-field window
within 1 %; for every registered model it rebuilds each preset with published parameter metadata and
compares the count exactly. Prints a table of what it compared.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from bench.config import resolve
from bench.errors import ConfigError, DataError
from bench.filecheck import check_keys
from bench.paths import reference_dir
from bench.records import write_text_atomic
from bench.yamlio import load as load_yaml

#: Committed golden entries (an input of the source tree, like protocols/: not moved by --results).
GOLDEN_DIR = reference_dir("golden")
_KEYS = {"model", "description", "experiment", "expected", "tolerance_mm"}
FLOPS_RTOL = 0.01  # FLOPs per frame may move this much (relative) before the check fails


def load_golden(path: Path) -> dict:
    try:
        g = load_yaml(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise DataError(f"{path}: unreadable golden entry ({e})") from None
    if not isinstance(g, dict):
        raise DataError(f"{path}: expected a mapping")
    check_keys(g, _KEYS, str(path), required=("model", "experiment", "tolerance_mm"))
    return g


def param_checks(models: list[str] | None = None) -> list[dict]:
    """Rebuild each preset that has a published parameter count; exact comparison."""
    import torch

    from bench.registry import metadata_options
    from bench.registry import create_model, get_entry, list_models

    rows = []
    for name in models or list_models():
        entry = get_entry(name)
        for preset, expected in entry.params.items():
            opts = metadata_options(name, preset)
            with torch.device("meta"):
                model = create_model(name, **opts)
            got = sum(p.numel() for p in model.parameters())
            rows.append({"check": f"{name} params ({preset})", "expected": expected, "got": got,
                         "tolerance": "exact", "ok": got == expected})
    return rows


def model_flops(cfg: dict) -> float:
    """FLOPs per output frame (``bench.flops``, 2 per multiply-add) of the config's model on one batch-1
    window of its receptive field: the single-window cost, the same path ``bench profile`` counts."""
    import torch

    from bench.contract import model_contract
    from bench.flops import flops_per_frame
    from bench.registry import create_model

    torch.manual_seed(cfg["seed"])
    model = create_model(cfg["model"]["name"], **cfg["model"]["options"])
    c = model_contract(model, cfg["model"]["name"])
    shape = (1, c.receptive_field, c.num_joints_in, c.in_features)
    return round(flops_per_frame(model, shape), 1)


def plan_golden(models: list[str] | None = None, golden_dir: Path = GOLDEN_DIR) -> list[tuple[Path, dict, dict]]:
    """(file, entry, resolved experiment) of each golden entry (of ``models``), every experiment checked
    by the planner's preflight (model, recipe, data split and joints) before any of them trains, so a
    broken entry fails in seconds rather than after the others' training."""
    from bench.planning import preflight

    planned = []
    for path in sorted(Path(golden_dir).glob("*.yaml")):
        g = load_golden(path)
        if models and g["model"] not in models:
            continue
        cfg = resolve({"model.name": g["model"]}, g["experiment"], where=str(path))
        preflight(cfg, where=str(path), data=True)
        planned.append((path, g, cfg))
    return planned


def golden_checks(models: list[str] | None = None, update: bool = False, log=print,
                  golden_dir: Path = GOLDEN_DIR) -> list[dict]:
    from bench.engine.experiment import run_experiment

    rows = []
    for path, g, cfg in plan_golden(models, golden_dir):
        log(f"check: training {path.stem} (smoke, seed {cfg['seed']})")
        with tempfile.TemporaryDirectory() as tmp:
            rec = run_experiment(cfg, runs_dir=tmp)
        got = rec["metrics"][""]
        flops = model_flops(cfg)
        if update:
            g["expected"] = {k: round(got[k], 3) for k in ("mpjpe", "p_mpjpe") if k in got}
            g["expected"]["params"] = rec["params"]
            g["expected"]["flops_per_frame"] = flops
            write_text_atomic(path, yaml.safe_dump(g, sort_keys=False))
        exp = g.get("expected") or {}
        if not exp:
            raise ConfigError(f"{path}: no expected values; run `bench check --update`")
        tol = float(g["tolerance_mm"])
        for k, v in exp.items():
            if k == "params":
                rows.append({"check": f"{path.stem} smoke params", "expected": v, "got": rec["params"],
                             "tolerance": "exact", "ok": rec["params"] == v})
            elif k == "flops_per_frame":
                rows.append({"check": f"{path.stem} smoke FLOPs/frame", "expected": v, "got": flops,
                             "tolerance": f"±{FLOPS_RTOL:.0%}", "ok": abs(flops - v) <= FLOPS_RTOL * abs(v)})
            else:
                rows.append({"check": f"{path.stem} smoke {k} (mm)", "expected": v, "got": round(got[k], 3),
                             "tolerance": f"±{tol}", "ok": abs(got[k] - v) <= tol})
    return rows


def format_rows(rows: list[dict]) -> str:
    from tabulate import tabulate

    def fmt(v):
        return f"{v:,}" if isinstance(v, int) else f"{v:.3f}" if isinstance(v, float) else str(v)

    body = [[("ok" if r["ok"] else "FAIL"), r["check"], fmt(r["expected"]), fmt(r["got"]), r["tolerance"]]
            for r in rows]
    return tabulate(body, headers=["", "check", "expected", "got", "tolerance"], tablefmt="github",
                    disable_numparse=True)


def run_check(models: list[str] | None = None, update: bool = False, log=print) -> bool:
    rows = param_checks(models) + golden_checks(models, update, log)
    log(format_rows(rows))
    failed = [r for r in rows if not r["ok"]]
    if failed:
        for r in failed:
            log(f"FAILED {r['check']}: expected {r['expected']}, got {r['got']} ({r['tolerance']})")
    else:
        log(f"all {len(rows)} checks passed")
    return not failed
