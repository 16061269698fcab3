"""Plots of a protocol's table and of its runs' training curves (matplotlib, Agg, PNG).

``plot_protocol`` draws, per metric, the reproduced mean ± standard error against the layout's first row key (or
``layout.plot.x``), one line per column group, and the paper's numbers as hollow markers. When the runs'
dataset is not the paper's (the stand-in instead of Human3.6M) the paper's numbers get their own y axis
on the right: only orderings and trends are comparable then, not absolute values.
``plot_curves`` draws train (solid) and validation (dashed) MPJPE against optimizer steps (epochs for
records whose curve rows have no ``step``), one colour per grid cell (mean over seeds).

``layout.plot`` options: ``x`` (dotted row key on the x axis), ``metrics`` (subset of layout.metrics),
``logx`` (true / false; default: log when the x values are positive and span a factor >= 8),
``heatmap`` (dotted key of the training action: also write ``<protocol>.heatmap.png``, see
``plot_cross_action``), ``scatter`` ([x metric, y metric]: ``<protocol>.png`` is ``plot_scatter``'s
metric-against-metric plot instead, e.g. parameters against MPJPE).
Files are written atomically (temporary name in the same folder, then ``os.replace``).
"""
from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from bench.records import write_atomic
from bench.report.builder import build_table
from bench.report.footnotes import norm_dataset
from bench.report.tables import METRIC_NAMES, Table, fmt_key_value

_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#7f7f7f", "#bcbd22"]


def _save_atomic(fig: Figure, path: str | os.PathLike) -> Path:
    return write_atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120), suffix=".png")


def _as_table(obj: Any) -> Table:
    if isinstance(obj, Table):
        return obj
    if isinstance(obj, dict):
        return build_table(obj["protocol"], obj["records"], obj.get("reported_table"), obj["scale"])
    if isinstance(obj, (tuple, list)) and len(obj) == 4:
        return build_table(*obj)
    raise TypeError("plot_protocol expects a Table, (protocol, records, reported_table, scale) or a dict "
                    "with those keys")


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scale_value(metric: str, v: float | None) -> float | None:
    if v is None:
        return None
    return v / 1e6 if metric in ("params", "flops_per_frame") else v


def _axis_label(metric: str) -> str:
    name = METRIC_NAMES.get(metric, metric)
    if metric == "params":
        return "Params (M)"
    if metric == "flops_per_frame":
        return "FLOPs/frame (M)"
    return name


def plot_protocol(table_or_inputs: Any, path: str | os.PathLike) -> Path:
    """Reproduced (mean ± standard error) and reported values of one protocol's table; returns the PNG path."""
    table = _as_table(table_or_inputs)
    opts = table.plot or {}
    metrics = [m for m in (opts.get("metrics") or table.metrics) if m in table.metrics] or table.metrics
    # x: layout.plot.x, else the only row key, else every row key together (one category per row).
    if opts.get("x") in table.row_keys:
        x_key = opts["x"]
    elif len(table.row_keys) == 1:
        x_key = table.row_keys[0]
    else:
        x_key = None
    xi = table.row_keys.index(x_key) if x_key else None

    def xval(row: tuple):
        if xi is not None:
            return row[xi]
        return ", ".join(fmt_key_value(v) for v in row if v is not None)

    def rest_of(row: tuple) -> tuple:
        return tuple(v for i, v in enumerate(row) if i != xi) if xi is not None else ()

    # x positions: numeric when every x value is a number, categorical otherwise.
    x_values: list = []
    for row in table.rows:
        v = xval(row)
        if not any(v == u for u in x_values):
            x_values.append(v)
    numeric = bool(x_values) and all(_is_num(v) for v in x_values)
    logx = opts.get("logx")
    if logx is None:
        logx = numeric and all(v > 0 for v in x_values) and max(x_values) / min(x_values) >= 8
    pos = {i: (float(v) if numeric else float(i)) for i, v in enumerate(x_values)}

    def xpos(v):
        for i, u in enumerate(x_values):
            if u == v:
                return pos[i]
        return None

    # Series: the other row keys x column groups.
    series: list[tuple[tuple, tuple]] = []
    for row in table.rows:
        rest = rest_of(row)
        for cols in table.column_groups:
            if (rest, cols) not in series:
                series.append((rest, cols))

    def series_label(rest: tuple, cols: tuple) -> str:
        parts = [f"{table.label(k)}={fmt_key_value(v)}" for k, v in
                 zip([k for k in table.row_keys if k != x_key], rest) if v is not None]
        parts += [fmt_key_value(v) for v in cols if v is not None]
        return ", ".join(p for p in parts if p) or "_nolegend_"

    other_data = bool(table.reported_dataset) and any(
        norm_dataset(d) != norm_dataset(table.reported_dataset) for d in table.datasets)
    n = max(1, len(metrics))
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    width = max(7.5, 5.2 * ncols + (0.8 if other_data else 0))
    fig = Figure(figsize=(width, 4.2 * nrows + 1.2), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)

    any_reported = False
    drawn_axes = []
    for ax, metric in zip(axes.flat, metrics):
        rax = ax.twinx() if (other_data and table.has_reported) else ax
        drawn_axes += [ax] if rax is ax else [ax, rax]
        drew_rep = False
        for si, (rest, cols) in enumerate(series):
            color = _COLORS[si % len(_COLORS)]
            # Categories are not ordered: markers only, series side by side around each category.
            shift = 0.0 if numeric else (si - (len(series) - 1) / 2) * min(0.12, 0.6 / max(1, len(series)))
            line = "-" if numeric else "none"
            xs, ys, es, rxs, rys = [], [], [], [], []
            for row in table.rows:
                if rest_of(row) != rest:
                    continue
                c = table.cells.get((row, cols, metric))
                if c is None:
                    continue
                x = xpos(xval(row)) + shift
                if c.mean is not None:
                    xs.append(x)
                    ys.append(_scale_value(metric, c.mean))
                    es.append(_scale_value(metric, c.se) or 0.0)
                if c.reported is not None:
                    rxs.append(x)
                    rys.append(_scale_value(metric, c.reported))
            if xs:
                order = sorted(range(len(xs)), key=lambda i: xs[i])
                ax.errorbar([xs[i] for i in order], [ys[i] for i in order], yerr=[es[i] for i in order],
                            color=color, marker="o", ms=5, capsize=3, lw=1.6, ls=line,
                            label=series_label(rest, cols))
            if rxs:
                order = sorted(range(len(rxs)), key=lambda i: rxs[i])
                rax.plot([rxs[i] for i in order], [rys[i] for i in order], color=color,
                         ls=":" if numeric else "none", lw=1,
                         marker="s", ms=7, mfc="none", mew=1.5,
                         label=None if xs else (series_label(rest, cols) + " (paper only)").lstrip("_"))
                drew_rep = True
        any_reported |= drew_rep
        ax.set_title(METRIC_NAMES.get(metric, metric), fontsize=10)
        ax.set_ylabel(f"reproduced: {_axis_label(metric)}" if other_data and drew_rep else _axis_label(metric))
        if rax is not ax:
            if drew_rep:
                rax.set_ylabel(f"paper ({table.reported_dataset}): {_axis_label(metric)}", color="#555555")
                rax.tick_params(axis="y", colors="#555555")
            else:
                rax.set_visible(False)
        ax.set_xlabel(table.label(x_key) if x_key else " / ".join(table.label(k) for k in table.row_keys))
        if numeric:
            if logx:
                ax.set_xscale("log")
            ax.set_xticks([pos[i] for i in range(len(x_values))])
            ax.set_xticklabels([fmt_key_value(v) for v in x_values])
            ax.minorticks_off()
        else:
            ax.set_xticks([pos[i] for i in range(len(x_values))])
            many = len(x_values) > 4
            ax.set_xticklabels([fmt_key_value(v) for v in x_values], rotation=35 if many else 0,
                               ha="right" if many else "center", rotation_mode="anchor")
            if x_values:
                ax.set_xlim(-0.5, len(x_values) - 0.5)
        ax.grid(True, alpha=0.3)
        if not any(c.mean is not None for c in table.cells.values() if c.metric == metric):
            ax.text(0.5, 0.5, "no run records", transform=ax.transAxes, ha="center", va="center",
                    color="#888888")

    # One legend for the figure: series colours, then the marker code.
    handles, labels = [], []
    for axis in drawn_axes:
        for h, lab in zip(*axis.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    handles.append(Line2D([], [], color="black", marker="o", lw=1.6, label="reproduced: mean ± SE over seeds"))
    labels.append("reproduced: mean ± SE over seeds")
    if any_reported:
        where = f", right axis ({table.reported_dataset})" if other_data else ""
        handles.append(Line2D([], [], color="black", ls=":", marker="s", mfc="none", label="paper"))
        labels.append(f"paper (hollow{where})")
    ncol = max(1, min(len(labels), int(width // 3.2)))
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)

    title = textwrap.fill(table.title, int(width * 13))
    sub = (f"{table.name} · scale {table.scale} · dataset {', '.join(table.datasets) or 'n/a'} · "
           f"{table.n_records} runs")
    if table.has_reported:
        sub += f" · reported: {table.reported_ref} ({table.reported_dataset})"
        if other_data:
            sub += " · different data: compare trends, not values"
    sub = textwrap.fill(sub, int(width * 14))
    fig.suptitle(f"{title}\n{sub}", fontsize=10)
    return _save_atomic(fig, path)


def _cell_label(cell: dict, record: dict | None = None) -> str:
    if not cell:  # the protocol's base experiment: name its model so it reads beside the other cells
        name = ((record or {}).get("config") or {}).get("model", {}).get("name")
        return f"base ({name})" if name else "base"
    return ", ".join(fmt_key_value(v) if k == "model.name" else f"{k.split('.')[-1]}={fmt_key_value(v)}"
                     for k, v in cell.items())


def _mean(vals: list) -> float | None:
    vals = [v for v in vals if _is_num(v)]
    return sum(vals) / len(vals) if vals else None


def _curve_axis(records: list[dict]) -> str:
    """``step`` when every curve row that has a number carries its optimizer step, else ``epoch``."""
    rows = [p for r in records for p in r.get("curve") or []
            if _is_num(p.get("train_mpjpe")) or _is_num(p.get("val_mpjpe"))]
    return "step" if rows and all(_is_num(p.get("step")) for p in rows) else "epoch"


def plot_curves(records: list[dict], path: str | os.PathLike) -> Path:
    """Train (solid) and validation (dashed) MPJPE of one protocol's records against optimizer steps
    (epochs when some record's curve has no steps: records written before steps were logged), one colour
    per cell (mean over seeds at each step); returns the PNG path."""
    groups: dict[str, list[dict]] = {}
    for rec in records:
        groups.setdefault(_cell_label(rec.get("cell") or {}, rec), []).append(rec)
    x_key = _curve_axis(records)
    has_val = any(_is_num(p.get("val_mpjpe")) for r in records for p in r.get("curve") or [])
    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = fig.subplots(1, 1)
    lo, hi, drawn = math.inf, -math.inf, 0
    for gi, (label, recs) in enumerate(groups.items()):
        color = _COLORS[gi % len(_COLORS)]
        for field, style in (("train_mpjpe", "-"), ("val_mpjpe", "--")):
            by_x: dict[float, list] = {}
            for r in recs:
                for p in r.get("curve") or []:
                    if _is_num(p.get(x_key)):
                        by_x.setdefault(p[x_key], []).append(p.get(field))
            pts = [(x, _mean(v)) for x, v in sorted(by_x.items())]
            pts = [(x, v) for x, v in pts if v is not None]
            if not pts:
                continue
            drawn += 1
            lo, hi = min(lo, min(v for _, v in pts)), max(hi, max(v for _, v in pts))
            ax.plot([x for x, _ in pts], [v for _, v in pts], color=color, ls=style,
                    marker="o" if len(pts) <= 20 else None, ms=3, lw=1.5 if style == "-" else 1.2,
                    label=f"{label} (n={len(recs)})" if field == "train_mpjpe" or not any(
                        _is_num(p.get("train_mpjpe")) for r in recs for p in r.get("curve") or []) else None)
    if hi > lo > 0 and hi / lo > 5:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("optimizer step" if x_key == "step" else "epoch")
    ax.set_ylabel("MPJPE (mm)")
    ax.grid(True, alpha=0.3)
    if not drawn:
        ax.text(0.5, 0.5, "no training curves", transform=ax.transAxes, ha="center", va="center",
                color="#888888")
    else:
        handles, labels = ax.get_legend_handles_labels()
        if len(handles) > 12:
            handles, labels = [], []
        handles += [Line2D([], [], color="black", ls="-", label="train"),
                    Line2D([], [], color="black", ls="--", label="validation")]
        labels += ["train", "validation"]
        ax.legend(handles, labels, fontsize=7)
    protos = sorted({str(r.get("protocol") or "adhoc") for r in records}) or ["no records"]
    scales = sorted({str(r.get("scale")) for r in records if r.get("scale")})
    sub = f"scale {', '.join(scales)} · " if scales else ""
    sub += f"{len(records)} runs · mean over seeds per cell · train solid, validation dashed"
    if x_key == "epoch" and records:
        sub += " · x: epochs (records without optimizer steps)"
    if not has_val:
        sub += " · no validation curve (no validation split, or not logged)"
    sub = textwrap.fill(sub, int(8.5 * 13))
    fig.suptitle(f"Training curves: {', '.join(protos)}\n{sub}", fontsize=10)
    return _save_atomic(fig, path)


def plot_cross_action(records: list[dict], path: str | os.PathLike, train_key: str = "data.train_actions",
                      metric: str = "mpjpe") -> Path:
    """Cross-action heat maps (DG-Net Fig. 5): one panel per model variant (the record's cell without
    ``train_key``), rows = training action, columns = test action group, colour = ``metric`` (mean over
    seeds), shared colour scale. Returns the PNG path."""
    import numpy as np

    from bench.report.published import get_path

    panels: dict[str, dict[tuple, dict[str, list]]] = {}
    tests: set[str] = set()
    for rec in records:
        cell = dict(rec.get("cell") or {})
        train = get_path(rec.get("config") or {}, train_key, None)
        cell.pop(train_key, None)
        train = ", ".join(train) if isinstance(train, list) else str(train)
        per_action = ((rec.get("metrics") or {}).get("") or {}).get("per_action") or {}
        slot = panels.setdefault(_cell_label(cell, rec), {}).setdefault(train, {})
        for group, vals in per_action.items():
            if _is_num(vals.get(metric)):
                slot.setdefault(group, []).append(vals[metric])
                tests.add(group)
    trains = sorted({t for p in panels.values() for t in p})
    tests_sorted = sorted(tests)
    n = max(len(panels), 1)
    fig = Figure(figsize=(1.0 + 0.42 * len(tests_sorted) * n + 1.5, 1.6 + 0.34 * len(trains)),
                 layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    grids = {}
    for label, rows in panels.items():
        grid = np.full((len(trains), len(tests_sorted)), np.nan)
        for i, tr in enumerate(trains):
            for j, te in enumerate(tests_sorted):
                v = _mean(rows.get(tr, {}).get(te, []))
                if v is not None:
                    grid[i, j] = v
        grids[label] = grid
    finite = [g[np.isfinite(g)] for g in grids.values() if np.isfinite(g).any()]
    vmin = min(float(f.min()) for f in finite) if finite else 0.0
    vmax = max(float(f.max()) for f in finite) if finite else 1.0
    image = None
    for ax, (label, grid) in zip(axes, grids.items()):
        image = ax.imshow(grid, cmap="viridis_r", vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(len(tests_sorted)), tests_sorted, rotation=90, fontsize=7)
        ax.set_yticks(range(len(trains)), trains, fontsize=7)
        ax.set_xlabel("test action")
        ax.set_title(f"{label}\nmean {np.nanmean(grid):.1f} mm" if np.isfinite(grid).any() else label,
                     fontsize=9)
    axes[0].set_ylabel("training action")
    if image is not None:
        fig.colorbar(image, ax=list(axes), label=f"{METRIC_NAMES.get(metric, metric)} (lower is better)")
    protos = sorted({str(r.get("protocol") or "adhoc") for r in records}) or ["no records"]
    fig.suptitle(f"Cross-action generalisation: {', '.join(protos)} — train on one action, test on all",
                 fontsize=10)
    return _save_atomic(fig, path)


def plot_scatter(table: Table, reported: Any, path: str | os.PathLike, x: str = "params",
                 y: str = "mpjpe") -> Path:
    """Metric ``x`` against metric ``y`` (DG-Net Fig. 4: parameters against MPJPE), one point per table
    row and column group (mean over seeds, ± standard error as error bars), labelled with the row. The reported
    points (every cell of ``reported`` that gives both metrics, whether or not a run matches it) are
    drawn in a second panel with the same x scale, one marker per source table: the papers' numbers are
    on Human3.6M and the runs usually on the stand-in, so the panels share x but not y. Without such
    points the figure has one panel. Returns the path."""
    rep_points = []
    for c in (getattr(reported, "cells", None) or []):
        vx, vy = c["values"].get(x), c["values"].get(y)
        if _is_num(vx) and _is_num(vy):
            rep_points.append((c.get("source", getattr(reported, "ref", "")), c["label"], vx, vy))
    fig = Figure(figsize=(12.5 if rep_points else 8.0, 5.6), layout="constrained")
    axes = fig.subplots(1, 2 if rep_points else 1, sharex=True, squeeze=False)[0]
    ax_run = axes[0]
    xs_all: list[float] = []
    names = table.row_keys + table.column_keys
    for i, row in enumerate(table.rows):
        for cols in table.column_groups:
            cx, cy = table.cell(row, cols, x), table.cell(row, cols, y)
            if cx.mean is None or cy.mean is None:
                continue
            px, py = _scale_value(x, cx.mean), _scale_value(y, cy.mean)
            xs_all.append(px)
            color = _COLORS[i % len(_COLORS)]
            ax_run.errorbar([px], [py], yerr=[[cy.se or 0.0], [cy.se or 0.0]], fmt="o", color=color,
                            capsize=3, markersize=7)
            parts = [fmt_key_value(v) if k == "model.name" else f"{table.label(k)}={fmt_key_value(v)}"
                     for k, v in zip(names, (*row, *cols)) if v not in (None, "")]
            ax_run.annotate(", ".join(parts), (px, py), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax_run.set_title(f"reproduced ({', '.join(table.datasets) or 'no runs'}, scale {table.scale})"
                     if rep_points else f"reproduced (scale {table.scale})", fontsize=9)
    if rep_points:
        ax_rep = axes[1]
        markers = ["s", "^", "D", "v"]
        sources = list(dict.fromkeys(p[0] for p in rep_points))
        for src, label, vx, vy in rep_points:
            k = sources.index(src)
            px, py = _scale_value(x, vx), _scale_value(y, vy)
            xs_all.append(px)
            seen = ax_rep.get_legend_handles_labels()[1]
            ax_rep.plot([px], [py], markers[k % len(markers)], mfc="none", mec=_COLORS[k % len(_COLORS)],
                        markersize=8, mew=1.5, label=src if src not in seen else None)
            ax_rep.annotate(textwrap.shorten(label.split(": ", 1)[-1], 34), (px, py), textcoords="offset points",
                            xytext=(5, 4), fontsize=7)
        ax_rep.set_title(f"reported ({getattr(reported, 'protocol', {}).get('dataset', '')})", fontsize=9)
        ax_rep.legend(fontsize=8, loc="best")
    for ax in axes:
        ax.set_xlabel(_axis_label(x))
        ax.set_ylabel(f"{_axis_label(y)} (lower is better)")
        ax.grid(True, alpha=0.3)
    positive = [v for v in xs_all if v > 0]
    if positive and max(positive) / min(positive) >= 8:
        ax_run.set_xscale("log")
    sub = f"{table.name} · {table.n_records} runs"
    if rep_points:
        sub += " · the panels share x, not y: the papers' points are on their own data and widths"
    fig.suptitle(f"{textwrap.fill(table.title, 150 if rep_points else 95)}\n{sub}", fontsize=10)
    return _save_atomic(fig, path)
