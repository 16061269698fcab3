"""The model contract: everything the engine, the profiler and the checks read from a model, declared once.

A model is an ``nn.Module`` whose ``forward`` takes ``(batch, frames, num_joints_in, in_features)`` 2D
keypoints (and a ``(batch, frames, 5)`` camera context when ``needs_context``) and returns root-relative 3D
poses in metres, ``(batch, frames_out, num_joints_out, 3)``. It declares, as attributes or methods:

required
    ``receptive_field`` (int >= 1)
        conv models: input frames per output frame; seq2seq models: T, the window length.
    ``causal_shift`` (int, 0 .. (receptive_field - 1) // 2)
        frames by which the input window is shifted into the past: ``(receptive_field - 1) // 2`` for a causal
        conv model, else 0. Output frame t of T input frames is the pose of input frame
        ``t + (receptive_field - 1) // 2 + causal_shift``.
    ``num_joints_in``, ``num_joints_out`` (int >= 1)
        joints of the 2D input and of the 3D output.
optional, with the default it has when the model does not declare it
    ``in_features`` = 2
        features per input joint (x, y).
    ``output_mode`` = ``"conv"``
        ``"conv"``: T >= receptive_field frames in, T - receptive_field + 1 out (VideoPose3D);
        ``"seq2seq"``: T = receptive_field frames in, T out (DG-Net, UGCN, Hossain & Little).
    ``train_out_frames`` = 1 (conv) / receptive_field (seq2seq)
        consecutive output frames per training window; a seq2seq model always predicts all T.
    ``eval_step`` = 1
        frames between the test windows of a seq2seq model (UGCN: 5).
    ``needs_context`` = False
        ``forward(x, context)`` needs the per-frame camera context (DG-Net's balanced coordinates).
    ``loss_terms(x, y, loss_fn, context=None)`` = None
        returns ``(loss, prediction)`` with the model's own terms around ``loss_fn`` (DG-Net's multi-level
        loss); None: ``loss_fn(model(x), y)``.
    ``set_bn_momentum(m)`` = every BatchNorm layer's momentum set to m (``bench.layers.set_bn_momentum``)
        called by the trainer at the start of every epoch (VideoPose3D's decay).
    ``apply_max_norm()`` = None
        called after every optimiser step (Martinez et al.'s max-norm constraint).
    ``forward_path(T)`` = None
        the name of the path ``forward`` takes for T input frames (``'strided'`` / ``'dilated'``), shown by
        the profiler.

:func:`model_contract` reads these once into a :class:`ModelContract`; ``bench.registry.create_model`` calls
it on every model it builds, so a model that lacks a required attribute, or declares a wrong value, fails
there with one ConfigError line naming the model and the attribute. Nothing else restates a default.
"""
from __future__ import annotations

import functools
import numbers
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Callable

from bench.errors import ConfigError

if TYPE_CHECKING:  # torch is imported only when a model exists: `import bench` (the registry) stays cheap
    from torch import nn

OUTPUT_MODES = ("conv", "seq2seq")


@dataclass(frozen=True)
class ModelContract:
    """The contract of one model, read by :func:`model_contract`; see the module docstring for each field."""

    receptive_field: int
    causal_shift: int
    num_joints_in: int
    num_joints_out: int
    in_features: int = 2
    output_mode: str = "conv"
    train_out_frames: int | None = None  # None: 1 for a conv model, receptive_field for a seq2seq model
    eval_step: int = 1
    needs_context: bool = False
    loss_terms: Callable | None = field(default=None, repr=False)
    # None: the setter of every BatchNorm layer (model_contract fills it in)
    set_bn_momentum: Callable[[float], None] | None = field(default=None, repr=False)
    apply_max_norm: Callable[[], None] | None = field(default=None, repr=False)
    forward_path: Callable[[int], str] | None = field(default=None, repr=False)

    @property
    def seq2seq(self) -> bool:
        """Whether the model maps T frames to T frames (``output_mode == 'seq2seq'``)."""
        return self.output_mode == "seq2seq"


_HOOKS = ("loss_terms", "set_bn_momentum", "apply_max_norm", "forward_path")


def _model_label(model: nn.Module, name: str | None) -> str:
    kind = type(model).__name__
    return f"model {name!r} ({kind})" if name else f"model {kind}"


def _integer(label: str, attr: str, value: Any, minimum: int, maximum: int | None = None) -> int:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"in {minimum} .. {maximum}"
        raise ConfigError(f"{label}: {attr}={value!r} must be an integer {bound} (model contract, "
                          f"bench/contract.py)")
    return int(value)


def _train_out_frames(label: str, output_mode: str, receptive_field: int, declared: Any) -> int:
    """Output frames per training window: all T of a seq2seq model; 1 or the declared count of a conv model."""
    if output_mode == "seq2seq":
        if declared is not None and declared != receptive_field:
            raise ConfigError(f"{label}: train_out_frames={declared!r} must equal receptive_field="
                              f"{receptive_field} for a seq2seq model (T frames in, T out; model contract, "
                              f"bench/contract.py)")
        return receptive_field
    return 1 if declared is None else _integer(label, "train_out_frames", declared, 1)


def _declared(model: nn.Module) -> dict[str, Any]:
    """The contract attributes ``model`` declares (class or instance attributes and methods)."""
    absent = object()
    out = {}
    for f in fields(ModelContract):
        value = getattr(model, f.name, absent)
        if value is not absent:
            out[f.name] = value
    return out


def _checked(label: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with the defaults filled in and each one checked (one ConfigError line per problem)."""
    for f in fields(ModelContract):
        if f.default is MISSING and f.name not in values:
            raise ConfigError(f"{label} does not declare {f.name}, which the model contract requires "
                              f"(bench/contract.py)")
    out = {f.name: values.get(f.name, f.default) for f in fields(ModelContract)}
    if out["output_mode"] not in OUTPUT_MODES:
        raise ConfigError(f"{label}: output_mode={out['output_mode']!r} is not one of "
                          f"{', '.join(OUTPUT_MODES)} (model contract, bench/contract.py)")
    rf = out["receptive_field"] = _integer(label, "receptive_field", out["receptive_field"], 1)
    out["causal_shift"] = _integer(label, "causal_shift", out["causal_shift"], 0, (rf - 1) // 2)
    for attr in ("num_joints_in", "num_joints_out", "in_features", "eval_step"):
        out[attr] = _integer(label, attr, out[attr], 1)
    out["train_out_frames"] = _train_out_frames(label, out["output_mode"], rf, out["train_out_frames"])
    if out["needs_context"] not in (True, False):
        raise ConfigError(f"{label}: needs_context={out['needs_context']!r} must be true or false "
                          f"(model contract, bench/contract.py)")
    out["needs_context"] = bool(out["needs_context"])
    for hook in _HOOKS:
        if out[hook] is not None and not callable(out[hook]):
            raise ConfigError(f"{label}: {hook} must be a method (model contract, bench/contract.py)")
    return out


def model_contract(model: nn.Module, name: str | None = None) -> ModelContract:
    """Read and check the contract of ``model`` (``name``: its registry name, for the error message).

    Raises one ConfigError line naming the model and the attribute when a required attribute is missing or
    a value is wrong. A model without ``set_bn_momentum`` gets the setter of every BatchNorm layer.
    """
    values = _checked(_model_label(model, name), _declared(model))
    if values["set_bn_momentum"] is None:
        from bench.layers import set_bn_momentum  # torch is loaded already: there is a model

        values["set_bn_momentum"] = functools.partial(set_bn_momentum, model)
    return ModelContract(**values)
