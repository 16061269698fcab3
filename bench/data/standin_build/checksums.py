"""Reproducible npz files and checksums of the stand-in (bit-for-bit rebuilds; docs/data-sources.md:
the derived arrays are committed, the raw packages are needed only to rebuild them).

numpy's own ``savez_compressed`` stamps each zip member with the current time, so two identical
builds would differ in their bytes. :func:`write_npz` writes the same VideoPose3D npz layout
(``<key>.npy`` members, pickled dicts for the nested keys; readable with ``np.load(...,
allow_pickle=True)``) with a fixed member date (1980-01-01), fixed attributes and deflate level 6,
so identical arrays give identical file bytes with the same numpy/zlib versions.

:func:`content_sha256` hashes the *decoded* content in a canonical order (dict keys sorted; for
every array its dtype, shape and little-endian C-order bytes), which does not depend on the
pickle or zip encoding at all. ``SHA256SUMS`` lists both per file.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
CONTENT_PREFIX = "# content "


def write_npz(path: str | os.PathLike, **items) -> None:
    """Write an npz whose bytes depend only on ``items`` (see the module docstring)."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for key, value in items.items():
            if isinstance(value, np.ndarray):
                arr = value
            else:
                arr = np.empty((), dtype=object)
                arr[()] = value
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=True)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=FIXED_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zf.writestr(info, buf.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)


def _feed(h, obj) -> None:
    if isinstance(obj, dict):
        h.update(b"{")
        for k in sorted(obj, key=str):
            h.update(json.dumps(str(k)).encode() + b":")
            _feed(h, obj[k])
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _feed(h, v)
            h.update(b",")
        h.update(b"]")
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        a = np.ascontiguousarray(obj)
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        h.update(f"array:{a.dtype.str}:{a.shape}:".encode())
        h.update(a.tobytes())
    elif isinstance(obj, np.ndarray):
        _feed(h, obj.item() if obj.shape == () else obj.tolist())
    else:
        h.update(b"json:" + json.dumps(obj, sort_keys=True, default=str).encode())


def content_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of an npz file's decoded content, in canonical order (see the module docstring)."""
    h = hashlib.sha256()
    with np.load(path, allow_pickle=True) as f:
        for key in sorted(f.files):
            h.update(json.dumps(key).encode() + b"=")
            value = f[key]
            _feed(h, value.item() if value.dtype == object and value.shape == () else value)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_sums(folder: str | os.PathLike) -> dict[str, tuple[str, str | None]]:
    """Write ``SHA256SUMS`` for every file under ``folder`` (except itself); return name -> (file, content)."""
    folder = Path(folder)
    sums = {}
    for p in sorted(q for q in folder.rglob("*") if q.is_file() and q.name != "SHA256SUMS"):
        name = p.relative_to(folder).as_posix()
        sums[name] = (file_sha256(p), content_sha256(p) if p.suffix == ".npz" else None)
    lines = ["# SHA-256 of each file's bytes (checkable with: sha256sum -c SHA256SUMS)"]
    lines += [f"{f}  {n}" for n, (f, _) in sums.items()]
    lines.append("# SHA-256 of each npz file's decoded arrays in canonical order "
                 "(bench.data.standin_build.checksums.content_sha256)")
    lines += [f"{CONTENT_PREFIX}{c}  {n}" for n, (_, c) in sums.items() if c]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return sums


def read_sums(folder: str | os.PathLike) -> dict[str, tuple[str, str | None]]:
    """Parse a ``SHA256SUMS`` written by :func:`write_sums`."""
    out: dict[str, list] = {}
    for line in (Path(folder) / "SHA256SUMS").read_text().splitlines():
        if line.startswith(CONTENT_PREFIX):
            digest, name = line[len(CONTENT_PREFIX):].split("  ", 1)
            out.setdefault(name, [None, None])[1] = digest
        elif line and not line.startswith("#"):
            digest, name = line.split("  ", 1)
            out.setdefault(name, [None, None])[0] = digest
    return {k: (v[0], v[1]) for k, v in out.items()}
