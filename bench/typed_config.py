"""The resolved experiment configuration as frozen dataclasses, generated from the one schema.

``bench.config.SCHEMA`` declares every key once (default, validator, doc). This module turns its dotted
keys into a tree of frozen dataclasses (``ExperimentConfig`` with ``model``, ``data``, ``train`` (with
``train.motion_loss``), ``eval``, ``run``, ``profile`` and ``seed``), so the engine reads a resolved
experiment by attribute (``cfg.train.lr_min``) and never restates a default: a default lives in SCHEMA
and is filled in by :func:`bench.config.resolve`, nowhere else.

The nested dict stays the serialised form (run records, experiment ids, protocol files); :func:`typed`
converts a resolved dict, refusing one that lacks a key (not resolved) or has one the schema does not
know. ``model.options`` is the registry-resolved option mapping of the model (its keys depend on the
model, so it stays a mapping).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Union

from bench.config import SCHEMA, SECTIONS
from bench.dotted import set_dotted
from bench.errors import ConfigError

#: The one leaf that is not in SCHEMA: the model's options, completed from the registry.
OPTIONS_KEY = "model.options"


def _tree() -> dict:
    """SCHEMA's dotted keys as a nested {name: subtree | dotted key} mapping, in schema order."""
    root: dict = {}
    for key in list(SCHEMA) + [OPTIONS_KEY]:
        set_dotted(root, key, key)
    return root


def _annotation(key: str):
    """The field type, from the default's type (None defaults: optional values)."""
    if key == OPTIONS_KEY:
        return dict
    default = SCHEMA[key][0]
    if default is None:
        return Any
    if isinstance(default, bool):
        return bool
    if isinstance(default, float):
        return Union[int, float]  # YAML writes 1 for 1.0; both are valid numbers
    return type(default)


def _class_name(path: tuple[str, ...]) -> str:
    if not path:
        return "ExperimentConfig"
    return path[-1].title().replace("_", "") + "Config"  # train.motion_loss -> MotionLossConfig


def _make(path: tuple[str, ...], node: dict) -> type:
    fields = []
    for name, sub in node.items():
        if isinstance(sub, dict):
            fields.append((name, _make(path + (name,), sub)))
        else:
            doc = "registry-resolved model options" if sub == OPTIONS_KEY else SCHEMA[sub][2]
            fields.append((name, _annotation(sub), dataclasses.field(metadata={"key": sub, "doc": doc})))
    cls = dataclasses.make_dataclass(_class_name(path), fields, frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = (f"Section {'.'.join(path)} of a resolved experiment (fields and docs: bench.config.SCHEMA)"
                   if path else "A resolved experiment (bench.config.resolve), read by attribute.")
    return cls


ExperimentConfig = _make((), _tree())
_SECTION_CLASSES = {f.name: f.type for f in dataclasses.fields(ExperimentConfig) if dataclasses.is_dataclass(f.type)}
assert set(_SECTION_CLASSES) == set(SECTIONS), "bench.config.SECTIONS and SCHEMA disagree"
ModelConfig = _SECTION_CLASSES["model"]
DataConfig = _SECTION_CLASSES["data"]
TrainConfig = _SECTION_CLASSES["train"]
EvalConfig = _SECTION_CLASSES["eval"]
RunConfig = _SECTION_CLASSES["run"]
ProfileConfig = _SECTION_CLASSES["profile"]
MotionLossConfig = {f.name: f.type for f in dataclasses.fields(TrainConfig)}["motion_loss"]


def _build(cls: type, raw: Any, where: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"config {where or 'root'}: expected a mapping, got {type(raw).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    extra = sorted(set(raw) - known)
    if extra:
        raise ConfigError(f"config {where or 'root'}: unknown key(s) {', '.join(extra)} (bench.config.SCHEMA)")
    kwargs = {}
    for f in dataclasses.fields(cls):
        key = f"{where}.{f.name}" if where else f.name
        if f.name not in raw:
            raise ConfigError(f"config lacks {key}: not a resolved config (bench.config.resolve fills in every "
                              f"default)")
        value = raw[f.name]
        kwargs[f.name] = _build(f.type, value, key) if dataclasses.is_dataclass(f.type) else copy.deepcopy(value)
    return cls(**kwargs)


def typed(cfg) -> ExperimentConfig:
    """A resolved config dict (bench.config.resolve) as an :class:`ExperimentConfig`; an
    ExperimentConfig is returned as it is. Raises ConfigError naming a missing or unknown key."""
    if isinstance(cfg, ExperimentConfig):
        return cfg
    return _build(ExperimentConfig, cfg, "")


def section(part, name: str):
    """One section (``train``, ``eval``, ``data`` ...) of a resolved config, typed: a section dataclass is
    returned as it is, a dict (the section of a resolved config) is converted and must be complete."""
    cls = _SECTION_CLASSES[name]
    if isinstance(part, cls):
        return part
    return _build(cls, part, name)

