"""Reported tables: the published numbers of a paper, cell by cell (design.md, "Reported table").

``results/reported/<paper>.yaml`` holds, per paper table, the paper's own protocol (dataset, 2D source,
metric, epochs, ...) and a list of cells. A cell is keyed by dotted config paths, the same keys a
protocol's grid and evaluation variants use, so a reproduced run finds its published counterpart by
looking those paths up in its resolved config. The schema and the transcription rules are in
``results/reported/README.md``. Every file is validated on load; a problem is one line naming the file
and the cell.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.dotted import MISSING, get_dotted, has_dotted
from bench.errors import ConfigError, DataError
from bench.filecheck import check_keys
from bench.paths import reference_dir
from bench.yamlio import load as load_yaml

REPORTED_DIR = reference_dir("reported")
SCHEMA = 1

#: Metrics a reported cell may hold (the run record's metric names plus the record-level ones).
METRICS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "pck", "auc", "params", "flops_per_frame",
           "ms_per_frame", "latency_ms_per_frame", "throughput_fps")
#: Config sections a cell key may address.
KEY_SECTIONS = ("model", "data", "train", "eval", "seed")
#: Cell keys that are not config paths: ``action`` is the test action group (a string, e.g.
#: ``Walking`` or ``Average``) that a per-action number belongs to.
PSEUDO_KEYS = ("action",)

_TOP_KEYS = {"schema", "paper", "citation", "source", "tables"}
_TABLE_KEYS = {"title", "section", "location", "protocol", "notes", "cells"}
_CELL_KEYS = {"key", "label", "values", "missing", "note"}
_PROTOCOL_REQUIRED = ("dataset", "source", "metric")
_PROTOCOL_KEYS = set(_PROTOCOL_REQUIRED) | {
    "epochs", "train_subjects", "test_subjects", "batch_size", "lr", "lr_decay", "optimizer", "dropout",
    "frames", "train_2d", "test_2d", "noise", "augmentation", "flip", "averaging", "hardware", "notes"}

_MISSING = MISSING


@dataclass
class ReportedTable:
    """One paper table. ``cells`` is a list of dicts ``{key, label, values, missing, note}``:
    ``key`` dotted path -> value, ``values`` metric -> number or None, ``missing`` metric -> reason."""

    paper: str
    name: str
    title: str
    protocol: dict = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)
    notes: str = ""
    section: str = ""
    location: str = ""
    citation: str = ""
    source: str = ""
    path: str = ""

    @property
    def ref(self) -> str:
        return f"{self.paper}.{self.name}"

    def metrics(self) -> list[str]:
        """The metrics this table reports (in METRICS order)."""
        present = {m for c in self.cells for m in c["values"]}
        return [m for m in METRICS if m in present]


# ----------------------------------------------------------------------------------------------------
# Loading and validation


def reported_path(paper: str, root: str | Path = REPORTED_DIR) -> Path:
    return Path(root) / f"{paper}.yaml"


def list_reported(root: str | Path = REPORTED_DIR) -> list[str]:
    """Papers with a reported-numbers file."""
    return sorted(p.stem for p in Path(root).glob("*.yaml"))


def load_reported(paper: str, root: str | Path = REPORTED_DIR) -> dict:
    """Read and validate ``<root>/<paper>.yaml``.

    Returns ``{"paper", "citation", "source", "path", "tables": {table id: ReportedTable}}``.
    Raises ConfigError for a missing file, DataError for a malformed one.
    """
    path = reported_path(paper, root)
    if not path.is_file():
        known = list_reported(root)
        raise ConfigError(f"no reported numbers for paper {paper!r} (no {path}); "
                          f"known: {', '.join(known) or 'none'}")
    try:
        raw = load_yaml(path.read_text())
    except yaml.YAMLError as e:
        raise DataError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
    return parse_reported(raw, paper, str(path))


def get_reported_table(paper: str, table: str, root: str | Path = REPORTED_DIR) -> ReportedTable:
    """One validated table of a paper's reported numbers."""
    doc = load_reported(paper, root)
    if table not in doc["tables"]:
        raise ConfigError(f"{doc['path']}: no table {table!r}; tables: {', '.join(doc['tables'])}")
    return doc["tables"][table]


def reported_for(protocol, root: str | Path = REPORTED_DIR) -> ReportedTable | None:
    """The reported table a protocol names with ``paper``/``table``; None if it names none. With
    ``also_reported``, the cells of those tables follow the first table's, each label prefixed with its
    table's reference, and their notes are appended (see :func:`merge_reported`)."""
    if not getattr(protocol, "paper", None) or not getattr(protocol, "table", None):
        return None
    first = get_reported_table(protocol.paper, protocol.table, root)
    others = [get_reported_table(*ref.split("."), root) for ref in getattr(protocol, "also_reported", [])]
    return merge_reported(first, others) if others else first


def merge_reported(first: ReportedTable, others: list[ReportedTable]) -> ReportedTable:
    """One table holding the cells of several papers' tables (every cell keeps a ``source`` ref)."""
    cells = [dict(c, source=first.ref) for c in first.cells]
    for t in others:
        cells += [dict(c, source=t.ref, label=f"{t.ref}: {c['label']}") for c in t.cells]
    notes = " ".join([first.notes] + [f"[{t.ref}] {t.notes}" for t in others])
    title = " + ".join([first.title] + [t.title for t in others])
    name = first.name + "".join(f" + {t.ref}" for t in others)  # ref: "attention_tcn.table1 + dgnet.fig4"
    return ReportedTable(paper=first.paper, name=name, title=title, protocol=dict(first.protocol),
                         cells=cells, notes=notes, section=first.section, location=first.location,
                         citation=first.citation, source=first.source, path=first.path)


def validate_all(root: str | Path = REPORTED_DIR) -> dict[str, dict]:
    """Load every reported file under ``root`` (raises on the first problem)."""
    return {paper: load_reported(paper, root) for paper in list_reported(root)}


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _key_text(key: Any) -> str:
    if isinstance(key, dict):
        return ", ".join(f"{k}={v}" for k, v in key.items())
    return repr(key)


def parse_reported(raw: Any, paper: str, where: str) -> dict:
    """Validate a loaded reported-numbers document (see the module docstring for the schema)."""
    if not isinstance(raw, dict):
        raise DataError(f"{where}: expected a mapping at the top level")
    check_keys(raw, _TOP_KEYS, where, error=DataError)
    if raw.get("schema") != SCHEMA:
        raise DataError(f"{where}: 'schema' must be {SCHEMA}, got {raw.get('schema')!r}")
    if raw.get("paper") != paper:
        raise DataError(f"{where}: 'paper' must be {paper!r} (the file name), got {raw.get('paper')!r}")
    for k in ("citation", "source"):
        if k in raw and not isinstance(raw[k], str):
            raise DataError(f"{where}: {k!r} must be a string")
    tables = raw.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise DataError(f"{where}: 'tables' must be a non-empty mapping of table id -> table")
    parsed = {}
    for name, t in tables.items():
        parsed[str(name)] = _parse_table(t, paper, str(name), where, raw)
    return {"paper": paper, "citation": str(raw.get("citation", "")), "source": str(raw.get("source", "")),
            "path": where, "tables": parsed}


def _parse_table(t: Any, paper: str, name: str, where: str, raw: dict) -> ReportedTable:
    tw = f"{where}: tables.{name}"
    if not isinstance(t, dict):
        raise DataError(f"{tw}: expected a mapping")
    check_keys(t, _TABLE_KEYS, tw, error=DataError)
    if not isinstance(t.get("title"), str) or not t["title"].strip():
        raise DataError(f"{tw}: missing 'title' (the paper's caption)")
    for k in ("section", "location", "notes"):
        if k in t and not isinstance(t[k], (str, int, float)):
            raise DataError(f"{tw}: {k!r} must be a string")
    proto = t.get("protocol")
    if not isinstance(proto, dict):
        raise DataError(f"{tw}: missing 'protocol' mapping (dataset, source, metric, ...)")
    check_keys(proto, _PROTOCOL_KEYS, f"{tw}.protocol", error=DataError)
    for k in _PROTOCOL_REQUIRED:
        if proto.get(k) in (None, ""):
            raise DataError(f"{tw}.protocol: missing {k!r}")
    if "epochs" in proto and proto["epochs"] is not None and not _is_number(proto["epochs"]):
        raise DataError(f"{tw}.protocol: 'epochs' must be a number, got {proto['epochs']!r}")
    cells = t.get("cells")
    if not isinstance(cells, list) or not cells:
        raise DataError(f"{tw}: 'cells' must be a non-empty list")
    out, seen = [], {}
    for i, c in enumerate(cells):
        cell = _parse_cell(c, f"{tw}.cells[{i}]")
        ident = tuple(sorted((k, _norm(v)) for k, v in cell["key"].items()))
        if ident in seen:
            raise DataError(f"{tw}.cells[{i}] ({_key_text(cell['key'])}): duplicate cell key, "
                            f"same as cells[{seen[ident]}]")
        seen[ident] = i
        out.append(cell)
    return ReportedTable(paper=paper, name=name, title=" ".join(t["title"].split()), protocol=dict(proto),
                         cells=out, notes=" ".join(str(t.get("notes", "")).split()),
                         section=str(t.get("section", "")), location=str(t.get("location", "")),
                         citation=" ".join(str(raw.get("citation", "")).split()),
                         source=str(raw.get("source", "")), path=where)


def _parse_cell(c: Any, cw: str) -> dict:
    if not isinstance(c, dict):
        raise DataError(f"{cw}: expected a mapping with key, label, values")
    key = c.get("key")
    if isinstance(key, dict) and key:
        cw = f"{cw} ({_key_text(key)})"
    check_keys(c, _CELL_KEYS, cw, error=DataError)
    if not isinstance(key, dict) or not key:
        raise DataError(f"{cw}: 'key' must be a non-empty mapping of dotted config keys to values")
    for k, v in key.items():
        if k in PSEUDO_KEYS:
            if not isinstance(v, str) or not v.strip():
                raise DataError(f"{cw}: key {k!r} must map to a non-empty string (a test action group), "
                                f"got {v!r}")
            continue
        if not isinstance(k, str) or k.split(".")[0] not in KEY_SECTIONS or "" in k.split("."):
            raise DataError(f"{cw}: key {k!r} is not a dotted config key starting with one of "
                            f"{', '.join(KEY_SECTIONS)} (or one of {', '.join(PSEUDO_KEYS)})")
        scalar = (str, int, float, bool)
        if not isinstance(v, scalar) and not (isinstance(v, list) and all(isinstance(x, scalar) for x in v)):
            raise DataError(f"{cw}: key {k!r} must map to a scalar or a list of scalars "
                            f"(train.motion_loss.intervals: [8, 12]), got {v!r}")
    values = c.get("values", {}) or {}
    missing = c.get("missing", {}) or {}
    if not isinstance(values, dict):
        raise DataError(f"{cw}: 'values' must be a mapping metric -> number")
    if not isinstance(missing, dict):
        raise DataError(f"{cw}: 'missing' must be a mapping metric -> reason")
    for m in list(values) + list(missing):
        if m not in METRICS:
            raise DataError(f"{cw}: unknown metric {m!r}; known: {', '.join(METRICS)}")
    for m, v in values.items():
        if v is None:
            if not isinstance(missing.get(m), str) or not missing[m].strip():
                raise DataError(f"{cw}: {m!r} is null without a reason; add missing: {{{m}: <why>}}")
        elif not _is_number(v):
            raise DataError(f"{cw}: value of {m!r} is not a number ({v!r}); write a plain number "
                            f"(no units) or null with a reason under 'missing'")
    for m, why in missing.items():
        if values.get(m) is not None:
            raise DataError(f"{cw}: {m!r} has both a value and a 'missing' reason")
        if not isinstance(why, str) or not why.strip():
            raise DataError(f"{cw}: missing.{m} must be a non-empty reason")
    if not values and not missing:
        raise DataError(f"{cw}: no 'values' (write null with a reason for numbers not reported)")
    full = {m: values.get(m) for m in METRICS if m in values or m in missing}
    label = c.get("label", "")
    if not isinstance(label, str):
        raise DataError(f"{cw}: 'label' must be a string")
    return {"key": dict(key), "label": label, "values": full,
            "missing": {m: str(w) for m, w in missing.items()}, "note": str(c.get("note", "") or "")}


# ----------------------------------------------------------------------------------------------------
# Matching


def _norm(v: Any) -> Any:
    """Comparable form of a key value: numbers compare by value (5 == 5.0), bools stay bools."""
    if _is_number(v):
        return float(v)
    if isinstance(v, list):  # hashable, element-wise the same comparison
        return tuple(_norm(x) for x in v)
    return v


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def get_path(config: dict, dotted: str, default: Any = _MISSING) -> Any:
    """Value at a dotted path of a nested config (a flat key equal to the dotted path also counts)."""
    return get_dotted(config, dotted, default, flat_key=True)


def has_path(config: dict, dotted: str) -> bool:
    return has_dotted(config, dotted, flat_key=True)


def reported_cell_matches(cell: dict, config: dict) -> bool:
    for k, v in cell["key"].items():
        got = get_path(config, k)
        if got is _MISSING or not same_value(got, v):
            return False
    return True


def match_cell(reported_table: ReportedTable | None, config: dict) -> dict | None:
    """The reported cell whose every key equals the config's value at that path (the config is the
    resolved experiment after applying the evaluation variant). Of several matches the most specific
    (most keys) wins; None when nothing matches."""
    if reported_table is None:
        return None
    best, best_n = None, -1
    for cell in reported_table.cells:
        if len(cell["key"]) > best_n and reported_cell_matches(cell, config):
            best, best_n = cell, len(cell["key"])
    return best
