"""bench cost: a plan priced by the wall times of records of the same (or a similar) recipe."""
import json

from bench.cost import estimate, measured_times, recipe_key, similar_key
from bench.planning import plan
from bench.protocols import load_protocol

PROTO = "videopose3d.receptive_field"


def write(runs, proto, job, wall, seed=None):
    cfg = json.loads(json.dumps(job.cfg))
    if seed is not None:
        cfg["seed"] = seed
    path = runs / proto / "quick" / f"{job.id}-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": cfg, "wall_time_s": wall}))


def test_exact_recipe_median_any_seed_and_protocol(tmp_path):
    jobs = plan(load_protocol(PROTO), "quick", runs_dir=tmp_path)
    j27 = [j for j in jobs if j.cfg["model"]["options"]["receptive_field"] == 27]
    # three records of the 27-frame recipe under another protocol's folder, other seeds: median 20 s
    for seed, wall in ((7, 10.0), (8, 20.0), (9, 90.0)):
        write(tmp_path, "some.other", j27[0], wall, seed)
    cost = estimate(PROTO, "quick", tmp_path)
    assert cost.jobs == 9 and cost.measured_jobs == 3 and cost.similar_jobs == 0
    assert cost.seconds == 3 * 20.0
    assert len(cost.unmeasured) == 6 and "not measured" in cost.line()


def test_similar_runs_price_other_options_of_the_same_size(tmp_path):
    jobs = plan(load_protocol(PROTO), "quick", runs_dir=tmp_path)
    job = jobs[0]
    other = json.loads(json.dumps(job.cfg))
    other["model"]["options"]["dropout"] = 0.5  # not a size option: a similar run, not the same recipe
    assert recipe_key(other) != recipe_key(job.cfg) and similar_key(other) == similar_key(job.cfg)
    other["model"]["options"]["channels"] = 512  # a size option: neither
    assert similar_key(other) != similar_key(job.cfg)


def test_unreadable_and_profile_records_are_skipped(tmp_path):
    (tmp_path / "p" / "quick").mkdir(parents=True)
    (tmp_path / "p" / "quick" / "bad.json").write_text("{not json")
    (tmp_path / "p" / "quick" / "prof.json").write_text(json.dumps({"config": {"run": {"kind": "profile"}},
                                                                    "wall_time_s": 3}))
    assert measured_times(tmp_path) == {}


def test_jobs_shared_by_two_protocols_are_priced_once(tmp_path):
    # models.size_vs_error plans exactly models.compare's quick experiments (the sweep copies the records)
    jobs = plan(load_protocol("models.compare"), "quick", runs_dir=tmp_path)
    for job in jobs:
        write(tmp_path, "models.compare", job, 100.0, job.cfg["seed"])
    times, priced = measured_times(tmp_path), set()
    first = estimate("models.compare", "quick", tmp_path, times, priced)
    second = estimate("models.size_vs_error", "quick", tmp_path, times, priced)
    assert first.seconds == 100.0 * len(jobs) and first.shared_jobs == 0
    assert second.seconds == 0.0 and second.shared_jobs == second.jobs == len(jobs)
    assert "shared with a protocol above" in second.line()
    alone = estimate("models.size_vs_error", "quick", tmp_path, times)  # priced on its own: full cost
    assert alone.seconds == first.seconds
