"""Model registry: ``@register_model`` on a builder function, ``create_model(name, **options)``.

Modelled on timm / torchvision (field survey C.2-C.3): what the code needs to know about each model (citation,
the parameter counts it checks, presets, defaults, notes) is data attached to the entry, and tests recompute
the counts. Published metrics live in one place only, ``results/reported/<paper>.yaml``, which the tables
read. There is one level of lookup: a name maps to a builder function. Every model the registry builds is
checked against the model contract (``bench.contract``).
"""
from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from bench.contract import model_contract
from bench.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    """A registered model family.

    Attributes:
        name: registry name (``videopose3d``).
        builder: function taking keyword options and returning an ``nn.Module``.
        citation: short citation of the paper the model comes from.
        paper: the paper / tables the model and its parameter counts come from.
        params: published or reference parameter counts keyed by a preset string such as
            ``"receptive_field=243"`` (exact counts from the official code where known); ``bench check``
            rebuilds each one and compares exactly.
        presets: named option sets (``{"243f": {"receptive_field": 243}}``).
        defaults: the builder's keyword defaults (filled in at registration).
        notes: free text on what differs from the paper.
    """

    name: str
    builder: Callable[..., Any]
    citation: str
    paper: str = ""
    params: dict[str, int] = field(default_factory=dict)
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
    """Build the model ``name`` with keyword ``options`` (unknown options are an error) and check that it
    declares the model contract (``bench.contract.model_contract``; a missing or wrong attribute is one
    ConfigError line)."""
    entry = get_entry(name)
    model = entry.builder(**resolve_options(name, options))
    model_contract(model, name)
    return model


# -- metadata keys ----------------------------------------------------------------------------------------

def parse_options_key(key: str) -> dict[str, Any]:
    """Parse a metadata key such as ``"receptive_field=63, filter_widths=(3, 3, 7)"`` into options.

    Keys are keyword arguments written as in a Python call; values must be literals. Raises ValueError for
    a key that is not of that form.
    """
    try:
        call = ast.parse(f"f({key})", mode="eval").body
    except SyntaxError:
        raise ValueError(f"metadata key {key!r} is not of the form 'name=value, ...'") from None
    if not isinstance(call, ast.Call) or call.args or any(kw.arg is None for kw in call.keywords):
        raise ValueError(f"metadata key {key!r} is not of the form 'name=value, ...'")
    try:
        return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except ValueError:
        raise ValueError(f"metadata key {key!r} has a value that is not a literal") from None


def metadata_options(name: str, key: str) -> dict[str, Any]:
    """Options of a metadata key of model ``name``: a preset name of the entry, or ``'k=v, ...'``."""
    entry = get_entry(name)
    if key in entry.presets:
        return dict(entry.presets[key])
    return parse_options_key(key)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def match_reported_params(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Find the published parameter count of ``name`` that fits ``options``.

    Candidates are the entry's ``params`` keys whose options all equal the resolved options; the one that
    fixes the most options wins. ``match`` is ``"exact"`` when every other option is at its default, else
    it names the options that differ from the defaults (which may or may not change the count;
    ``profile_model`` drops the match when the built model's count differs from it).
    Returns ``{"key": None, ...}`` when nothing fits.
    """
    entry = get_entry(name)
    resolved = resolve_options(name, options)
    best: tuple[int, str, dict] | None = None
    for key in entry.params:
        opts = metadata_options(name, key)
        if all(k in resolved and _same(resolved[k], v) for k, v in opts.items()):
            if best is None or len(opts) > best[0]:
                best = (len(opts), key, opts)
    if best is None:
        return {"key": None, "params": None, "match": None}
    _, key, opts = best
    differ = sorted(k for k, v in resolved.items()
                    if k not in opts and not _same(v, entry.defaults.get(k)))
    return {"key": key, "params": int(entry.params[key]),
            "match": "exact" if not differ else "options also set: " + ", ".join(differ)}
