"""Markdown, LaTeX and CSV files of a :class:`~bench.report.tables.Table`, and the index of tables.

All three print the table's DataFrame (:meth:`Table.to_frame`, one row per row x column group x metric):
CSV is the frame itself (``DataFrame.to_csv``: raw numbers, lists joined by ";"); Markdown and LaTeX
format each entry (reproduced mean ± standard error (n=k) and marks, reported, Δ), lay the entries of a
table row side by side and add the reference rows (training mean pose, zero pose) and the resolved-pair
line (:mod:`bench.report.stats`).
Their lines are joined here rather than by tabulate or ``DataFrame.to_latex``, which pad cells to
column width and add their own rules: the committed files keep one cell per ``|`` (or ``&``) unpadded.
Files are written atomically and carry the table's stem (scale, and the --data / --set of a sweep), so
no sweep overwrites another's table; each gets its ``<stem>.stats.json`` (:mod:`bench.report.index`,
which also writes the index of every table on disk).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from bench.errors import ConfigError
from bench.records import write_text_atomic
from bench.report.index import write_index, write_stats
from bench.report.stats import REFERENCE_KINDS
from bench.report.tables import Table, fmt_key_value, fmt_metric, fmt_reproduced, is_missing

FORMATS = {"md": "md", "markdown": "md", "tex": "tex", "latex": "tex", "csv": "csv"}
#: The CSV's columns after the layout keys (the frame's, without record_ids).
CSV_COLUMNS = ["metric", "n", "mean", "std", "se", "values", "seeds", "reported", "delta", "reported_label",
               "reported_missing", "marks", "mean_pose", "zero_pose"]


def _entry_texts(table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Each frame row as printed: reproduced, reported ("n.r." where the paper has no number) and Δ."""
    def reported(e: dict) -> str:
        if e["reported"] is not None:
            return fmt_metric(e["metric"], e["reported"])
        return "n.r." if e["reported_missing"] else ""

    entries = frame.to_dict("records")
    return pd.DataFrame({
        "reproduced": [fmt_reproduced(e["metric"], e["mean"], e["se"], e["n"], e["marks"]) for e in entries],
        "reported": [reported(e) for e in entries],
        "delta": ["" if is_missing(e["delta"]) else fmt_metric(e["metric"], e["delta"], signed=True)
                  for e in entries],
    }, dtype=object)


def _body(table: Table) -> tuple[list[str], list[list[str]], int]:
    """Header and rows of the printed table: the row keys' values, the paper's row label (where each row
    matches one reported cell), then per column group and metric reproduced (, reported, Δ); then one
    reference row per kind the records have (its label in the first column, the column's reference in
    the reproduced columns). Also the number of reference rows (the last rows)."""
    paper_labels = table.paper_row_labels()
    header = [table.label(k) for k in table.row_keys]
    if paper_labels:
        header.append("Paper row")
    if table.references and not header:  # no row keys: a column for the reference rows' labels
        header.append("")
    for cols, m in table.groups():
        gh = table.group_header(cols, m)
        header += [f"{gh}: reproduced", "reported", "Δ"] if table.has_reported else [f"{gh}: reproduced"]
    texts = _entry_texts(table, table.to_frame())
    shown = ["reproduced", "reported", "delta"] if table.has_reported else ["reproduced"]
    # the frame is in table order: each table row is len(groups) consecutive frame rows
    entries = np.asarray(texts[shown].to_numpy(), dtype=object).reshape(len(table.rows), -1)
    n_lead = len(header) - len(table.groups()) * len(shown)
    body = []
    for row, line in zip(table.rows, entries):
        lead = [fmt_key_value(v) for v in row] + ([paper_labels.get(row, "")] if paper_labels else [])
        body.append(([""] * (n_lead - len(lead))) + lead + list(line))
    for kind, values in table.references.items():
        line = [REFERENCE_KINDS[kind]] + [""] * (n_lead - 1)
        for cols, m in table.groups():
            line += [fmt_metric(m, values[(cols, m)]) if (cols, m) in values else ""] + [""] * (len(shown) - 1)
        body.append(line)
    return header, body, len(table.references)


def md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def render_markdown(table: Table) -> str:
    header, body, _ = _body(table)
    out = [f"## {table.title}", ""]
    meta = f"Protocol `{table.name}` · scale `{table.scale}` · {table.n_records} run records"
    if table.has_reported:
        meta += f" · reported: `{table.reported_ref}` ({table.reported_title})"
    out += [meta, ""]
    if not header:
        header = [""]
    out.append("| " + " | ".join(md_escape(h) for h in header) + " |")
    n_groups = len(table.groups()) * (3 if table.has_reported else 1)
    aligns = ["---"] * (len(header) - n_groups) + ["---:"] * n_groups
    out.append("|" + "|".join(aligns) + "|")
    for line in body:
        out.append("| " + " | ".join(md_escape(x) for x in line) + " |")
    out.append("")
    if table.has_reported:
        out.append(f"Kendall τ-b, reproduced means vs reported values over matched cells that learned: "
                   f"{table.tau_summary()}.")
        out.append("")
        if table.pairs_summary():
            out.append(table.pairs_summary())
            out.append("")
    if table.footnotes:
        out.append("Notes:")
        out.append("")
        out += [f"{i}. {md_escape(n)}" for i, n in enumerate(table.footnotes, 1)]
        out.append("")
    return "\n".join(out)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"$\pm$", "Δ": r"$\Delta$", "τ": r"$\tau$", "σ": r"$\sigma$", "×": r"$\times$",
                  "—": "---", "−": "--", "→": r"$\rightarrow$", "≥": r"$\geq$", "≤": r"$\leq$",
                  "·": r"$\cdot$", "²": r"$^2$", "†": r"\dag{}", "‡": r"\ddag{}", "√": r"$\surd$",
                  "₁": r"$_1$", "₂": r"$_2$"}


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
    _, body, n_ref = _body(table)
    for i, line in enumerate(body):
        if n_ref and i == len(body) - n_ref:
            lines.append(r"\midrule")
        lines.append(" & ".join(latex_escape(x) for x in line) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\par\smallskip", r"\begin{minipage}{\linewidth}\footnotesize"]
    if table.has_reported:
        lines.append(latex_escape(f"Kendall τ-b (reproduced vs reported, matched cells that learned): "
                                  f"{table.tau_summary()}.") + r"\par")
        if table.pairs_summary():
            lines.append(latex_escape(table.pairs_summary()) + r"\par")
    for i, n in enumerate(table.footnotes, 1):
        lines.append(f"{i}. {latex_escape(n)}" + r"\par")
    lines += [r"\end{minipage}", r"\end{table}", ""]
    return "\n".join(lines)


def _raw(v: Any) -> str:
    """A number or key as the CSV writes it: repr of floats, "" for None."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def render_csv(table: Table) -> str:
    """The table's frame with raw numbers (one line per row x column group x metric), led by the
    protocol and scale; values and seeds over runs joined by ";"."""
    frame = table.to_frame()
    out = frame[[*table.row_keys, *table.column_keys, *CSV_COLUMNS]].copy()
    out["values"] = [";".join(repr(v) for v in vs) for vs in frame["values"]]
    out["seeds"] = [";".join(_raw(s) for s in ss) for ss in frame["seeds"]]
    out.insert(0, "scale", table.scale)
    out.insert(0, "protocol", table.name)
    return out.to_csv(index=False, lineterminator="\n")


_RENDER = {"md": render_markdown, "tex": render_latex, "csv": render_csv}


def write_table_files(table: Table, out_dir: str | Path, formats: Sequence[str] = ("md",)) -> list[Path]:
    """Write ``<out_dir>/<stem>.<ext>`` for each format (md, tex/latex, csv), atomically, then the
    statistics sidecar ``<stem>.stats.json`` (:func:`bench.report.index.write_stats`); the stem carries
    the scale (and the data or --set of a sweep that had them), so no sweep overwrites another's table."""
    paths = []
    for f in formats:
        ext = FORMATS.get(str(f).lower())
        if ext is None:
            raise ConfigError(f"unknown table format {f!r}; use md, latex or csv")
        path = Path(out_dir) / f"{table.stem}.{ext}"
        write_text_atomic(path, _RENDER[ext](table))
        paths.append(path)
    paths.append(write_stats(table, out_dir))
    return paths


__all__ = ["FORMATS", "latex_escape", "md_escape", "render_csv", "render_latex", "render_markdown",
           "write_index", "write_table_files"]
