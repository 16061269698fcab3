"""Experiments: the resolved configuration of one training + evaluation run.

An experiment = model options + training recipe + dataset + evaluation protocol + seed
(design.md, "Experiment"). Every field has a documented default below; a protocol or ``--set``
gives partial overrides with dotted keys (``train.epochs=5``). The resolved form (every default
filled in, model options completed from the registry) has a stable hash that names its run record.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import math
import re
from typing import Any, Callable

import yaml

from bench.dotted import del_dotted, get_dotted
from bench.dotted import flatten as _flatten
from bench.dotted import set_dotted as _set_dotted
from bench.errors import ConfigError
from bench.yamlio import load as load_yaml

# Each leaf: (default, validator, doc). Validators return an error string or None.


def _int_min(lo):
    return lambda v: None if isinstance(v, int) and not isinstance(v, bool) and v >= lo else f"an integer >= {lo}"


def _opt_int_min(lo):
    check = _int_min(lo)
    return lambda v: None if v is None or check(v) is None else f"null or an integer >= {lo}"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _num_min(lo, strict=False):
    def check(v):
        ok = _finite(v) and (v > lo if strict else v >= lo)
        return None if ok else f"a finite number {'>' if strict else '>='} {lo}"
    return check


def _choice(*options):
    return lambda v: None if v in options else f"one of {', '.join(map(str, options))}"


def _bool(v):
    return None if isinstance(v, bool) else "true or false"


def _str(v):
    return None if isinstance(v, str) and v else "a non-empty string"


def _device(v):
    ok = isinstance(v, str) and (v in ("cpu", "cuda", "auto") or re.fullmatch(r"cuda:\d+", v) is not None)
    return None if ok else "cpu, cuda, cuda:N or auto"


def _opt_str_list(v):
    ok = v is None or (isinstance(v, list) and all(isinstance(x, str) for x in v))
    return None if ok else "null or a list of strings"


def _str_list(v):
    return None if isinstance(v, list) and all(isinstance(x, str) for x in v) else "a list of strings"


def _int_list(lo):
    def check(v):
        ok = isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= lo for x in v)
        return None if ok and len(set(v)) == len(v) else f"a list of distinct integers >= {lo}"
    return check


def _increasing_int_list(v):
    ok = isinstance(v, list) and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in v)
    return None if ok and all(a < b for a, b in zip(v, v[1:])) else "an increasing list of integers >= 1"


def _operators(v):
    from bench.losses import parse_operators

    try:
        parse_operators(v)
    except ConfigError as e:
        return str(e).split(": ", 1)[-1]
    return None


def _fraction(v):
    ok = _finite(v) and 0 < v <= 1
    return None if ok else "a number in (0, 1]"


def _holdout_fraction(v):
    ok = _finite(v) and 0 <= v < 0.5
    return None if ok else "a number in [0, 0.5)"


METRICS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc")

SCHEMA: dict[str, tuple[Any, Callable, str]] = {
    "model.name": ("videopose3d", _str, "registered model name (bench list models)"),
    "data.dataset": ("standin", _str, "dataset spec NAME or NAME:PATH (bench list datasets)"),
    "data.source": ("gt", _str, "2D source: gt, det (stand-in) or a VideoPose3D source name"),
    "data.train_subjects": (None, _opt_str_list, "null = the dataset's standard training subjects"),
    "data.test_subjects": (None, _opt_str_list, "null = the dataset's standard test subjects"),
    "data.validation_subjects": ([], _str_list,
                                 "training subjects held out for best-epoch selection (never test ones)"),
    "data.validation_fraction": (0.0, _holdout_fraction,
                                 "the last fraction f (0 <= f < 0.5) of the frames of every training take "
                                 "(every camera's sequence, after data.downsample) is cut off the training "
                                 "data and used as validation data, never trained on; 0 = none. Combines "
                                 "with data.validation_subjects (the validation set is both)"),
    "data.actions": (None, _opt_str_list, "null = all; names or group prefixes ('Walk')"),
    "data.train_actions": (None, _opt_str_list, "training actions when they differ from the test ones "
                                                 "(cross-action protocols); null = data.actions"),
    "data.downsample": (1, _int_min(1), "keep every k-th frame, train and test (GAST-Net uses 5)"),
    "data.exclude_s11_directions": (True, _bool, "h36m only: drop the corrupted S11 Directions video"),
    "train.epochs": (60, _int_min(1), "training epochs (budgets are epochs, never wall-clock)"),
    "train.steps": (None, _opt_int_min(1),
                    "null = train.epochs passes over the training windows; an integer = exactly that many "
                    "optimizer steps (batches drawn pass after pass, reshuffled each pass), the schedule of "
                    "train.epochs epochs compressed onto them (lr and BatchNorm momentum set every step at "
                    "progress step/steps), so cells that differ only in train.flip take the same steps"),
    "train.warmup_steps": (0, _int_min(0),
                           "linear learning-rate warm-up: step s (0-based) multiplies the schedule's lr by "
                           "min(1, (s + 1) / warmup_steps); 0 = none"),
    "train.val_every": (None, _opt_int_min(1),
                        "optimizer steps between validations (curve rows); null = once per pass under an "
                        "epoch budget, at 20 evenly spaced steps under train.steps. The last step always "
                        "ends a row"),
    "train.convergence_tolerance": (0.02, _num_min(0),
                                    "a run is recorded as converged when the best validation MPJPE (training "
                                    "MPJPE without a validation set) in the last quarter of the budget is at "
                                    "most max(tolerance x the best before it, 0.5 mm) lower than the best "
                                    "before it; recording only, training is unchanged"),
    "train.batch_size": (1024, _int_min(1), "training windows per batch"),
    "train.optimizer": ("adam", _choice("adam", "adamw", "sgd", "ranger"),
                        "optimiser (ranger = RAdam + Lookahead, the attention TCN's; bench/engine/optim.py)"),
    "train.amsgrad": (True, _bool, "AMSGrad variant of Adam (VideoPose3D)"),
    "train.lr": (1e-3, _num_min(0, strict=True), "initial learning rate"),
    "train.lr_decay": (0.95, _fraction, "learning rate multiplied by this after every epoch (under "
                                        "train.steps: lr x lr_decay^(epochs x step/steps))"),
    "train.weight_decay": (0.0, _num_min(0), "weight decay"),
    "train.bn_momentum_start": (0.1, _fraction, "BatchNorm momentum at epoch 0"),
    "train.bn_momentum_end": (0.001, _fraction, "BatchNorm momentum reached at the last epoch "
                                                "(exponential decay as in VideoPose3D)"),
    "train.flip": (True, _bool, "flip augmentation: every window appears plain and mirrored"),
    "train.window_stride": (1, _int_min(1), "use every k-th training window (a recorded shrink)"),
    "train.grad_clip": (0.0, _num_min(0), "clip gradient norm (0 = off)"),
    "train.processes": (1, _int_min(1), "processes training this one experiment data-parallel "
                                        "(bench train --ddp --nproc N sets it; part of the experiment id)"),
    "train.device": ("cpu", _device, "where the experiment trains and is evaluated: cpu (the reference; CPU "
                                     "runs repeat bit for bit), cuda, cuda:N, or auto (cuda when available); "
                                     "under --ddp a plain cuda is each process's own GPU"),
    "train.loss": ("mpjpe", _choice("mpjpe", "mse"), "training loss on root-relative 3D"),
    "train.lr_schedule": ("exponential", _choice("exponential", "step", "cosine"),
                          "exponential: lr x lr_decay after every epoch; step: lr x lr_gamma after each epoch "
                          "in lr_milestones (UGCN: 80, 90, 100); cosine: annealed from lr to lr_min over the "
                          "epochs (attention TCN)"),
    "train.lr_min": (1e-5, _num_min(0), "final learning rate of the cosine schedule"),
    "train.lr_milestones": ([], _increasing_int_list, "epochs after which a step schedule multiplies lr by lr_gamma"),
    "train.lr_gamma": (0.1, _fraction, "factor of the step schedule"),
    "train.weight_decay_scope": ("all", _choice("all", "conv"),
                                 "parameters that get weight decay: all, or conv = convolution weights only "
                                 "(UGCN)"),
    "train.motion_loss.intervals": ([], _int_list(1),
                                    "motion loss (UGCN Eq. 4) interval set; [] = no motion loss"),
    "train.motion_loss.operator": ("cross", _operators,
                                   "pairwise motion encoding: subtraction, inner, cross, or several joined by "
                                   "'+' (their encodings concatenated)"),
    "train.motion_loss.weight": (1.0, _num_min(0), "lambda of L = L_p + lambda L_m (UGCN Eq. 6)"),
    "train.motion_loss.normalize": ("temporal_mean", _choice("temporal_mean", "temporal_mean_joint", "none",
                                                             "temporal_mean_length"),
                                    "inner/cross encodings divided by the mean norm of the ground-truth "
                                    "encoding over frames and joints (per sample and interval; "
                                    "temporal_mean_joint: over frames, per joint; none: raw); subtraction is "
                                    "never normalised. temporal_mean_length: temporal_mean times the sample's "
                                    "mean ground-truth joint distance from the root, so L_m is a length: with "
                                    "train.loss=mpjpe both terms of UGCN Eq. 6 are in the same unit and "
                                    "lambda = 1 balances them (four-scale cross product at quick width: ratio "
                                    "1.4 at init, 3.1 after 300 steps, 9.4 at 30-100 mm error, the same in m "
                                    "or mm; Eq. 4-6 and section 3.3, bench/losses.py)"),
    "train.motion_loss.distance": ("l1", _choice("l1", "l2"),
                                   "distance between encodings: l1 (sum of absolute components, the paper) "
                                   "or l2 (Euclidean norm)"),
    "eval.flip": (True, _bool, "test-time flip augmentation (average with the mirrored input)"),
    "eval.averaging": ("action", _choice("action", "frame"),
                       "action: frame-weighted per action group, unweighted across groups; "
                       "frame: every test frame weighted equally"),
    "eval.epoch": ("last", _choice("last", "best"),
                   "which state is evaluated: the last, or best = the one of the curve row with the lowest "
                   "validation MPJPE (data.validation_subjects and/or data.validation_fraction)"),
    "eval.noise_sigma": (0.0, _num_min(0), "Gaussian noise (pixels) added to the test 2D input"),
    "eval.noise_seed": (0, _int_min(0), "seed of the test noise (combined with sigma)"),
    "eval.metrics": (["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve"], _str_list, f"subset of {', '.join(METRICS)}"),
    "eval.batch_frames": (4096, _int_min(1), "output frames per evaluation forward pass"),
    "eval.window_step": (None, _opt_int_min(1),
                         "sequence-to-sequence models: frames between test windows, the predictions of a "
                         "frame averaged; null = the model's own default (DG-Net 1)"),
    "eval.window_merge": ("mean", _choice("mean", "centre"),
                          "sequence-to-sequence models: a frame's prediction is the mean over every window "
                          "covering it (UGCN, DG-Net), or over the window(s) whose centre is nearest"),
    "eval.group_by": ("action", _choice("action", "subject_action"),
                      "groups of the per-action breakdown: the action, or 'action subject' "
                      "(HumanEva tables: 'Walking S1')"),
    "eval.latency": (False, _bool, "time the test forward passes and store ms per test frame "
                                   "(record metric ms_per_frame; same process, same device)"),
    "seed": (0, _int_min(0), "random seed (torch, numpy, batch order)"),
    "run.kind": ("train", _choice("train", "profile"),
                 "train: train and evaluate (every table but latency); profile: no training, time the "
                 "model's forward passes with bench.profiling (models.latency)"),
    "profile.device": ("auto", _str, "profile runs: cpu, cuda, cuda:N, or auto (cuda when available)"),
    "profile.batch_size": (64, _int_min(1), "profile runs: windows per forward pass of the throughput timing"),
    "profile.warmup": (3, _int_min(0), "profile runs: untimed forward passes before each timing"),
    "profile.repeats": (10, _int_min(1), "profile runs: timed forward passes (median reported)"),
    "profile.deterministic": (False, _bool, "profile runs: time with deterministic algorithms and cuDNN on "
                                            "(true) or off (false, PyTorch's defaults); the record says which"),
    "profile.mode": ("forward", _choice("forward", "train"),
                     "profile runs: forward = inference latency and throughput (bench.profiling); train = "
                     "training throughput as the engine trains the cell's recipe (bench.train_profile: "
                     "windows/s, ms per step split, aten ops, FLOPs against a matmul peak)"),
    "profile.steps": (10, _int_min(1), "profile runs in train mode: timed training steps (median reported; "
                                       "profile.warmup untimed steps first)"),
    "profile.optimize": ("none", _choice("none", "fuse_bn", "compile"),
                         "profile runs: time the model as is (none), with its BatchNorms folded into the layers "
                         "before them (fuse_bn) or that and torch.compile (compile; needs a C++ compiler on "
                         "CPU); optimized runs also record the as-is timings (*_asis metrics)"),
}
SECTIONS = ("model", "data", "train", "eval", "run", "profile")

# Keys added after run records were first written. At their default they reproduce the behaviour from
# before they existed, so they are left out of the experiment hash when at the default (old records keep
# their ids) and filled in when an old record is read (complete()).
ADDED_LATER = ("train.lr_schedule", "train.lr_milestones", "train.lr_gamma", "train.weight_decay_scope",
               "train.motion_loss.intervals", "train.motion_loss.operator", "train.motion_loss.weight",
               "train.motion_loss.normalize", "train.motion_loss.distance", "eval.window_merge", "train.lr_min",
               "run.kind", "profile.device", "profile.batch_size", "profile.warmup", "profile.repeats",
               "train.processes", "profile.deterministic", "train.device", "profile.optimize", "profile.mode",
               "profile.steps", "train.steps", "train.warmup_steps", "train.val_every",
               "train.convergence_tolerance", "data.validation_fraction")


def defaults() -> dict:
    cfg: dict = {"model": {"options": {}}}
    for key, (default, _, _) in SCHEMA.items():
        set_dotted(cfg, key, copy.deepcopy(default))
    return cfg


def set_dotted(cfg: dict, key: str, value) -> None:
    """bench.dotted.set_dotted, with a path through a value a ConfigError."""
    try:
        _set_dotted(cfg, key, value)
    except TypeError as e:
        raise ConfigError(str(e)) from None


def flatten(partial: dict, prefix: str = "") -> dict[str, Any]:
    """Nested or dotted partial config -> {dotted key: value}; model.options stays a leaf per option."""
    out = {}
    for key, v in _flatten(partial, leaves=("model.options",), prefix=prefix).items():
        if key == "model.options":
            if not isinstance(v, dict):
                raise ConfigError("model.options must be a mapping of option -> value")
            out.update({f"model.options.{ok}": ov for ok, ov in v.items()})
        else:
            out[key] = v
    return out


def validate_partial(partial: dict, where: str) -> dict[str, Any]:
    """Check keys and values of a partial config (nested or dotted); returns it flattened."""
    if not isinstance(partial, dict):
        raise ConfigError(f"{where}: expected a mapping")
    flat = flatten(partial)
    for key, value in flat.items():
        if key.startswith("model.options."):
            continue  # checked against the model's builder when resolved
        if key not in SCHEMA:
            close = difflib.get_close_matches(key, SCHEMA, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}")
        problem = SCHEMA[key][1](value)
        if problem:
            raise ConfigError(f"{where}: {key} must be {problem}, got {value!r}")
    if "eval.metrics" in flat:
        bad = [m for m in flat["eval.metrics"] if m not in METRICS]
        if bad:
            raise ConfigError(f"{where}: unknown metric(s) {', '.join(bad)}; known: {', '.join(METRICS)}")
    return flat


def parse_set(items: list[str]) -> dict[str, Any]:
    """``--set a.b=c`` strings -> {dotted key: YAML-parsed value}."""
    out = {}
    for item in items or []:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = load_yaml(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {key}: cannot parse value {raw!r}") from None
    return out


def resolve(*partials: dict, where: str = "config") -> dict:
    """Merge partial configs (later wins) over the defaults and complete the model options from the
    registry (unknown options are an error). Returns a new nested dict."""
    from bench.registry import resolve_options

    cfg = defaults()
    for partial in partials:
        for key, value in validate_partial(partial, where).items():
            if key == "model.name" and value != cfg["model"]["name"]:
                cfg["model"]["options"] = {}  # options belong to the previous model
            set_dotted(cfg, key, copy.deepcopy(value))
    try:
        cfg["model"]["options"] = resolve_options(cfg["model"]["name"], cfg["model"]["options"])
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None
    val, test = cfg["data"]["validation_subjects"], cfg["data"]["test_subjects"] or []
    if set(val) & set(test):
        raise ConfigError(f"{where}: data.validation_subjects overlaps the test subjects "
                          f"({', '.join(sorted(set(val) & set(test)))})")
    if cfg["eval"]["epoch"] == "best" and not val and not cfg["data"]["validation_fraction"]:
        raise ConfigError(f"{where}: eval.epoch=best needs data.validation_subjects (training subjects held "
                          f"out; never the test split) or data.validation_fraction > 0 (the end of every "
                          f"training take held out)")
    return cfg


def hash_view(cfg: dict) -> dict:
    """A resolved config without the ADDED_LATER keys that are at their default (see ADDED_LATER)."""
    out = copy.deepcopy(cfg)
    absent = object()
    for key in ADDED_LATER:
        value = get_dotted(out, key, missing=absent)
        if value is not absent and value == SCHEMA[key][0]:
            del_dotted(out, key)  # and the sections it leaves empty (train.motion_loss, run, profile)
    return out


def complete(cfg: dict) -> dict:
    """Fill the ADDED_LATER keys a config written before they existed lacks, with their defaults."""
    absent = object()
    for key in ADDED_LATER:
        if get_dotted(cfg, key, missing=absent) is absent:
            set_dotted(cfg, key, copy.deepcopy(SCHEMA[key][0]))
    return cfg


def config_hash(cfg: dict) -> str:
    """Stable 12-hex id of a resolved config (JSON with sorted keys)."""
    blob = json.dumps(cfg, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def diff(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """Leaf differences between two resolved configs: (dotted key, value in a, value in b)."""
    fa, fb = flatten(a), flatten(b)
    keys = sorted(set(fa) | set(fb))
    return [(k, fa.get(k), fb.get(k)) for k in keys if fa.get(k) != fb.get(k)]


def experiment_id(cfg: dict, variants: list[dict]) -> str:
    """Stable id of (resolved config, evaluation variants); keys added later count only off their default."""
    return config_hash({"config": hash_view(cfg), "variants": variants})


def variant_key(variant: dict[str, Any]) -> str:
    """Stable string key of an evaluation variant ('' for the plain evaluation)."""
    return ",".join(f"{k}={variant[k]}" for k in sorted(variant))
