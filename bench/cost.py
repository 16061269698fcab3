"""What a sweep costs before it runs: the wall time of every planned job, taken from run records of the same
recipe that already exist (issue 19: "its cost stated per protocol").

Two jobs share a *recipe* when their resolved configs are equal but for the seed (any protocol, any scale);
a job's cost is the median ``wall_time_s`` of the records of its recipe under the runs folder. A job whose
exact recipe never ran takes the median of *similar* runs: the same model, batch, budget (steps, or epochs
and window stride) and the options that set its size (SIZE_OPTIONS), whatever its other options (a graph
style or a loss term changes the cost little next to width and depth); the estimate says how many jobs
were priced that way. A job with neither is "not measured" and counted apart, never guessed.

Times are as measured: on the machine and with the parallelism (``--jobs``) of the runs that wrote them, so
an estimate is for a machine like that one. ``bench cost`` prints the sum per protocol in CPU hours
(one job = one process; with ``--jobs N`` the wall time is about the sum divided by N on N free cores).
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from bench.config import complete, config_hash, hash_view

#: Model options that set how much a model computes per window (width, depth, frames): part of the
#: "similar run" key.
SIZE_OPTIONS = ("receptive_field", "frames", "channels", "widths", "hidden_size", "hidden_sizes", "linear_size",
                "hid_dim", "blocks", "num_layers", "filter_widths")

#: Keys that do not change what a training run costs (a seed draws other numbers at the same price; an
#: evaluation variant or test-time noise is evaluated after training at a small, separate cost).
_FREE_KEYS = ("seed",)


def recipe_key(cfg: dict) -> str:
    """A stable key of everything in a resolved config that sets a run's cost (all but the seed)."""
    view = hash_view(cfg)
    for k in _FREE_KEYS:
        view.pop(k, None)
    return config_hash(view)


def similar_key(cfg: dict) -> str:
    """The key of runs that cost about the same: model, its SIZE_OPTIONS, batch, budget, validation."""
    t, opts = cfg["train"], cfg["model"]["options"]
    view = {"model": cfg["model"]["name"], "size": {k: opts.get(k) for k in SIZE_OPTIONS if k in opts},
            "batch": t["batch_size"], "steps": t.get("steps"),
            "epochs": None if t.get("steps") else (t["epochs"], t["window_stride"]),
            "val": cfg["data"].get("validation_fraction"), "window_step": cfg["eval"].get("window_step")}
    return "~" + config_hash(view)


def measured_times(runs_dir: Path) -> dict[str, list[float]]:
    """recipe key (and similar key, prefixed ``~``) -> wall times (s) of every readable training record
    under ``runs_dir``."""
    out: dict[str, list[float]] = {}
    for path in sorted(Path(runs_dir).glob("*/*/*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a corrupt record costs nothing to skip; sweeps move it aside themselves
        cfg, wall = rec.get("config"), rec.get("wall_time_s")
        if not isinstance(cfg, dict) or not isinstance(wall, (int, float)):
            continue
        if (cfg.get("run") or {}).get("kind", "train") != "train":
            continue
        try:
            full = complete(json.loads(json.dumps(cfg)))
            keys = (recipe_key(full), similar_key(full))
        except (KeyError, TypeError):
            continue
        for key in keys:
            out.setdefault(key, []).append(float(wall))
    return out


@dataclass
class Cost:
    """The estimated cost of a protocol's plan at one scale."""

    protocol: str
    scale: str
    jobs: int
    measured_jobs: int = 0
    similar_jobs: int = 0  # of measured_jobs, priced by similar runs (no run of the exact recipe)
    shared_jobs: int = 0  # planned by a protocol priced before (same experiment id): trained once, priced there
    seconds: float = 0.0
    unmeasured: list[str] = field(default_factory=list)  # labels of jobs whose recipe never ran

    @property
    def cpu_hours(self) -> float:
        return self.seconds / 3600.0

    def line(self) -> str:
        est = f"{self.cpu_hours:.2f} CPU h over {self.measured_jobs} measured job(s)"
        if self.similar_jobs:
            est += f" ({self.similar_jobs} priced by similar runs)"
        rest = f"; {self.shared_jobs} shared with a protocol above (not counted again)" if self.shared_jobs else ""
        rest += f"; {len(self.unmeasured)} job(s) not measured" if self.unmeasured else ""
        return f"{self.protocol} @ {self.scale}: {self.jobs} job(s), {est}{rest}"


def estimate(protocol_name: str, scale: str, runs_dir: Path, times: dict[str, list[float]] | None = None,
             priced: set[str] | None = None) -> Cost:
    """The cost of ``protocol_name`` at ``scale`` from the records of the same recipes under ``runs_dir``.
    ``priced``: ids of jobs already priced for other protocols of the same sweep; a sweep trains an
    experiment once however many protocols plan it (bench.sweep.reuse_record), so those cost nothing here.
    The ids of this plan are added to it."""
    from bench.planning import plan
    from bench.protocols import load_protocol

    times = measured_times(runs_dir) if times is None else times
    jobs = plan(load_protocol(protocol_name), scale, runs_dir=runs_dir)
    cost = Cost(protocol_name, scale, len(jobs))
    for job in jobs:
        if priced is not None:
            if job.id in priced:
                cost.shared_jobs += 1
                continue
            priced.add(job.id)
        if job.cfg["run"]["kind"] != "train":
            cost.unmeasured.append(f"{job.label} (profile cell)")
            continue
        walls = times.get(recipe_key(job.cfg))
        similar = None if walls else times.get(similar_key(job.cfg))
        if walls or similar:
            cost.seconds += statistics.median(walls or similar)
            cost.measured_jobs += 1
            cost.similar_jobs += similar is not None
        else:
            cost.unmeasured.append(job.label)
    return cost
