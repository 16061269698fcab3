"""Wall-clock timing of calls: medians and quartiles, several functions interleaved (one neutral module:
the profiler, profile cells and the evaluator's batch-1 latency time the same way)."""
from __future__ import annotations

import statistics
import time
from typing import Any, Callable

import torch

from bench.errors import ConfigError


def _summary(times: list[float]) -> dict[str, Any]:
    """Median / p25 / p75 / min / max (ms) of a list of call times."""
    times = sorted(times)
    if len(times) > 1:
        p25, _, p75 = statistics.quantiles(times, n=4, method="inclusive")
    else:
        p25 = p75 = times[0]
    return {"median": statistics.median(times), "p25": p25, "p75": p75, "min": times[0], "max": times[-1],
            "repeats": len(times)}


def time_calls(fn: Callable[[], Any], warmup: int, repeats: int, dev: torch.device) -> dict[str, Any]:
    """Median / p25 / p75 (ms) of ``repeats`` timed calls of ``fn`` after ``warmup`` untimed ones."""
    return time_calls_interleaved([fn], warmup, repeats, dev)[0]


def time_calls_interleaved(fns: list[Callable[[], Any]], warmup: int, repeats: int,
                           dev: torch.device) -> list[dict[str, Any]]:
    """``time_calls`` of several functions at once: ``warmup`` untimed calls of each, then ``repeats`` rounds
    of one timed call of each, the order reversed every other round (a, b, b, a, ...), so that a change of
    machine load during the measurement affects every function alike. One summary per function."""
    if repeats < 1:
        raise ConfigError(f"repeats={repeats} must be at least 1")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    for fn in fns:
        for _ in range(max(warmup, 0)):
            fn()
    sync()
    times: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            sync()
            t0 = time.perf_counter()
            fns[i]()
            sync()
            times[i].append((time.perf_counter() - t0) * 1000.0)
    return [_summary(t) for t in times]
