"""One cell of a sweep, whatever its kind (``run.kind``): a training run (bench.engine.experiment) or a
profile cell (bench.profile_cells). The one place that tells them apart; sweeps, launchers and ``bench
train`` call :func:`execute`."""
from __future__ import annotations


def execute(cfg: dict, **kwargs) -> dict | None:
    """Run the resolved config ``cfg`` (keyword arguments as :func:`bench.engine.experiment.run_experiment`;
    a profile cell takes the identity and output ones) and return its run record."""
    from bench.config import experiment_id

    if cfg["run"]["kind"] == "profile":
        from bench.engine.experiment import check_processes
        from bench.profile_cells import profile_experiment

        check_processes(cfg)
        variants = kwargs.get("variants") or [{}]
        keep = {k: kwargs[k] for k in ("protocol", "scale", "cell", "shrinks", "runs_dir", "overrides") if k in kwargs}
        return profile_experiment(cfg, run_id=experiment_id(cfg, variants), **keep)
    from bench.engine.experiment import run_experiment

    return run_experiment(cfg, **kwargs)
