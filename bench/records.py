"""Run records: one JSON file per finished experiment, written atomically.

Layout: ``runs/<protocol or 'adhoc'>/<scale>/<experiment id>.json`` under the results root
(:func:`bench.paths.results_root`; ``results/`` of the checkout by default). A record holds the
resolved config, metrics (per evaluation variant, overall and per action), the training curve, wall
time, machine, library versions and git revision. A sweep that is started again skips every cell
whose record exists.
"""
from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

from bench.errors import DataError, OutputError

SCHEMA = 1


def record_path(runs_dir: str | os.PathLike, protocol: str | None, scale: str, run_id: str) -> Path:
    return Path(runs_dir) / (protocol or "adhoc") / scale / f"{run_id}.json"


def _why(e: OSError) -> str:
    return {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
            errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.ENOTDIR: "a path component is a file, not a folder",
            errno.EEXIST: "a path component is a file, not a folder"}.get(e.errno, e.strerror or str(e))


def write_atomic(path: str | os.PathLike, write, suffix: str = ".tmp") -> Path:
    """Write ``path`` through a temporary file in the same folder and an atomic rename: readers see the
    old file or the whole new one, never a part. ``write(tmp_path)`` writes the content (text, JSON,
    a figure, a checkpoint); the file gets the umask's permissions (mkstemp would leave 0600). An
    OSError (disk full, read-only, a file where a folder should be) is one OutputError line and leaves
    nothing behind."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
        os.close(fd)
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with open(tmp, "rb") as fh:  # on disk before the rename, so a crash cannot leave an empty file
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {_why(e)}; free space or write elsewhere") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    def write(tmp):
        with open(tmp, "w") as fh:
            fh.write(text)
    return write_atomic(path, write)


def write_json_atomic(path: str | os.PathLike, obj) -> Path:
    """JSON (sorted keys, indented) through :func:`write_atomic`."""
    return write_text_atomic(path, json.dumps(obj, indent=1, sort_keys=True))


def check_writable(folder: str | os.PathLike, what: str, hint: str = "choose another folder") -> None:
    """Find out before training, not after, that ``folder`` cannot be written: a probe file is created
    and removed in it, or in its nearest existing ancestor if it does not exist yet (nothing is left
    behind: a run stopped by bad input writes nothing). OutputError, one line."""
    folder = Path(folder).absolute()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(existing))
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".write-probe.")
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OutputError(f"{what} {folder} is not writable ({_why(e)}): {hint}") from None


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
                 scale: str | None = None, skip_corrupt=None) -> list[dict]:
    """All records under ``runs_dir``, optionally of one protocol and/or scale, sorted by path.

    A corrupt record raises DataError saying how to recover, unless ``skip_corrupt`` is given: a
    function called with a one-line message per skipped file (``bench table`` prints it)."""
    root = Path(runs_dir)
    if protocol:
        root = root / protocol
    if not root.exists():
        return []
    pattern = f"{scale}/*.json" if scale and protocol else ("*/*/*.json" if not protocol else "*/*.json")
    out = []
    for p in sorted(root.glob(pattern)):
        try:
            rec = read_record(p)
        except DataError as e:
            hint = (f"{e}; `bench ablate {protocol or p.parent.parent.name} --scale {p.parent.name}` moves it "
                    f"aside and runs its cell again")
            if skip_corrupt is None:
                raise DataError(hint) from None
            skip_corrupt(f"skipped: {hint}")
            continue
        if scale and rec.get("scale") != scale:
            continue
        out.append(rec)
    return out
