"""Run records: one JSON file per finished experiment, written atomically.

Layout: ``results/runs/<protocol or 'adhoc'>/<scale>/<experiment id>.json``. A record holds the
resolved config, metrics (per evaluation variant, overall and per action), the training curve, wall
time, machine, library versions and git revision. A sweep that is started again skips every cell
whose record exists.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from bench.errors import DataError

SCHEMA = 1


def record_path(runs_dir: str | os.PathLike, protocol: str | None, scale: str, run_id: str) -> Path:
    return Path(runs_dir) / (protocol or "adhoc") / scale / f"{run_id}.json"


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write JSON via a temp file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; records are meant to be shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_record(path: str | os.PathLike) -> dict:
    try:
        with open(path) as fh:
            rec = json.load(fh)
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"unreadable run record {path}: {e}") from None
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        raise DataError(f"run record {path} has an unknown schema (expected {SCHEMA})")
    if isinstance(rec.get("config"), dict):
        from bench.config import complete
        complete(rec["config"])  # a record written before a config key existed has its default
    return rec


def load_records(runs_dir: str | os.PathLike, protocol: str | None = None,
                 scale: str | None = None) -> list[dict]:
    """All records under ``runs_dir``, optionally of one protocol and/or scale, sorted by path."""
    root = Path(runs_dir)
    if protocol:
        root = root / protocol
    if not root.exists():
        return []
    pattern = f"{scale}/*.json" if scale and protocol else ("*/*/*.json" if not protocol else "*/*.json")
    out = []
    for p in sorted(root.glob(pattern)):
        rec = read_record(p)
        if scale and rec.get("scale") != scale:
            continue
        out.append(rec)
    return out
