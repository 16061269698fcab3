"""Sweeps reuse the record of an identical experiment (same id, same resolved config) that another
protocol recorded at the same scale, instead of training it again."""
import copy
import json
from pathlib import Path

import pytest

from bench.protocols import load_protocol
from bench.records import SCHEMA, record_path
from bench.sweep import Job, plan, reuse_record

PROTO = "dgnet.blocks"
SCALE = "smoke"


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    return plan(load_protocol(PROTO), SCALE, runs_dir=tmp_path_factory.mktemp("planned"))


def job_in(job, runs_dir):
    """The planned job with its record path moved under ``runs_dir``."""
    j = copy.deepcopy(job)
    j.path = record_path(runs_dir, PROTO, SCALE, j.id)
    return j


def other_record(job, protocol="otherproto", **over):
    rec = {"schema": 1, "id": job.id, "protocol": protocol, "scale": SCALE, "cell": {"model.options.k": 2},
           "seed": job.seed, "config": json.loads(json.dumps(job.cfg)), "variants": job.variants,
           "metrics": {"": {"mpjpe": 61.5, "per_action": {"Walk": {"mpjpe": 60.0}}}}, "params": 4321,
           "shrinks": ["something else (smoke)"], "curve": [], "epochs": 1,
           "dataset": {"fingerprint": {"sha256": job.data_sha256}}}
    rec.update(over)
    return rec


def write(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


def test_record_of_another_schema_is_not_reused(jobs, tmp_path):
    job = jobs[0]
    rec = {"schema": -1, "id": job.id, "protocol": "other.proto", "scale": SCALE, "cell": {},
           "config": json.loads(json.dumps(job.cfg)), "variants": job.variants, "metrics": {}}
    write(tmp_path / "other.proto" / SCALE / f"{job.id}.json", rec)
    assert not reuse_record(job, "mine.proto", SCALE, tmp_path)


def test_plan_gives_jobs_with_distinct_ids(jobs):
    assert len(jobs) == 3 and len({j.id for j in jobs}) == 3
    assert all(isinstance(j, Job) for j in jobs)


def test_identical_record_of_another_protocol_is_copied(jobs, tmp_path):
    job = job_in(jobs[1], tmp_path)
    src = write(tmp_path / "otherproto" / SCALE / f"{job.id}.json", other_record(job))
    before = src.read_text()
    assert not job.path.exists()
    assert reuse_record(job, PROTO, SCALE, tmp_path) is True
    rec = json.loads(job.path.read_text())
    assert rec["protocol"] == PROTO
    assert rec["cell"] == job.cell == {"model.options.blocks": 3}
    assert rec["shrinks"] == job.shrinks
    assert rec["shared_from"] == "otherproto"
    assert rec["id"] == job.id and rec["config"] == json.loads(json.dumps(job.cfg))
    assert rec["metrics"] == other_record(job)["metrics"] and rec["params"] == 4321
    assert src.read_text() == before  # the source record is left alone


def test_shared_from_names_the_protocol_that_trained_it(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    write(tmp_path / "middle" / SCALE / f"{job.id}.json",
          other_record(job, protocol="middle", shared_from="firstproto"))
    assert reuse_record(job, PROTO, SCALE, tmp_path)
    assert json.loads(job.path.read_text())["shared_from"] == "firstproto"


def test_record_with_a_different_config_is_not_reused(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    rec = other_record(job)
    rec["config"]["train"]["epochs"] += 1  # same file name and id, other experiment
    write(tmp_path / "otherproto" / SCALE / f"{job.id}.json", rec)
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert not job.path.exists()


def test_record_made_from_other_data_is_not_reused(jobs, tmp_path):
    """The same config and id, but its data files had other contents (replaced in place), or the record
    does not say what they were."""
    job = job_in(jobs[0], tmp_path)
    write(tmp_path / "otherproto" / SCALE / f"{job.id}.json",
          other_record(job, dataset={"fingerprint": {"sha256": "0" * 64}}))
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    write(tmp_path / "thirdproto" / SCALE / f"{job.id}.json", other_record(job, dataset={}))
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert not job.path.exists()


def test_record_with_a_different_id_is_not_reused(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    write(tmp_path / "otherproto" / SCALE / f"{job.id}.json", other_record(job, id="0123456789ab"))
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert not job.path.exists()


def test_record_of_the_same_protocol_is_not_reused(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    own = write(job.path, other_record(job, protocol=PROTO))
    before = own.read_text()
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert own.read_text() == before
    assert "shared_from" not in json.loads(own.read_text())


def test_record_of_another_scale_is_not_reused(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    write(tmp_path / "otherproto" / "quick" / f"{job.id}.json", other_record(job, scale="quick"))
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert not job.path.exists()


def test_unreadable_record_is_skipped(jobs, tmp_path):
    job = job_in(jobs[2], tmp_path)
    write(tmp_path / "aproto" / SCALE / f"{job.id}.json", '{"id": "truncated')
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert not job.path.exists()
    # a readable identical record elsewhere is still found (the broken one sorts first)
    write(tmp_path / "bproto" / SCALE / f"{job.id}.json", other_record(job, protocol="bproto"))
    assert reuse_record(job, PROTO, SCALE, tmp_path) is True
    assert json.loads(job.path.read_text())["shared_from"] == "bproto"


def test_no_records_at_all(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False
    assert not job.path.exists()


def test_directly_constructed_job(tmp_path):
    from bench.config import resolve
    from bench.config import experiment_id

    cfg = resolve({"model.name": "martinez", "train.epochs": 1})
    rid = experiment_id(cfg, [{}])
    job = Job(cfg=cfg, cell={"train.epochs": 1}, seed=0, variants=[{}], shrinks=["a -> b (smoke)"], id=rid,
              path=record_path(tmp_path, "mine.proto", SCALE, rid))
    rec = {"schema": SCHEMA, "id": rid, "protocol": "theirs.proto", "scale": SCALE, "cell": {},
           "config": json.loads(json.dumps(cfg)),
           "variants": [{}], "metrics": {"": {"mpjpe": 1.0}}}
    write(tmp_path / "theirs.proto" / SCALE / f"{rid}.json", rec)
    assert reuse_record(job, "mine.proto", SCALE, tmp_path)
    got = json.loads(job.path.read_text())
    assert (got["protocol"], got["cell"], got["shared_from"], got["shrinks"]) == (
        "mine.proto", {"train.epochs": 1}, "theirs.proto", ["a -> b (smoke)"])


def test_record_that_is_not_a_json_object_is_skipped(jobs, tmp_path):
    job = job_in(jobs[0], tmp_path)
    write(tmp_path / "aproto" / SCALE / f"{job.id}.json", "null")
    assert reuse_record(job, PROTO, SCALE, tmp_path) is False


def test_sweep_with_every_cell_shared_trains_nothing(jobs, tmp_path):
    """run_sweep copies the shared records, runs nothing and builds its table from the copies."""
    import torch

    from bench.sweep import run_sweep

    runs = tmp_path / "runs"
    for j in jobs:
        write(runs / "otherproto" / SCALE / f"{j.id}.json", other_record(j))
    lines = []
    threads = torch.get_num_threads()
    try:
        res = run_sweep(PROTO, SCALE, runs_dir=runs, tables_dir=tmp_path / "tables", plots_dir=None, tb_dir=None,
                        log=lines.append, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert res.ran == 0 and res.skipped == 3
    assert "3 of them shared with other protocols" in lines[0] and "0 to run" in lines[0]
    assert sorted(r["id"] for r in res.records) == sorted(j.id for j in jobs)
    assert all(r["shared_from"] == "otherproto" and r["protocol"] == PROTO for r in res.records)
    assert (tmp_path / "tables" / f"{PROTO}.{SCALE}.md").exists()
