"""Build a protocol's :class:`~bench.report.tables.Table` from its plan and run records.

The table's places are the plan's cells (:func:`bench.planning.plan`: their resolved configs, under each
evaluation variant) and any place a record puts itself; a planned place without a record shows "—" and
still the paper's number its planned config matches. A reproduced entry is located by the values of the
row and column keys in the record's resolved config after applying the evaluation variant its metrics
belong to (the layout pseudo-key ``action``: one entry per test action group of the record, plus
``Average``); it finds its reported counterpart with :func:`bench.report.published.match_cell`. Kendall
τ (tau-b) compares reproduced means with reported values over all matched entries that learned, per
metric, and resolved pairs tell which of the paper's orderings the seeds resolve (:mod:`bench.report.stats`:
also the reference floors and the marks); cells the full-scale plan has and the table's scale leaves out
(:func:`bench.planning.left_out_cells`) show "full scale only". The footnotes
(:mod:`bench.report.footnotes`) list every way the runs differ from the paper's protocol.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterable, Sequence

import yaml

from bench.config import flatten, variant_key
from bench.dotted import with_dotted
from bench.errors import ConfigError
from bench.planning import Job, left_out_cells, plan
from bench.protocols import CELL_LABEL, Protocol
from bench.report.footnotes import differences, table_footnotes
from bench.report.published import ReportedTable, get_path, match_cell, same_value
from bench.report.stats import REFERENCE_KINDS, did_not_learn, record_converged, record_reference, resolved_pairs
from bench.report.tables import ACTION_AVERAGE, ACTION_KEY, METRIC_NAMES, RECORD_LEVEL, Table, TableCell, Tau
from bench.yamlio import load as load_yaml


def _parse_variant_key(key: str) -> dict:
    out = {}
    for part in filter(None, key.split(",")):
        k, _, v = part.partition("=")
        try:
            out[k] = load_yaml(v)
        except yaml.YAMLError:
            out[k] = v
    return out


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


def _planned_locations(jobs: list[Job], keys: list[str]) -> list[dict]:
    """The flat (dotted) resolved config of each planned cell (its first seed) under each evaluation
    variant, in plan order; a layout key the config lacks (an option this cell's model has not) is None."""
    out, seen = [], set()
    for job in jobs:
        cell_id = json.dumps(job.cell, sort_keys=True, default=str)
        if cell_id in seen:  # the same cell at another seed: the same places
            continue
        seen.add(cell_id)
        resolved = flatten(job.cfg)
        for variant in job.variants or [{}]:
            flat = {**{k: None for k in keys}, **resolved, **variant}
            if ACTION_KEY in keys:
                flat[ACTION_KEY] = ACTION_AVERAGE
            if CELL_LABEL in keys:
                flat[CELL_LABEL] = job.cell.get(CELL_LABEL)
            out.append(flat)
    return out


def _action_entries(cfg: dict, vals: dict, keys, actions=None) -> list[tuple[dict, dict, str | None]]:
    """With the pseudo-key ``action`` in the layout, one entry per breakdown group of the record
    (``cfg['action'] = group``, the group's metrics, the group) plus ``Average`` with the overall metrics
    (group None); only the groups in ``actions`` (``layout.actions``) when it is given."""
    if ACTION_KEY not in keys:
        return [(cfg, vals, None)]
    out = []
    for group, gvals in sorted((vals.get("per_action") or {}).items()):
        out.append(({**cfg, ACTION_KEY: group}, dict(gvals), group))
    out.append(({**cfg, ACTION_KEY: ACTION_AVERAGE}, vals, None))
    return [e for e in out if actions is None or e[0][ACTION_KEY] in actions]


def _record_entries(rec: dict, vmap: dict, row_keys, col_keys, reported, actions=None):
    """(location, variant priority, metrics dict, matched reported cell, action group or None) for each
    metrics entry."""
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
        for cfg, gvals, group in _action_entries(with_dotted(config, variant), dict(vals or {}),
                                          list(row_keys) + list(col_keys), actions):
            row = tuple(_hashable(get_path(cfg, k, None)) for k in row_keys)
            cols = tuple(_hashable(get_path(cfg, k, None)) for k in col_keys)
            gvals = dict(gvals)
            for m in RECORD_LEVEL:
                if rec.get(m) is not None:
                    gvals[m] = rec[m]
            yield (row, cols), prio, gvals, match_cell(reported, cfg), group


def build_table(protocol: Protocol, records: Iterable[dict], reported_table: ReportedTable | None,
                scale: str, jobs: list[Job] | None = None, stem: str | None = None,
                other_records: str = "") -> Table:
    """The table of ``protocol`` at ``scale`` from its run records (records of other protocols and scales
    are ignored). ``jobs``: the plan whose cells the table shows (a sweep's or ``bench table``'s, with
    their --set; default: :func:`bench.planning.plan` of the protocol at ``scale``); ``stem``: the file name
    without extension (default ``<protocol>.<scale>``); ``other_records``: a footnote on records of the
    same protocol left out (other configurations or data)."""
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
    if jobs is None:
        jobs = plan(protocol, scale)
    planned = _planned_locations(jobs, keys)
    # Cells of the full-scale plan that this scale leaves out: placed, shown as "full scale only".
    full_only = _planned_locations(left_out_cells(protocol, scale, jobs[0].overrides if jobs else None), keys)
    for flat in planned + full_only:
        for k in keys:
            order.add(k, flat[k])

    # Records -> locations. One value per record and location (the protocol's variant wins).
    by_loc: dict[tuple, dict[str, tuple]] = {}
    cells_by_loc: dict[tuple, set] = {}
    for rec in records:
        rid = rec.get("id") or str(id(rec))
        for loc, prio, vals, rcell, group in _record_entries(rec, vmap, row_keys, col_keys, reported_table,
                                                             layout.get("actions")):
            slot = by_loc.setdefault(loc, {})
            if rid not in slot or prio < slot[rid][0]:
                seed = rec.get("seed", get_path(rec.get("config") or {}, "seed", None))
                refs = {kind: record_reference(rec, kind, group) for kind in REFERENCE_KINDS}
                slot[rid] = (prio, vals, rcell, seed, refs, record_converged(rec))
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
    full_only_locs = set()
    for flat in full_only:
        loc = (tuple(_hashable(flat[k]) for k in row_keys), tuple(_hashable(flat[k]) for k in col_keys))
        if loc in seen:
            continue
        full_only_locs.add(loc)
        rcell = match_cell(reported_table, flat)
        if rcell is not None:
            plan_match.setdefault(loc, []).append(rcell)
    for loc in sorted(full_only_locs, key=repr):
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
                tc = TableCell(row=row, columns=cols, metric=m, full_scale_only=loc in full_only_locs,
                               not_planned=loc not in seen)
                matched = []
                for rid, (_, vals, rcell, seed, refs, converged) in slot.items():
                    v = vals.get(m)
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                        tc.values.append(float(v))
                        tc.seeds.append(seed)
                        tc.record_ids.append(rid)
                        tc.converged.append(converged)
                        for kind, ref in refs.items():
                            if m in ref:
                                tc.references.setdefault(kind, {})[rid] = ref[m]
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
                tc.did_not_learn = did_not_learn(m, tc.mean, tc.reference("mean_pose"))
                cells[(row, cols, m)] = tc

    tau: dict[str, Tau] = {}
    pair_stats = {}
    if reported_table is not None:
        for m in metrics:
            pairs = [(c.mean, c.reported) for c in cells.values()
                     if c.metric == m and c.mean is not None and c.reported is not None and not c.did_not_learn]
            tau[m] = kendall_tau([p[0] for p in pairs], [p[1] for p in pairs])
            if m not in RECORD_LEVEL:  # parameter and FLOP counts are the same for every seed: no noise
                pair_stats[m] = resolved_pairs(m, cells.values())

    table = Table(name=protocol.name, stem=stem or f"{protocol.name}.{scale}", title=protocol.title, scale=scale,
                  row_keys=row_keys,
                  column_keys=col_keys, metrics=metrics, labels=dict(layout.get("labels") or {}),
                  rows=rows, column_groups=col_groups, cells=cells, tau=tau, n_records=len(records),
                  expected_seeds=expected, description=protocol.description,
                  plot=dict(layout.get("plot") or {}), pairs=pair_stats,
                  references=_column_references(cells, row_keys), differs=differences(protocol, scale))
    if reported_table is not None:
        table.reported_ref = reported_table.ref
        table.reported_title = reported_table.title
        table.reported_dataset = str(reported_table.protocol.get("dataset", ""))
    table.datasets = sorted({str(get_path(r.get("config") or {}, "data.dataset", "?")) for r in records})
    table.sources = sorted({str(get_path(r.get("config") or {}, "data.source", "?")) for r in records})
    table.footnotes = table_footnotes(protocol, records, reported_table, table, cells_by_loc, used_reported)
    if other_records:
        table.footnotes.insert(0, other_records)
    return table


def _column_references(cells: dict, row_keys: list[str]) -> dict:
    """Reference kind -> {(column group, metric): mean over the column's records}: each record once (a
    record's per-action entries are left out when the rows are actions: its overall value stands for
    it); only the kinds some record has."""
    action_row = row_keys.index(ACTION_KEY) if ACTION_KEY in row_keys else None
    out: dict[str, dict] = {}
    for kind in REFERENCE_KINDS:
        per_col: dict[tuple, dict[str, float]] = {}
        for (row, cols, m), c in cells.items():
            if action_row is not None and row[action_row] != ACTION_AVERAGE:
                continue
            per_col.setdefault((cols, m), {}).update(c.references.get(kind) or {})
        vals = {k: sum(v.values()) / len(v) for k, v in per_col.items() if v}
        if vals:
            out[kind] = vals
    return out


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


