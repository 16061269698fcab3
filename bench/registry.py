"""Model registry: ``@register_model`` on a builder function, ``create_model(name, **options)``.

Modelled on timm / torchvision (field survey C.2-C.3): the published facts of each model (parameter
counts, reported MPJPE per protocol, citation) are data attached to the entry, and tests recompute
the cheap ones. There is one level of lookup: a name maps to a builder function.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    """A registered model family.

    Attributes:
        name: registry name (``videopose3d``).
        builder: function taking keyword options and returning an ``nn.Module``.
        citation: short citation of the paper the model comes from.
        paper: the paper / table a reported number comes from.
        params: published or reference parameter counts keyed by a preset string such as
            ``"receptive_field=243"`` (exact counts from the official code where known).
        reported: reported metrics, ``{preset: {protocol_tag: {metric: value}}}``.
        presets: named option sets (``{"243f": {"receptive_field": 243}}``).
        defaults: the builder's keyword defaults (filled in at registration).
        notes: free text on what differs from the paper.
    """

    name: str
    builder: Callable[..., Any]
    citation: str
    paper: str = ""
    params: dict[str, int] = field(default_factory=dict)
    reported: dict[str, dict] = field(default_factory=dict)
    presets: dict[str, dict] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.builder) or ""


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(name: str | None = None, **meta: Any) -> Callable:
    """Decorator registering a builder function under ``name`` (defaults to the function name)."""

    def wrap(fn: Callable) -> Callable:
        key = name or fn.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        sig = inspect.signature(fn)
        defaults = {k: p.default for k, p in sig.parameters.items()
                    if p.default is not inspect.Parameter.empty}
        _REGISTRY[key] = ModelEntry(name=key, builder=fn, defaults=defaults, **meta)
        return fn

    return wrap


def _ensure_loaded() -> None:
    # Import the model packages so their decorators run; kept lazy so `import bench` stays cheap.
    import baselines  # noqa: F401
    import bench.models  # noqa: F401


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_REGISTRY)


def get_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults and reject unknown options; returns the complete option dict."""
    entry = get_entry(name)
    unknown = sorted(set(options) - set(entry.defaults))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for model {name!r}; "
                          f"valid: {', '.join(sorted(entry.defaults))}")
    resolved = dict(entry.defaults)
    resolved.update(options)
    return resolved


def create_model(name: str, **options: Any):
    """Build the model ``name`` with keyword ``options`` (unknown options are an error)."""
    entry = get_entry(name)
    return entry.builder(**resolve_options(name, options))
