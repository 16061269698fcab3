"""Paper-style tables from run records and a reported table (design.md, "Table").

A table has the layout of its protocol: one row per combination of the layout's row keys, and for each
combination of the column keys and each metric a group of three columns: reproduced (mean ± std over
seeds), reported (the paper's number) and Δ = reproduced − reported. A reproduced cell is located by
the values of the row and column keys in the record's resolved config after applying the evaluation
variant its metrics belong to; it finds its reported counterpart with
:func:`bench.report.published.match_cell`. Below the table: Kendall τ (tau-b) between reproduced means
and reported values over all matched cells, per metric, and footnotes listing every way the runs differ
from the paper's protocol. Cells without runs show "—"; nothing is filled in.
"""
from __future__ import annotations

import copy
import csv
import io
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import yaml

from bench.errors import BenchError, ConfigError
from bench.config import variant_key
from bench.protocols import CELL_LABEL, Protocol, config_part
from bench.records import write_text_atomic
from bench.report.published import ReportedTable, get_path, match_cell, same_value
from bench.yamlio import load as load_yaml

METRIC_NAMES = {
    "mpjpe": "MPJPE (P1, mm)",
    "p_mpjpe": "P-MPJPE (P2, mm)",
    "n_mpjpe": "N-MPJPE (P3, mm)",
    "mpjve": "MPJVE (mm)",
    "pck": "PCK@150 (%)",
    "auc": "AUC (%)",
    "params": "Params",
    "flops_per_frame": "FLOPs/frame",
    "ms_per_frame": "Time (ms/frame)",
    "latency_ms_per_frame": "Latency, batch 1 (ms/frame)",
    "throughput_fps": "Throughput (frames/s)",
    # training-throughput profiles (profile.mode: train)
    "windows_per_s": "Train windows/s",
    "frames_per_s": "Train frames/s",
    "steps_per_s": "Steps/s",
    "step_ms": "ms/step",
    "batch_build_ms": "batch building ms",
    "forward_ms": "forward ms",
    "backward_ms": "backward ms",
    "optimizer_ms": "optimizer ms",
    "ops_forward": "aten ops/forward",
    "ops_step": "aten ops/step",
    "flops_step": "FLOPs/step",
    "gflops_achieved": "GFLOP/s",
    "matmul_peak_gflops": "matmul peak GFLOP/s",
    "peak_fraction": "% of matmul peak",
    "compute_floor_fraction": "compute floor (% of step)",
    "overhead_floor_fraction": "op-overhead floor (% of step)",
}
#: Metrics stored at the top level of a run record, valid for every evaluation variant.
RECORD_LEVEL = ("params", "flops_per_frame")
# Layout pseudo-key: one row (or column) per test action group of each record, plus their average.
ACTION_KEY, ACTION_AVERAGE = "action", "Average"
DASH = "—"
FORMATS = {"md": "md", "markdown": "md", "tex": "tex", "latex": "tex", "csv": "csv"}


# ----------------------------------------------------------------------------------------------------
# Data model


@dataclass
class Tau:
    """Kendall tau-b between reproduced means and reported values over ``n`` matched cells."""

    tau: float | None
    n: int
    pvalue: float | None = None

    def text(self) -> str:
        if self.tau is None:
            return f"n/a (n = {self.n})"
        return f"τ = {self.tau:+.2f} (n = {self.n})"


@dataclass
class TableCell:
    """One (row, column group, metric) entry."""

    row: tuple
    columns: tuple
    metric: str
    values: list[float] = field(default_factory=list)
    seeds: list = field(default_factory=list)
    record_ids: list[str] = field(default_factory=list)
    reported: float | None = None
    reported_label: str = ""
    reported_missing: str = ""

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values) if self.values else None

    @property
    def std(self) -> float | None:
        """Sample standard deviation over seeds (None with fewer than two)."""
        return statistics.stdev(self.values) if len(self.values) >= 2 else None

    @property
    def delta(self) -> float | None:
        if self.mean is None or self.reported is None:
            return None
        return self.mean - self.reported


@dataclass
class Table:
    name: str
    stem: str  # file name without extension: <protocol>.<scale>[.<dataset or set>-<hash>]
    title: str
    scale: str
    row_keys: list[str]
    column_keys: list[str]
    metrics: list[str]
    labels: dict
    rows: list[tuple]
    column_groups: list[tuple]
    cells: dict = field(default_factory=dict)  # (row, columns, metric) -> TableCell
    tau: dict = field(default_factory=dict)  # metric -> Tau
    footnotes: list[str] = field(default_factory=list)
    n_records: int = 0
    expected_seeds: int = 1
    reported_ref: str | None = None
    reported_title: str = ""
    reported_dataset: str = ""
    datasets: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    description: str = ""
    plot: dict = field(default_factory=dict)

    @property
    def has_reported(self) -> bool:
        return self.reported_ref is not None

    def cell(self, row: tuple, columns: tuple, metric: str) -> TableCell:
        return self.cells[(tuple(row), tuple(columns), metric)]

    def groups(self) -> list[tuple[tuple, str]]:
        return [(cols, m) for cols in self.column_groups for m in self.metrics]

    def label(self, key: str) -> str:
        return str(self.labels.get(key, METRIC_NAMES.get(key, key)))

    def group_header(self, columns: tuple, metric: str) -> str:
        name = self.label(metric)
        if not self.column_keys:
            return name
        return f"{', '.join(fmt_key_value(v) for v in columns)} · {name}"

    def paper_row_labels(self) -> dict[tuple, str]:
        """Row -> the paper's label, where each row maps to one reported cell (no column keys)."""
        if self.column_keys:
            return {}
        out = {}
        for row in self.rows:
            labels = {self.cells[(row, (), m)].reported_label for m in self.metrics} - {""}
            if len(labels) > 1:
                return {}
            if labels:
                out[row] = labels.pop()
        return out

    def tau_summary(self) -> str:
        if not self.has_reported:
            return "no reported table"
        return "; ".join(f"{self.label(m)}: {t.text()}" for m, t in self.tau.items()) or "n/a"


# ----------------------------------------------------------------------------------------------------
# Formatting


def fmt_key_value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):  # a list-valued key: the empty set, a set of numbers, names
        if not v:
            return "∅"
        items = ", ".join(fmt_key_value(x) for x in v)
        return items if all(isinstance(x, str) for x in v) else "{" + items + "}"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _si(v: float) -> str:
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(v) >= div:
            return f"{v / div:.2f}{suffix}"
    return f"{v:.0f}"


def fmt_metric(metric: str, v: float | None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    sign = "+" if signed and v >= 0 else ""
    if metric == "params":
        return f"{sign}{v / 1e6:.2f}M"
    if metric in ("flops_per_frame", "throughput_fps", "flops_step", "windows_per_s", "frames_per_s",
                  "ops_forward", "ops_step"):
        return f"{sign}{_si(v)}"
    if metric.endswith("_fraction"):
        return f"{sign}{100 * v:.1f}%"
    if metric in ("ms_per_frame", "latency_ms_per_frame"):  # spans 0.01 ms (an MLP on a GPU) to seconds: three significant digits
        return f"{sign}{v:.3g}"
    return f"{sign}{v:.1f}"


def fmt_reproduced(cell: TableCell, expected_n: int) -> str:
    if cell.mean is None:
        return DASH
    text = fmt_metric(cell.metric, cell.mean)
    std = cell.std
    if std is not None and not (cell.metric in RECORD_LEVEL and std == 0):
        text += f" ± {fmt_metric(cell.metric, std)}"
    if cell.n != expected_n:
        text += f" (n={cell.n})"
    return text


# ----------------------------------------------------------------------------------------------------
# Building


def _flatten(partial: dict) -> dict:
    from bench.config import flatten
    return flatten(partial or {})


def _defaults_flat() -> dict:
    from bench.config import defaults
    return _flatten(defaults())


def _parse_variant_key(key: str) -> dict:
    out = {}
    for part in filter(None, key.split(",")):
        k, _, v = part.partition("=")
        try:
            out[k] = load_yaml(v)
        except yaml.YAMLError:
            out[k] = v
    return out


def _apply_variant(config: dict, variant: dict) -> dict:
    cfg = copy.deepcopy(config)
    for k, v in variant.items():
        node = cfg
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return cfg


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


class _Order:
    """Per-key value order: protocol order first (grid, variants, cells, plan), then the rest."""

    def __init__(self, keys: Sequence[str]):
        self.known: dict[str, list] = {k: [] for k in keys}

    def add(self, key: str, value: Any) -> None:
        seq = self.known[key]
        if not any(same_value(value, x) for x in seq):
            seq.append(value)

    def rank(self, key: str, value: Any) -> tuple:
        if key == ACTION_KEY and value == ACTION_AVERAGE:
            return (2, 0, "")  # the average row/column goes last, as in the papers' tables
        for i, x in enumerate(self.known[key]):
            if same_value(value, x):
                return (0, i, "")
        return (1, 0, repr(value))


def _scale_flat(protocol: Protocol, scale: str) -> dict:
    return {k: v for k, v in _flatten(protocol.scale_config(scale)).items()
            if not k.startswith("model.options.")}


def _resolved_cell(protocol: Protocol, cell: dict, scale: str) -> dict | None:
    """The flat resolved config of a planned cell at ``scale`` as the sweep runner builds it (base <
    cell < scale; a scale's model.options.X only for models that have option X), or None when it
    cannot be resolved here (a model not registered yet, no torch)."""
    from bench.config import resolve

    ov = protocol.scale_config(scale)
    try:
        cell = config_part(cell)
        first = resolve(protocol.base, cell, where=protocol.path or protocol.name)
        opts = first["model"]["options"]
        ov = {k: v for k, v in _flatten(ov).items()
              if not k.startswith("model.options.") or k.split(".", 2)[2] in opts}
        return _flatten(resolve(protocol.base, cell, ov, where=protocol.path or protocol.name))
    except (BenchError, ImportError):
        return None


def _planned_locations(protocol: Protocol, scale: str, keys: list[str], cells: list[dict] | None = None) -> list[dict]:
    """The flat (dotted) config of each planned cell x variant. Resolved through the model registry
    where possible; otherwise merged from defaults, base, cell and scale without the model's own
    option defaults, and a location whose layout keys are then not all known is left out (its runs,
    once recorded, still place themselves)."""
    try:
        base = {**_defaults_flat(), **_flatten(protocol.base)}
    except BenchError:  # a protocol that does not validate is reported by its loader, not here
        return []
    scale_ov = _scale_flat(protocol, scale)
    if cells is None:
        try:
            cells = protocol.cell_overrides(scale)
        except BenchError:  # a grid that comes from the dataset: the records place themselves
            cells = []
    out = []
    for cell in cells:
        cell_flat = _flatten(config_part(cell))
        resolved = _resolved_cell(protocol, cell, scale)
        for variant in protocol.variant_overrides() or [{}]:
            if resolved is not None:  # complete: a key it lacks is an option this model has not
                flat = {**{k: None for k in keys}, **resolved, **variant}
            else:
                flat = {**base, **cell_flat, **scale_ov, **variant}
                if cell_flat.get("model.name", base.get("model.name")) != base.get("model.name"):
                    flat = {k: v for k, v in flat.items()
                            if not k.startswith("model.options.") or k in cell_flat or k in variant}
            if ACTION_KEY in keys:
                flat[ACTION_KEY] = ACTION_AVERAGE
            if CELL_LABEL in keys:
                flat[CELL_LABEL] = cell.get(CELL_LABEL)
            if all(k in flat for k in keys):
                out.append(flat)
    return out


def _action_entries(cfg: dict, vals: dict, keys, actions=None) -> list[tuple[dict, dict]]:
    """With the pseudo-key ``action`` in the layout, one entry per breakdown group of the record
    (``cfg['action'] = group``, the group's metrics) plus ``Average`` with the overall metrics; only the
    groups in ``actions`` (``layout.actions``) when it is given."""
    if ACTION_KEY not in keys:
        return [(cfg, vals)]
    out = []
    for group, gvals in sorted((vals.get("per_action") or {}).items()):
        out.append(({**cfg, ACTION_KEY: group}, dict(gvals)))
    out.append(({**cfg, ACTION_KEY: ACTION_AVERAGE}, vals))
    return [e for e in out if actions is None or e[0][ACTION_KEY] in actions]


def _record_entries(rec: dict, vmap: dict, row_keys, col_keys, reported, actions=None):
    """(location, variant priority, metrics dict, matched reported cell) for each metrics entry."""
    config = rec.get("config") or {}
    if CELL_LABEL in list(row_keys) + list(col_keys):  # the cell's name in the protocol, not a config key
        config = {**config, CELL_LABEL: (rec.get("cell") or {}).get(CELL_LABEL)}
    metrics = rec.get("metrics") or {}
    items = list(metrics.items()) or [("", {})]
    for vk, vals in items:
        if vk in vmap:
            variant, prio = vmap[vk], 0 if vk else 1
        else:
            variant, prio = _parse_variant_key(vk), 2
        for cfg, gvals in _action_entries(_apply_variant(config, variant), dict(vals or {}),
                                          list(row_keys) + list(col_keys), actions):
            row = tuple(_hashable(get_path(cfg, k, None)) for k in row_keys)
            cols = tuple(_hashable(get_path(cfg, k, None)) for k in col_keys)
            gvals = dict(gvals)
            for m in RECORD_LEVEL:
                if rec.get(m) is not None:
                    gvals[m] = rec[m]
            yield (row, cols), prio, gvals, match_cell(reported, cfg)


def _norm_dataset(name: str) -> str:
    name = str(name).split(":", 1)[0].lower()
    alias = {"h36m": "human36m", "human3.6m": "human36m", "humaneva": "humaneva", "humaneva-i": "humaneva",
             "3dhp": "mpiinf3dhp", "mpi-inf-3dhp": "mpiinf3dhp"}
    return alias.get(name, re.sub(r"[^a-z0-9]", "", name))


def _norm_source(name: str) -> str:
    s = str(name).lower().replace("ground truth", "gt").replace("ground-truth", "gt")
    s = re.sub(r"\b2d\b", "", s)
    return re.sub(r"[^a-z0-9]", "", s)


def build_table(protocol: Protocol, records: Iterable[dict], reported_table: ReportedTable | None,
                scale: str, cells: list[dict] | None = None, stem: str | None = None,
                other_records: str = "") -> Table:
    """The table of ``protocol`` at ``scale`` from its run records (others are ignored). ``cells``: the
    planned cells (the sweep's plan; default: the protocol's own list); ``stem``: the file name without
    extension (default ``<protocol>.<scale>``); ``other_records``: a footnote on records of the same
    protocol left out (other configurations or data)."""
    layout = protocol.layout or {}
    row_keys = list(layout.get("rows") or [])
    col_keys = list(layout.get("columns") or [])
    metrics = list(layout.get("metrics") or [])
    if not metrics:
        metrics = (reported_table.metrics() if reported_table else []) or ["mpjpe"]
    for m in metrics:
        if m not in METRIC_NAMES:
            raise ConfigError(f"{protocol.path or protocol.name}: layout.metrics: unknown metric {m!r}; "
                              f"known: {', '.join(METRIC_NAMES)}")
    records = [r for r in records if r.get("scale") == scale
               and (r.get("protocol") in (None, protocol.name))]
    expected = protocol.scale_seeds(scale)

    # Evaluation variants: the protocol's, then any a record lists itself.
    vmap: dict[str, dict] = {"": {}}
    for v in protocol.variant_overrides():
        vmap[variant_key(v)] = v
    for rec in records:
        for v in rec.get("variants") or []:
            if isinstance(v, dict):
                vmap.setdefault(variant_key(v), v)

    # Key orders: extra cells, grid, variants, explicit cells, the plan, then records and reported cells.
    keys = row_keys + col_keys
    order = _Order(keys)
    for k in keys:
        for c in protocol.extra_cells:  # a baseline outside the grid comes first (Table 1's empty set)
            if k in c:
                order.add(k, c[k])
        grid_values = protocol.grid.get(k, [])  # not a list: values from the dataset, ordered by the plan
        for v in (grid_values if isinstance(grid_values, list) else []) + protocol.eval_variants.get(k, []):
            order.add(k, v)
        for c in protocol.cells:
            if k in c:
                order.add(k, c[k])
    planned = _planned_locations(protocol, scale, keys, cells)
    for flat in planned:
        for k in keys:
            order.add(k, flat[k])

    # Records -> locations. One value per record and location (the protocol's variant wins).
    by_loc: dict[tuple, dict[str, tuple]] = {}
    cells_by_loc: dict[tuple, set] = {}
    for rec in records:
        rid = rec.get("id") or str(id(rec))
        for loc, prio, vals, rcell in _record_entries(rec, vmap, row_keys, col_keys, reported_table,
                                                      layout.get("actions")):
            slot = by_loc.setdefault(loc, {})
            if rid not in slot or prio < slot[rid][0]:
                slot[rid] = (prio, vals, rcell, rec.get("seed", get_path(rec.get("config") or {}, "seed", None)))
            cells_by_loc.setdefault(loc, set()).add(_hashable(rec.get("cell") or {}))

    # Locations: the protocol's plan, then any place a record puts itself. A planned location without
    # runs still shows the reported cell its planned config matches.
    plan_match: dict[tuple, list[dict]] = {}
    locs: list[tuple] = []
    seen = set()
    for flat in planned:
        loc = (tuple(_hashable(flat[k]) for k in row_keys), tuple(_hashable(flat[k]) for k in col_keys))
        rcell = match_cell(reported_table, flat)
        if rcell is not None:
            plan_match.setdefault(loc, []).append(rcell)
        if loc not in seen:
            seen.add(loc)
            locs.append(loc)
    for loc in by_loc:
        if loc not in seen:
            seen.add(loc)
            locs.append(loc)

    def rank(values: tuple, ks: list[str]) -> tuple:
        return tuple(order.rank(k, v) for k, v in zip(ks, values))

    rows = sorted({loc[0] for loc in locs}, key=lambda r: rank(r, row_keys))
    col_groups = sorted({loc[1] for loc in locs}, key=lambda c: rank(c, col_keys)) or [()]
    if not rows:
        rows = [()]

    used_reported: set[int] = set()
    cells: dict[tuple, TableCell] = {}
    for row in rows:
        for cols in col_groups:
            loc = (row, cols)
            slot = by_loc.get(loc, {})
            for m in metrics:
                tc = TableCell(row=row, columns=cols, metric=m)
                matched = []
                for rid, (_, vals, rcell, seed) in slot.items():
                    v = vals.get(m)
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                        tc.values.append(float(v))
                        tc.seeds.append(seed)
                        tc.record_ids.append(rid)
                    if rcell is not None:
                        matched.append(rcell)
                if not slot:
                    matched = plan_match.get(loc, [])
                candidates = [c for c in matched if m in c["values"]]
                distinct = {id(c): c for c in candidates}
                vals_set = {c["values"][m] for c in distinct.values()}
                if len(vals_set) == 1:  # several runs' cells disagreeing would be ambiguous: left blank
                    c = next(iter(distinct.values()))
                    tc.reported = c["values"][m]  # None where the paper does not report it
                    tc.reported_label = c["label"]
                    tc.reported_missing = c["missing"].get(m, "")
                    used_reported.update(distinct)
                cells[(row, cols, m)] = tc

    tau: dict[str, Tau] = {}
    if reported_table is not None:
        for m in metrics:
            pairs = [(c.mean, c.reported) for c in cells.values()
                     if c.metric == m and c.mean is not None and c.reported is not None]
            tau[m] = kendall_tau([p[0] for p in pairs], [p[1] for p in pairs])

    table = Table(name=protocol.name, stem=stem or f"{protocol.name}.{scale}", title=protocol.title, scale=scale,
                  row_keys=row_keys,
                  column_keys=col_keys, metrics=metrics, labels=dict(layout.get("labels") or {}),
                  rows=rows, column_groups=col_groups, cells=cells, tau=tau, n_records=len(records),
                  expected_seeds=expected, description=protocol.description,
                  plot=dict(layout.get("plot") or {}))
    if reported_table is not None:
        table.reported_ref = reported_table.ref
        table.reported_title = reported_table.title
        table.reported_dataset = str(reported_table.protocol.get("dataset", ""))
    table.datasets = sorted({str(get_path(r.get("config") or {}, "data.dataset", "?")) for r in records})
    table.sources = sorted({str(get_path(r.get("config") or {}, "data.source", "?")) for r in records})
    table.footnotes = _footnotes(protocol, records, reported_table, table, cells_by_loc, used_reported)
    if other_records:
        table.footnotes.insert(0, other_records)
    return table


def _data_notes(records: list[dict]) -> list[str]:
    """The data the runs actually read (dataset, 2D source and file, content hash) and every --set the
    sweep was given, from the records themselves."""
    notes, seen = [], set()
    for r in records:
        d = r.get("dataset") or {}
        fp = d.get("fingerprint") or {}
        if not d or not fp:
            continue
        key = (d.get("spec"), d.get("source"), fp.get("sha256"))
        if key in seen:
            continue
        seen.add(key)
        files = ", ".join(f["name"] for f in fp.get("files", []))
        notes.append(f"Data: `{d.get('spec')}` ({d.get('name')}), 2D source `{d.get('source')}`"
                     + (f" (role {d['source_role']!r})" if d.get("source_role") else "")
                     + f": {files}, content sha256 {str(fp.get('sha256'))[:12]}."
                     + (f" {' '.join(d.get('notes') or [])}." if d.get("notes") else ""))
    sets = sorted({f"{k}={v}" for r in records for k, v in (r.get("overrides") or {}).items()})
    if sets:
        notes.append(f"Run with --set {'; '.join(sets)} (over the protocol's own settings).")
    specs = {str((r.get("dataset") or {}).get("spec", "")).partition(":")[0] for r in records}
    if any(s and s not in ("standin", "standin_humaneva") and not s.startswith("standin") for s in specs):
        notes.append("The protocol's notes below describe its default data, the bundled stand-in; this "
                     "table's runs read the data named above.")
    return notes


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> Tau:
    """Kendall tau-b of two paired sequences; ``tau`` is None with fewer than 2 pairs or when
    undefined (all values tied in one of them)."""
    n = len(x)
    if n < 2:
        return Tau(None, n)
    import warnings

    from scipy.stats import kendalltau
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = kendalltau(x, y)
    t, p = float(res.statistic), float(res.pvalue)
    if math.isnan(t):
        return Tau(None, n)
    return Tau(t, n, None if math.isnan(p) else p)


def _footnotes(protocol: Protocol, records: list[dict], reported: ReportedTable | None, table: Table,
               cells_by_loc: dict, used_reported: set) -> list[str]:
    notes: list[str] = []
    scale = table.scale
    if not records:
        notes.append(f"No run records at scale '{scale}': every reproduced cell is {DASH}. "
                     f"Run `bench ablate {protocol.name} --scale {scale}`.")
    shrinks: list[str] = []
    for r in records:
        for s in r.get("shrinks") or []:
            if s not in shrinks:
                shrinks.append(str(s))
    if shrinks:
        notes.append(f"Scale '{scale}' shrinks the paper recipe: {'; '.join(shrinks)}.")
    elif records and scale != "paper":
        notes.append(f"Scale '{scale}': no budget differs from the protocol's paper scale.")

    notes.extend(_data_notes(records))
    # Dataset and 2D source against the paper's.
    paper_ds = str(reported.protocol.get("dataset", "")) if reported else ""
    for ds in table.datasets:
        if not paper_ds:
            break
        if _norm_dataset(ds) == _norm_dataset(paper_ds):
            continue
        what = ("stand-in dataset (bundled)" if _norm_dataset(ds) == "standin"
                else f"dataset '{ds.split(':', 1)[0]}'")
        notes.append(f"{what} instead of {paper_ds}: absolute numbers are not comparable, "
                     f"compare orderings (τ).")
    paper_src = str(reported.protocol.get("source", "")) if reported else ""
    for src in table.sources:
        if paper_src and _norm_source(src) != _norm_source(paper_src):
            notes.append(f"2D input '{src}' instead of the paper's '{paper_src}'.")

    # Epochs trained against the paper's.
    if records:
        trained = sorted({r.get("epochs") if r.get("epochs") is not None
                          else get_path(r.get("config") or {}, "train.epochs", None) for r in records},
                         key=lambda e: (e is None, e if e is not None else 0))
        text = ", ".join("?" if e is None else str(e) for e in trained)
        paper_ep = reported.protocol.get("epochs") if reported else None
        if reported is None:
            notes.append(f"Trained {text} epochs per run.")
        elif paper_ep is None:
            notes.append(f"Trained {text} epochs per run (the paper does not state epochs for this table).")
        elif trained != [paper_ep]:
            notes.append(f"Trained {text} epochs per run (paper: {fmt_key_value(paper_ep)}).")

    # Seeds.
    if table.expected_seeds > 1:
        notes.append(f"Reproduced: mean ± sample std over {table.expected_seeds} seeds per cell "
                     f"(seeds 0..{table.expected_seeds - 1}); a cell with another count shows (n=k).")
    else:
        notes.append("Reproduced: one seed per cell (no std); a cell with more seeds shows mean ± std (n=k).")

    # Missing reproduced cells and pooled settings.
    total = len(table.rows) * len(table.column_groups)
    empty = sum(1 for row in table.rows for cols in table.column_groups
                if all(table.cells[(row, cols, m)].mean is None for m in table.metrics))
    if empty and records:
        notes.append(f"{empty} of {total} cells have no run record ({DASH}); nothing is filled in.")
    pooled = sum(1 for s in cells_by_loc.values() if len(s) > 1)
    if pooled:
        notes.append(f"{pooled} cell(s) pool runs of different grid cells that the layout does not "
                     f"separate (add the varying key to layout.rows or layout.columns).")
    if "params" in table.metrics:
        notes.append("Params in millions (M); Δ and τ use raw counts.")
    if reported is not None:
        unplaced = [c["label"] or ", ".join(f"{k}={v}" for k, v in c["key"].items())
                    for c in reported.cells if id(c) not in used_reported]
        if unplaced:
            notes.append(f"Reported cells not in this table (no run or place matches their keys): "
                         f"{'; '.join(unplaced)}.")
        notes.append(f"Reported: {reported.ref}, {reported.title}. Paper protocol: "
                     + "; ".join(f"{k} {'/'.join(map(str, v)) if isinstance(v, list) else fmt_key_value(v)}"
                                 for k, v in reported.protocol.items()) + ".")
    else:
        notes.append("No reported table: reproduced numbers only.")
    notes.extend(protocol.footnotes)
    if reported is not None and reported.notes:
        notes.append(f"Transcription notes ({reported.ref}): {reported.notes}")
    return notes


# ----------------------------------------------------------------------------------------------------
# Rendering


def _body(table: Table) -> tuple[list[str], list[list[str]]]:
    """Flat header and rows shared by the markdown renderer."""
    paper_labels = table.paper_row_labels()
    header = [table.label(k) for k in table.row_keys]
    if paper_labels:
        header.append("Paper row")
    for cols, m in table.groups():
        gh = table.group_header(cols, m)
        if table.has_reported:
            header += [f"{gh}: reproduced", "reported", "Δ"]
        else:
            header.append(f"{gh}: reproduced")
    body = []
    for row in table.rows:
        line = [fmt_key_value(v) for v in row]
        if paper_labels:
            line.append(paper_labels.get(row, ""))
        for cols, m in table.groups():
            c = table.cell(row, cols, m)
            line.append(fmt_reproduced(c, table.expected_seeds))
            if table.has_reported:
                line.append(fmt_metric(m, c.reported) if c.reported is not None
                            else ("n.r." if c.reported_missing else ""))
                line.append(fmt_metric(m, c.delta, signed=True) if c.delta is not None else "")
        body.append(line)
    return header, body


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def render_markdown(table: Table) -> str:
    header, body = _body(table)
    out = [f"## {table.title}", ""]
    meta = f"Protocol `{table.name}` · scale `{table.scale}` · {table.n_records} run records"
    if table.has_reported:
        meta += f" · reported: `{table.reported_ref}` ({table.reported_title})"
    out += [meta, ""]
    if not header:
        header = [""]
    out.append("| " + " | ".join(_md_escape(h) for h in header) + " |")
    aligns = ["---" for _ in table.row_keys] + (["---"] if table.paper_row_labels() else [])
    aligns += ["---:"] * (len(header) - len(aligns))
    out.append("|" + "|".join(aligns) + "|")
    for line in body:
        out.append("| " + " | ".join(_md_escape(x) for x in line) + " |")
    out.append("")
    if table.has_reported:
        out.append(f"Kendall τ-b, reproduced means vs reported values over matched cells: {table.tau_summary()}.")
        out.append("")
    if table.footnotes:
        out.append("Notes:")
        out.append("")
        out += [f"{i}. {_md_escape(n)}" for i, n in enumerate(table.footnotes, 1)]
        out.append("")
    return "\n".join(out)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "Δ": r"$\Delta$", "τ": r"$\tau$", "σ": r"$\sigma$", "×": r"$\times$",
                  "—": "---", "−": "--", "→": r"$\rightarrow$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "·": r"$\cdot$", "²": r"$^2$"}


def latex_escape(s: str) -> str:
    s = "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(s))
    for k, v in _LATEX_UNICODE.items():
        s = s.replace(k, v)
    return s.replace("->", r"$\rightarrow$")


def render_latex(table: Table) -> str:
    paper_labels = table.paper_row_labels()
    n_lead = len(table.row_keys) + (1 if paper_labels else 0)
    per = 3 if table.has_reported else 1
    groups = table.groups()
    spec = "l" * max(n_lead, 1) + "".join("r" * per for _ in groups)
    lines = [f"% generated by bench: protocol {table.name}, scale {table.scale}",
             r"\begin{table}[t]", r"\centering", r"\small",
             rf"\caption{{{latex_escape(table.title)} (scale: {latex_escape(table.scale)})}}",
             rf"\label{{tab:{re.sub(r'[^A-Za-z0-9]+', '-', table.name)}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lead = [latex_escape(table.label(k)) for k in table.row_keys] + (["Paper row"] if paper_labels else [])
    lead = lead or [""]
    if table.has_reported:
        top = [""] * len(lead)
        rules = []
        for i, (cols, m) in enumerate(groups):
            top.append(rf"\multicolumn{{3}}{{c}}{{{latex_escape(table.group_header(cols, m))}}}")
            start = len(lead) + 1 + 3 * i
            rules.append(rf"\cmidrule(lr){{{start}-{start + 2}}}")
        lines.append(" & ".join(top) + r" \\")
        lines.append(" ".join(rules))
        sub = lead + ["Repr.", "Paper", r"$\Delta$"] * len(groups)
        lines.append(" & ".join(sub) + r" \\")
    else:
        lines.append(" & ".join(lead + [latex_escape(table.group_header(c, m)) for c, m in groups]) + r" \\")
    lines.append(r"\midrule")
    _, body = _body(table)
    for line in body:
        lines.append(" & ".join(latex_escape(x) for x in line) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
    if table.has_reported:
        lines.append(latex_escape(f"Kendall τ-b (reproduced vs reported, matched cells): {table.tau_summary()}.")
                     + r"\par")
    for i, n in enumerate(table.footnotes, 1):
        lines.append(f"{i}. {latex_escape(n)}" + r"\par")
    lines += [r"\end{minipage}", r"\end{table}", ""]
    return "\n".join(lines)


def _raw(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def render_csv(table: Table) -> str:
    """One line per (row, column group, metric) with raw numbers."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["protocol", "scale", *table.row_keys, *table.column_keys, "metric", "n", "mean", "std",
                "values", "seeds", "reported", "delta", "reported_label", "reported_missing"])
    for row in table.rows:
        for cols, m in table.groups():
            c = table.cell(row, cols, m)
            w.writerow([table.name, table.scale, *[_raw(v) for v in row], *[_raw(v) for v in cols], m, c.n,
                        _raw(c.mean), _raw(c.std), ";".join(repr(v) for v in c.values),
                        ";".join(_raw(s) for s in c.seeds), _raw(c.reported), _raw(c.delta),
                        c.reported_label, c.reported_missing])
    return buf.getvalue()


_RENDER = {"md": render_markdown, "tex": render_latex, "csv": render_csv}


def write_table_files(table: Table, out_dir: str | Path, formats: Sequence[str] = ("md",)) -> list[Path]:
    """Write ``<out_dir>/<stem>.<ext>`` for each format (md, tex/latex, csv), atomically; the stem carries
    the scale (and the data or --set of a sweep that had them), so no sweep overwrites another's table."""
    paths = []
    for f in formats:
        ext = FORMATS.get(str(f).lower())
        if ext is None:
            raise ConfigError(f"unknown table format {f!r}; use md, latex or csv")
        path = Path(out_dir) / f"{table.stem}.{ext}"
        write_text_atomic(path, _RENDER[ext](table))
        paths.append(path)
    return paths


def write_table(protocol: Protocol, records: Iterable[dict], reported_table: ReportedTable | None,
                scale: str, out_dir: str | Path, formats: Sequence[str] = ("md",)) -> list[Path]:
    """Build the table of one protocol and write it in each format; returns the paths written."""
    return write_table_files(build_table(protocol, records, reported_table, scale), out_dir, formats)


def write_index(out_dir: str | Path, entries: Iterable[Table | dict]) -> Path:
    """``<out_dir>/index.md``: one line per table with its title, scale, record count and τ summary.
    An entry is a :class:`Table` or a mapping with name, title, scale, n_records and tau_summary
    (optionally ``file``, the table's file name)."""
    lines = ["# Reproduced tables", "",
             "Generated from run records and results/reported/. Kendall τ-b compares the ordering of "
             "reproduced means with the paper's numbers over matched cells.", "",
             "| Table | Title | Scale | Records | Kendall τ (reproduced vs reported) |",
             "|---|---|---|---:|---|"]
    for e in entries:
        if isinstance(e, Table):
            name, title, scale, n, tau = e.name, e.title, e.scale, e.n_records, e.tau_summary()
            file = f"{e.stem}.md"
        else:
            name, title, scale = e["name"], e.get("title", ""), e.get("scale", "")
            n, tau = e.get("n_records", ""), e.get("tau_summary", "")
            file = e.get("file", f"{name}.md")
        lines.append(f"| [{name}]({file}) | {_md_escape(str(title))} | {scale} | {n} | {_md_escape(str(tau))} |")
    lines.append("")
    path = Path(out_dir) / "index.md"
    write_text_atomic(path, "\n".join(lines))
    return path
