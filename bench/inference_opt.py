"""Inference-mode rewrites of a model for latency tables: ``none``, ``fuse_bn``, ``compile``.

``optimize_for_inference(model, mode, example_input)`` returns ``(model, info)``; the profiler
(``bench.profiling.profile_model(..., optimize=...)``) times the result next to the model as is.

``none``
    The model itself, untouched.

``fuse_bn``
    A deep copy of the eval-mode model in which every BatchNorm that normalises exactly the output of one
    convolution or linear call is folded into that layer, ``W' = W * s``, ``b' = (b - mean) * s + beta``
    with ``s = gamma / sqrt(var + eps)`` (per output channel), and replaced by ``nn.Identity``. The fold is
    computed in float64 and written back in the parameter's dtype.

    Which pairs are folded is decided from one recorded forward pass on the example input, not from the
    model's source: every torch function call (``F.conv1d``, ``F.linear``, ``F.batch_norm``, tensor methods,
    views) is recorded with its input and output tensors by a ``TorchFunctionMode``, which sees module calls
    and functional calls alike and needs no tracing (``torch.fx`` fails on the harness's shape asserts and
    data-dependent paths). A (producer, BatchNorm) pair is folded only when all of these hold:

    * the BatchNorm module is called once, as a module (so replacing it by ``Identity`` removes the call),
      in eval mode with running statistics;
    * its input is the output of a ``conv1d/2d/3d`` or ``linear`` call, or a view of it (reshape /
      transpose / permute ...) that holds every output element exactly once and whose dim 1 (the axis
      BatchNorm normalises) is the producer's output-channel axis (checked element by element on an index
      map of the producer's output layout, so ``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)`` and channels-last
      ``(B, T, J, C) -> (B, C, T*J)`` views all qualify, and a view that mixes axes does not);
    * nothing else reads the producer's output or any view of it: no other op, no in-place op, not the
      model's output (a residual that also reads a conv output keeps its BatchNorm);
    * the producer's weight (or a full view of it, as ``conv.weight.flatten(1)`` passed to ``F.linear``) is
      a parameter read by that call only, with dim 0 = output channels;
    * the producer's bias is a parameter read by that call only. A layer without bias gets a zero bias
      parameter before the recording (outputs unchanged); if the call reads it (``nn.Conv1d`` /
      ``nn.Linear`` modules read ``self.bias``), the folded shift goes there; a functional call that passes
      ``None`` literally (VideoPose3D's strided path) cannot take a shift, so that pair is left alone. Zero
      biases that received no fold are removed again.

    Every BatchNorm that is not folded is listed in ``info["skipped"]`` with the reason. Then the copy is
    **verified**, twice on every example input: each folded layer's output must equal the output of the
    BatchNorm it replaces in the original (so every fold is checked where it happens, even when the model's
    output does not depend on it, as with DG-Net's zero-initialised heads), and the model's outputs must
    equal the original's; both to 1e-4 of the largest magnitude (1e-2 in 16-bit types), else ConfigError.
    Which pairs are foldable may depend on the forward path an input takes (VideoPose3D picks its path from
    the input length), so the copy refuses (ValueError) inputs whose shape, batch size aside, differs from
    the verified ones.

``compile``
    ``fuse_bn`` (above, verified), then ``torch.compile(model, dynamic=False)`` with the default inductor
    backend: one static graph per input shape. Folding first gives inductor a graph without BatchNorms
    whatever its own passes do. On CPU inductor writes and builds C++; ``inductor_problem`` checks that a
    compiler exists and that a tiny function compiles, and a missing or broken one is one ConfigError line.
    Each example input is compiled for under ``torch.inference_mode()`` (the profiler's timing mode) and
    its compile (warm-up) time is recorded in ``info["compile_s"]``, so the timings that follow never
    include compilation; the compiled outputs are verified like ``fuse_bn``'s.
"""
from __future__ import annotations

import copy
import functools
import inspect
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from bench.errors import ConfigError

MODES = ("none", "fuse_bn", "compile")

PRODUCERS = {"conv1d", "conv2d", "conv3d", "linear"}
# Ops whose tensor outputs alias their input (when they do not, e.g. a reshape that copies, the call counts
# as a read of the producer's output).
VIEW_OPS = {"view", "reshape", "transpose", "permute", "flatten", "unflatten", "squeeze", "unsqueeze",
            "__getitem__", "narrow", "select", "expand", "expand_as", "view_as", "reshape_as", "t", "movedim",
            "moveaxis", "swapaxes", "swapdims", "as_strided", "contiguous", "detach", "alias", "split",
            "chunk", "unbind", "__get__"}
# Calls that read only metadata (a non-tensor result); any other call that returns no tensor (item, tolist,
# __bool__ ...) reads the data and counts as a use.
METADATA_OPS = {"dim", "size", "__get__", "stride", "numel", "is_contiguous", "storage_offset", "__len__",
                "nelement", "ndimension", "element_size", "is_floating_point", "is_complex", "get_device",
                "data_ptr", "untyped_storage", "__hash__"}
_BN_SIGNATURE = inspect.signature(F.batch_norm)


def check_mode(mode: str) -> str:
    """``mode`` if it is one of MODES, else ConfigError (one line)."""
    if mode not in MODES:
        raise ConfigError(f"unknown optimize mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


def optimize_for_inference(model: nn.Module, mode: str, example_input: torch.Tensor | Sequence[torch.Tensor],
                           ) -> tuple[nn.Module, dict[str, Any]]:
    """The model rewritten for inference as ``mode`` says, and what was done (module docstring).

    ``model`` must be in eval mode on its device and dtype; ``example_input`` is one input tensor or a list
    of them (the shapes that will be timed): the rewritten model is verified on each. ``model`` itself is
    never modified. Raises ConfigError for an unknown mode, a missing C++ compiler (``compile`` on CPU), a
    compile failure, or a rewritten model whose outputs differ from the original's.
    """
    check_mode(mode)
    inputs = [example_input] if isinstance(example_input, torch.Tensor) else list(example_input)
    if not inputs:
        raise ConfigError("optimize_for_inference needs at least one example input")
    if model.training:
        raise ConfigError("optimize_for_inference needs an eval-mode model (call model.eval() first)")
    if mode == "none":
        return model, {"mode": "none"}
    if mode == "compile":
        problem = inductor_problem(inputs[0].device.type)
        if problem:
            raise ConfigError(problem)
    fused, info = fuse_batchnorm(model, inputs)
    if mode == "fuse_bn":
        return fused, info
    compiled, compile_info = compile_model(fused, model, inputs)
    return compiled, {**info, **compile_info, "mode": "compile", "compiled_after": "fuse_bn"}


# -- verification -------------------------------------------------------------------------------------------

def tolerance(dtype: torch.dtype) -> float:
    """Allowed difference, relative to the output's largest magnitude: 1e-4, or 1e-2 in 16-bit types."""
    return 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-4


def max_relative_difference(reference: Any, candidate: Any) -> float:
    """max |candidate - reference| / max |reference| over every tensor of two (nested) model outputs."""
    ref, _ = tree_flatten(reference)
    cand, _ = tree_flatten(candidate)
    ref = [t for t in ref if isinstance(t, torch.Tensor)]
    cand = [t for t in cand if isinstance(t, torch.Tensor)]
    if len(ref) != len(cand) or any(a.shape != b.shape for a, b in zip(ref, cand)):
        return float("inf")
    scale = max((float(r.detach().abs().max()) for r in ref if r.numel()), default=0.0)
    diff = max((float((c.detach().double() - r.detach().double()).abs().max()) for r, c in zip(ref, cand)
                if r.numel()), default=0.0)
    if diff != diff:  # NaN
        return float("inf")
    return diff / scale if scale > 0 else diff


def verify_same_outputs(original: nn.Module, rewritten: nn.Module, inputs: list[torch.Tensor],
                        what: str) -> float:
    """Largest relative output difference of ``rewritten`` against ``original`` over ``inputs`` (inference
    mode); ConfigError when it exceeds the dtype's tolerance: a wrong model is never returned."""
    worst = 0.0
    with torch.inference_mode():
        for x in inputs:
            rel = max_relative_difference(original(x), rewritten(x))
            limit = tolerance(x.dtype)
            if not rel <= limit:
                raise ConfigError(f"{what} changed the model's outputs on input {tuple(x.shape)}: max "
                                  f"relative difference {rel:.2e} > {limit:.0e}; refusing to time a wrong model")
            worst = max(worst, rel)
    return worst


# -- recording one forward pass -----------------------------------------------------------------------------

@dataclass
class _Call:
    """One torch function call of the recorded forward pass."""

    name: str
    args: tuple
    kwargs: dict
    inputs: list[torch.Tensor]
    outputs: list[torch.Tensor]
    module: nn.Module | None  # the innermost BatchNorm module whose forward was running, if any


class _Recorder(TorchFunctionMode):
    """Records every torch function call (keeping its tensors alive, so storages are never reused)."""

    def __init__(self):
        super().__init__()
        self.calls: list[_Call] = []
        self.module_stack: list[nn.Module] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        name = getattr(func, "__name__", str(func))
        self.calls.append(_Call(name, args, kwargs, inputs, outputs,
                                self.module_stack[-1] if self.module_stack else None))
        return out


def _storage(t: torch.Tensor) -> int | None:
    """Key of a tensor's storage (shared by all its views), or None for tensors without one."""
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return None
    return storage.data_ptr() if storage.nbytes() else None


def _record(model: nn.Module, x: torch.Tensor) -> tuple[list[_Call], Any]:
    """Run ``model(x)`` once under the recorder; the calls and the output."""
    recorder = _Recorder()
    handles = []

    def enter(module, _args):
        recorder.module_stack.append(module)

    def leave(_module, _args, _output):
        recorder.module_stack.pop()  # returns nothing: a forward hook's return value would replace the output

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            handles.append(m.register_forward_pre_hook(enter))
            handles.append(m.register_forward_hook(leave))
    try:
        with torch.no_grad(), recorder:
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    return recorder.calls, out


# -- pair analysis ------------------------------------------------------------------------------------------

@dataclass
class _Pair:
    """A producer call and the BatchNorm that normalises its output."""

    bn: nn.Module
    weight: nn.Parameter
    bias: nn.Parameter


def _producer_parts(call: _Call) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(weight argument, bias argument, output-channel axis of the output) of a conv/linear call."""
    args = list(call.args) + [None] * 3
    weight = call.kwargs.get("weight", args[1])
    bias = call.kwargs.get("bias", args[2])
    out = call.outputs[0]
    if call.name == "linear":
        return weight, bias, out.dim() - 1
    x = call.kwargs.get("input", args[0])
    return weight, bias, 1 if x.dim() == weight.dim() else 0


def _full_alias(arg: torch.Tensor | None, params: dict[int, nn.Parameter], dim0: bool) -> nn.Parameter | None:
    """The parameter ``arg`` is (or fully views, with the same dim 0 when ``dim0``), else None."""
    if arg is None:
        return None
    p = params.get(_storage(arg))
    if p is None or arg.numel() != p.numel() or arg.storage_offset() != p.storage_offset():
        return None
    if dim0 and (arg.dim() < 1 or arg.size(0) != p.size(0) or (p.size(0) > 1 and arg.stride(0) != p.stride(0))):
        return None
    return p


def _channels_match(out: torch.Tensor, channel_dim: int, bn_in: torch.Tensor) -> bool:
    """Whether ``bn_in`` (a view of the producer output ``out``) holds every element of ``out`` exactly
    once with dim 1 = ``out``'s axis ``channel_dim``: checked on index maps laid out like ``out``."""
    if bn_in.dim() < 2 or bn_in.numel() != out.numel() or bn_in.size(1) != out.size(channel_dim):
        return False
    length = out.untyped_storage().nbytes() // out.element_size()
    shape = [1] * out.dim()
    shape[channel_dim] = out.size(channel_dim)

    def mapped(values: torch.Tensor) -> torch.Tensor | None:
        buf = torch.full((length,), -1, dtype=torch.long)
        buf.as_strided(out.size(), out.stride(), out.storage_offset()).copy_(values)
        try:
            return buf.as_strided(bn_in.size(), bn_in.stride(), bn_in.storage_offset())
        except RuntimeError:
            return None

    ids = mapped(torch.arange(out.numel()).view(out.size()))
    if ids is None or not torch.equal(ids.flatten().sort().values, torch.arange(out.numel())):
        return False
    channels = mapped(torch.arange(out.size(channel_dim)).view(shape).expand(out.size()))
    expected = torch.arange(bn_in.size(1)).view([1, -1] + [1] * (bn_in.dim() - 2))
    return bool((channels == expected).all())


def _other_readers(calls: list[_Call], start: int, skip: int, key: int) -> list[str]:
    """Names of the calls after ``start`` (other than ``skip``) that read storage ``key`` beyond viewing it
    or asking its metadata."""
    readers = []
    for i in range(start + 1, len(calls)):
        c = calls[i]
        if i == skip or not any(_storage(t) == key for t in c.inputs):
            continue
        if c.outputs and c.name in VIEW_OPS and all(_storage(o) == key for o in c.outputs):
            continue
        if not c.outputs and c.name in METADATA_OPS:
            continue
        readers.append(c.name)
    return readers


def _param_readers(calls: list[_Call], key: int) -> int:
    """How many calls read parameter storage ``key`` for computing (views of it excluded)."""
    return sum(1 for c in calls if any(_storage(t) == key for t in c.inputs)
               and not (c.outputs and c.name in VIEW_OPS and all(_storage(o) == key for o in c.outputs)))


def _find_pair(calls: list[_Call], index: int, bn: nn.Module, params: dict[int, nn.Parameter],
               final_outputs: list[torch.Tensor]) -> tuple[_Pair | None, str]:
    """The foldable producer of the BatchNorm call ``calls[index]``, or None and the reason why not."""
    call = calls[index]
    bound = _BN_SIGNATURE.bind(*call.args, **call.kwargs).arguments
    x = bound["input"]
    if call.module is not bn:
        return None, "called functionally (F.batch_norm), not as a module"
    key = _storage(x)
    producer = None if key is None else next(
        (j for j in range(index - 1, -1, -1)
         if calls[j].name in PRODUCERS and calls[j].outputs and _storage(calls[j].outputs[0]) == key), None)
    if producer is None:
        return None, "its input is not the output of a conv/linear call"
    pcall = calls[producer]
    weight_arg, bias_arg, channel_dim = _producer_parts(pcall)
    out = pcall.outputs[0]
    if not _channels_match(out, channel_dim, x):
        return None, f"it does not normalise the {pcall.name} output's channels one to one"
    readers = _other_readers(calls, producer, index, key)
    if readers:
        return None, f"the {pcall.name} output is also read by {readers[0]} (e.g. a residual)"
    if any(_storage(t) == key for t in final_outputs):
        return None, f"the {pcall.name} output is also a model output"
    weight = _full_alias(weight_arg, params, dim0=True)
    if weight is None:
        return None, f"the {pcall.name} weight is not a parameter with output channels on dim 0"
    if _param_readers(calls, _storage(weight)) != 1:
        return None, f"the {pcall.name} weight is read by more than one call"
    if bias_arg is None:
        return None, f"the {pcall.name} call passes bias=None explicitly (functional call), so the shift has no place"
    bias = _full_alias(bias_arg, params, dim0=False)
    if bias is None or bias.dim() != 1 or bias.numel() != weight.size(0):
        return None, f"the {pcall.name} bias is not a parameter of the layer"
    if _param_readers(calls, _storage(bias)) != 1:
        return None, f"the {pcall.name} bias is read by more than one call"
    return _Pair(bn, weight, bias), ""


def _analyse(model: nn.Module, x: torch.Tensor) -> tuple[list[_Pair], dict[nn.Module, str]]:
    """Foldable pairs of one forward pass on ``x``, and the reason for every BatchNorm left out."""
    bns = {m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    calls, output = _record(model, x)
    final_outputs = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
    params = {_storage(p): p for p in model.parameters()}
    running = {_storage(m.running_mean): m for m in bns if m.running_mean is not None}
    seen: dict[nn.Module, list[int]] = {}
    for i, c in enumerate(calls):
        if c.name == "batch_norm":
            owner = running.get(_storage(_BN_SIGNATURE.bind(*c.args, **c.kwargs).arguments["running_mean"]))
            if owner is not None:
                seen.setdefault(owner, []).append(i)
    pairs, skipped = [], {}
    for bn in bns:
        if bn.running_mean is None or bn.running_var is None:
            skipped[bn] = "no running statistics (track_running_stats=False): it normalises with batch statistics"
        elif bn not in seen:
            skipped[bn] = "not called on the example input"
        elif len(seen[bn]) > 1:
            skipped[bn] = f"called {len(seen[bn])} times"
        else:
            pair, why = _find_pair(calls, seen[bn][0], bn, params, final_outputs)
            if pair is None:
                skipped[bn] = why
            else:
                pairs.append(pair)
    claimed: dict[int, int] = {}
    for p in pairs:  # two BatchNorms may not fold into one layer
        claimed[id(p.weight)] = claimed.get(id(p.weight), 0) + 1
    keep = [p for p in pairs if claimed[id(p.weight)] == 1]
    for p in pairs:
        if claimed[id(p.weight)] > 1:
            skipped[p.bn] = "its layer feeds more than one BatchNorm"
    return keep, skipped


# -- folding ------------------------------------------------------------------------------------------------

def _add_probe_biases(model: nn.Module) -> dict[nn.Module, nn.Parameter]:
    """Give every conv / linear layer without bias a zero bias parameter (outputs unchanged), so that the
    recording shows whether its call reads ``self.bias``. Returns the probes."""
    probes = {}
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and m.bias is None \
                and not isinstance(m, nn.modules.conv._ConvTransposeNd):
            out_channels = m.out_features if isinstance(m, nn.Linear) else m.out_channels
            m.bias = nn.Parameter(torch.zeros(out_channels, dtype=m.weight.dtype, device=m.weight.device),
                                  requires_grad=m.weight.requires_grad)
            probes[m] = m.bias
    return probes


@torch.no_grad()
def _fold(pair: _Pair) -> None:
    """Rescale the producer's weight and bias in place so that they compute BN(producer(x))."""
    bn, w, b = pair.bn, pair.weight, pair.bias
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    w.copy_((w.double() * scale.view([-1] + [1] * (w.dim() - 1))).to(w.dtype))
    b.copy_(((b.double() - mean) * scale + beta).to(b.dtype))


def _replace_by_identity(model: nn.Module, target: nn.Module) -> None:
    """Put ``nn.Identity()`` wherever ``target`` is registered as a child."""
    for parent in model.modules():
        for name, child in list(parent._modules.items()):
            if child is target:
                parent._modules[name] = nn.Identity()


def _names(model: nn.Module) -> dict[nn.Module, str]:
    return {m: n for n, m in model.named_modules()}


def _shape_guard(shapes: set[tuple[int, ...]]):
    """Forward pre-hook refusing inputs of shapes (batch aside) the fused copy was not verified on."""
    verified = " or ".join(str(("batch",) + s) for s in sorted(shapes))

    def guard(_module, args):
        shape = tuple(args[0].shape[1:]) if args and isinstance(args[0], torch.Tensor) else None
        if shape not in shapes:
            raise ValueError(f"this fuse_bn copy was verified for inputs {verified} only (the folds may not "
                             f"hold on another forward path); run optimize_for_inference for the new shape")
    return guard


def _outputs_of(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The output of each named submodule (called once) in one forward pass on ``x``, copied when produced
    (later in-place ops such as ``relu_`` must not change it)."""
    modules = dict(model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    handles = [modules[n].register_forward_hook(
        lambda _m, _a, out, n=n: seen.setdefault(n, out.detach().clone())) for n in names]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def verify_folds(original: nn.Module, fused: nn.Module, names: list[str], x: torch.Tensor) -> float:
    """Largest relative difference, over the folded BatchNorms ``names``, between the original BatchNorm's
    output and what replaces it in ``fused`` (the folded layer's output); ConfigError above the tolerance.
    This checks every fold where it happens, so a fold is verified even when the model's output does not
    depend on it (a zero-initialised head, say)."""
    before, after = _outputs_of(original, names, x), _outputs_of(fused, names, x)
    worst = 0.0
    for n in names:
        rel = max_relative_difference(before.get(n), after.get(n)) if n in before and n in after else float("inf")
        if not rel <= tolerance(x.dtype):
            raise ConfigError(f"fuse_bn: the layer folded into BatchNorm {n!r} does not reproduce its output "
                              f"(max relative difference {rel:.2e}); refusing to time a wrong model")
        worst = max(worst, rel)
    return worst


def fuse_batchnorm(model: nn.Module, inputs: list[torch.Tensor]) -> tuple[nn.Module, dict[str, Any]]:
    """A verified copy of eval-mode ``model`` with its foldable BatchNorms folded (module docstring)."""
    fused = copy.deepcopy(model).eval()
    names = _names(fused)
    bn_total = sum(1 for m in fused.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    probes = _add_probe_biases(fused)
    pairs, skipped = _analyse(fused, inputs[0])
    used = {id(p.bias) for p in pairs}
    for pair in pairs:
        _fold(pair)
        _replace_by_identity(fused, pair.bn)
    for layer, probe in probes.items():
        if id(probe) not in used:
            layer.bias = None
    folded_names = sorted(names[p.bn] for p in pairs)
    layers = max((verify_folds(model, fused, folded_names, x) for x in inputs), default=0.0)
    worst = verify_same_outputs(model, fused, inputs, "fuse_bn")
    fused.register_forward_pre_hook(_shape_guard({tuple(x.shape[1:]) for x in inputs}))
    info = {"mode": "fuse_bn", "folded": len(pairs), "bn_total": bn_total,
            "skipped": {names[bn]: why for bn, why in sorted(skipped.items(), key=lambda kv: names[kv[0]])},
            "verified_max_rel_diff": worst, "verified_folds_max_rel_diff": layers,
            "verified_inputs": [list(x.shape) for x in inputs]}
    return fused, info


# -- torch.compile ------------------------------------------------------------------------------------------

def find_cpp_compiler() -> str | None:
    """Path of the C++ compiler inductor would use on CPU (``CXX``, ``torch._inductor.config.cpp.cxx``,
    then g++ / clang++ / c++), or None."""
    candidates = [os.environ.get("CXX")]
    try:
        from torch._inductor import config as inductor_config

        cxx = inductor_config.cpp.cxx
        candidates += list(cxx) if isinstance(cxx, (tuple, list)) else [cxx]
    except (ImportError, AttributeError):
        pass
    candidates += ["g++", "clang++", "c++"]
    for name in candidates:
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _tiny(x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x * 2.0 + 1.0).sum()


@functools.lru_cache(maxsize=None)
def _inductor_test(device_type: str, compiler: str | None) -> str | None:
    """Compile and run a tiny function with inductor; None if it works, else one line saying why."""
    try:
        x = torch.arange(8, dtype=torch.float32, device=device_type)
        got = torch.compile(_tiny, dynamic=False)(x)
        if abs(float(got) - float(_tiny(x))) > 1e-4:
            return f"inductor compiled a test function to a wrong result ({float(got)})"
    except Exception as e:  # noqa: BLE001 - any failure of the toolchain is reported as one line
        first = (str(e).strip().splitlines() or [""])[0][:200]
        return f"inductor could not compile a test function ({type(e).__name__}: {first})"
    return None


def inductor_problem(device_type: str = "cpu") -> str | None:
    """None when ``torch.compile`` (inductor) works here, else one line saying why it does not. On CPU
    inductor builds C++: a compiler must exist and compile a tiny function (cached per process)."""
    compiler = find_cpp_compiler() if device_type == "cpu" else None
    if device_type == "cpu" and compiler is None:
        return ("profile.optimize=compile needs a C++ compiler for inductor on CPU; none found (set CXX or "
                "install g++)")
    problem = _inductor_test(device_type, compiler)
    if problem:
        where = f" with {compiler}" if compiler else ""
        return f"profile.optimize=compile does not work here{where}: {problem}"
    return None


def compile_model(model: nn.Module, original: nn.Module, inputs: list[torch.Tensor],
                  ) -> tuple[nn.Module, dict[str, Any]]:
    """``torch.compile(model, dynamic=False)`` compiled for each input shape (timed: the compile / warm-up
    seconds) and verified against ``original``."""
    compiled = torch.compile(model, dynamic=False)
    seconds = []
    try:
        with torch.inference_mode():
            for x in inputs:
                t0 = time.perf_counter()
                compiled(x)
                seconds.append(time.perf_counter() - t0)
    except Exception as e:  # noqa: BLE001 - a compile failure of this model is one line, not a traceback
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"profile.optimize=compile failed for this model ({type(e).__name__}: {first})") from e
    worst = verify_same_outputs(original, compiled, inputs, "compile")
    return compiled, {"backend": "inductor", "dynamic": False, "compiler": find_cpp_compiler(),
                      "compile_s": seconds, "compiled_max_rel_diff": worst}
