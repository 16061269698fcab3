"""Per-table statistics on disk and the index of every table: ``<stem>.stats.json`` and ``index.md``.

Each table written (:func:`bench.report.render.write_table_files`) gets a sidecar ``<stem>.stats.json``
beside it: title, scale, record count, Kendall τ and the resolved pairs per metric
(:mod:`bench.report.stats`), the marks, the reference floors and how the runs differ from the paper.
The index (``tables/index.md``) and ``results/README.md`` (:mod:`bench.report.readme`) are rebuilt from
these files alone, so they list every table on disk, whichever protocols the last command ran: a table
written before sidecars existed (its Markdown only) is listed from its Markdown header and counted as
having no statistics, unless a newer table of the same protocol and scale replaces it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

from bench.records import write_text_atomic
from bench.report.stats import total, total_text
from bench.report.tables import Table, fmt_key_value

SIDECAR = ".stats.json"
SCHEMA = 1


def _esc(s: str) -> str:
    return str(s).replace("|", "\\|")


def paper_of(name: str) -> str:
    """The paper a protocol belongs to: its name up to the first dot (``dgnet.k`` -> ``dgnet``)."""
    return str(name).split(".")[0]


def table_summary(table: Table) -> dict:
    """The table's statistics as its sidecar stores them (JSON-ready)."""
    cells = list(table.cells.values())
    return {
        "schema": SCHEMA, "name": table.name, "stem": table.stem, "title": table.title, "scale": table.scale,
        "paper": paper_of(table.name), "n_records": table.n_records, "expected_seeds": table.expected_seeds,
        "reported_ref": table.reported_ref, "reported_title": table.reported_title,
        "tau": {m: {"tau": t.tau, "n": t.n, "pvalue": t.pvalue} for m, t in table.tau.items()},
        "tau_summary": table.tau_summary(),
        "pairs": {m: p.to_dict() for m, p in table.pairs.items()},
        "pairs_summary": table.pairs_summary(),
        "pairs_total": table.pairs_total() if table.has_reported and table.pairs else None,
        "marks": {k: sum(1 for c in cells if k in c.marks)
                  for k in ("did_not_learn", "not_converged", "full_scale_only")},
        "references": {kind: [{"columns": [fmt_key_value(v) for v in cols], "metric": m, "value": v}
                              for (cols, m), v in vals.items()] for kind, vals in table.references.items()},
        "differs": table.differs, "plot": dict(table.plot or {}), "file": f"{table.stem}.md",
    }


def write_stats(table: Table, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<stem>.stats.json`` (atomically); returns its path."""
    path = Path(out_dir) / f"{table.stem}{SIDECAR}"
    write_text_atomic(path, json.dumps(table_summary(table), indent=1, ensure_ascii=False, default=str) + "\n")
    return path


_META = re.compile(r"^Protocol `(?P<name>[^`]+)` · scale `(?P<scale>[^`]+)` · (?P<n>\d+) run records?"
                   r"(?: · reported: `(?P<ref>[^`]+)`)?")
_TAU = re.compile(r"^Kendall τ-b, [^:]*: (?P<tau>.*)\.$")


def _legacy_summary(md: Path) -> dict | None:
    """What a table written before sidecars says about itself in its Markdown (None: not a table)."""
    try:
        lines = md.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    title = next((ln[3:].strip() for ln in lines if ln.startswith("## ")), None)
    meta = next((m for m in map(_META.match, lines) if m), None)
    if title is None or meta is None:
        return None
    tau = next((m.group("tau") for m in map(_TAU.match, lines) if m), None)
    return {"schema": 0, "name": meta.group("name"), "stem": md.stem, "title": title,
            "scale": meta.group("scale"), "paper": paper_of(meta.group("name")), "n_records": int(meta.group("n")),
            "reported_ref": meta.group("ref"),
            "tau_summary": tau if tau is not None else ("no reported table" if not meta.group("ref") else ""),
            "pairs": None, "pairs_summary": "", "pairs_total": None, "legacy": True, "differs": None,
            "plot": {}, "file": md.name}


def load_summaries(tables_dir: str | Path) -> list[dict]:
    """The summary of every table in ``tables_dir``, sorted by file name: each sidecar, and each
    Markdown table without one (unless a sidecar table ``<protocol>.<scale>`` replaces it)."""
    tables_dir = Path(tables_dir)
    if not tables_dir.is_dir():
        return []
    out, stems = [], set()
    for path in sorted(tables_dir.glob(f"*{SIDECAR}")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(summary, dict) and summary.get("name"):
            summary.setdefault("stem", path.name[:-len(SIDECAR)])
            out.append(summary)
            stems.add(summary["stem"])
    for md in sorted(tables_dir.glob("*.md")):
        if md.name == "index.md" or md.stem in stems:
            continue
        legacy = _legacy_summary(md)
        if legacy is None or f"{legacy['name']}.{legacy['scale']}" in stems:
            continue
        out.append(legacy)
    return sorted(out, key=lambda s: (s["stem"], s.get("scale", "")))


def _as_summary(entry: Table | dict) -> dict:
    if isinstance(entry, Table):
        return table_summary(entry)
    e = dict(entry)
    e.setdefault("stem", e["name"])
    e.setdefault("paper", paper_of(e["name"]))
    e.setdefault("file", f"{e['name']}.md")
    return e


def pairs_cell(summary: dict) -> str:
    """A table's resolved pairs in one index cell."""
    t = summary.get("pairs_total")
    if summary.get("legacy"):
        return "not computed (table written before the statistics)"
    if not summary.get("reported_ref"):
        return "no reported table"
    if not t:
        return "no pairs"
    return (f"{t['resolved']} of {t['pairs']} (agree {t['agree']}, disagree {t['disagree']}); "
            f"{t['unresolved']} unresolved; {_plural(t['excluded'], 'cell')} excluded")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def statistics(summaries: list[dict]) -> tuple[dict[str, dict], dict]:
    """Per paper and overall: the sums of the tables' resolved-pair totals (see :func:`total`), plus
    ``tables`` (how many tables), ``with_stats`` (how many have pair statistics), ``legacy`` (written
    before the statistics) and ``no_reported`` (no paper numbers to compare with)."""
    def add(acc: dict, s: dict) -> None:
        acc["tables"] += 1
        t = s.get("pairs_total")
        if t:
            acc["with_stats"] += 1
            for k, v in total([t]).items():
                acc[k] += v
        elif s.get("legacy"):
            acc["legacy"] += 1
        elif not s.get("reported_ref"):
            acc["no_reported"] += 1

    def empty() -> dict:
        return {"tables": 0, "with_stats": 0, "legacy": 0, "no_reported": 0, **total([])}

    per_paper: dict[str, dict] = {}
    overall = empty()
    for s in summaries:
        add(per_paper.setdefault(s.get("paper") or paper_of(s["name"]), empty()), s)
        add(overall, s)
    return per_paper, overall


def stats_text(acc: dict) -> str:
    """Sums of pair statistics as one phrase, with the tables they come from."""
    text = (f"{total_text(acc)}; {acc['unresolved']} unresolved; {_plural(acc['excluded'], 'cell')} excluded"
            f" — over {acc['with_stats']} of {_plural(acc['tables'], 'table')}")
    why = [f"{acc['legacy']} written before the statistics" if acc["legacy"] else "",
           f"{acc['no_reported']} without reported numbers" if acc["no_reported"] else ""]
    why = [w for w in why if w]
    return text + (f" ({'; '.join(why)})" if why else "")


def write_index(out_dir: str | Path, entries: Iterable[Table | dict] | None = None) -> Path:
    """``<out_dir>/index.md``: the resolved-pair statistics per paper and overall, then per paper one line
    per table (title, scale, record count, Kendall τ, resolved pairs). ``entries`` (tables, or mappings
    with name, title, scale, n_records, tau_summary and optionally file, pairs_total): default, and what
    ``bench table all`` uses, every table on disk (:func:`load_summaries`)."""
    out_dir = Path(out_dir)
    summaries = load_summaries(out_dir) if entries is None else [_as_summary(e) for e in entries]
    per_paper, overall = statistics(summaries)
    lines = ["# Reproduced tables", "",
             "Generated from the tables in this folder (each table's `<stem>.stats.json`; a table written "
             "before those files: its Markdown header). Kendall τ-b compares the ordering of reproduced means "
             "with the paper's numbers over matched cells that learned. Resolved pairs: of the pairs of cells "
             "the paper separates (≥ 1 mm or ≥ 2 %; both with n ≥ 2 seeds and not marked \"did not learn\"), "
             "those whose reproduced difference exceeds 2 standard errors of the difference; agree: same sign "
             "as the paper.", "",
             f"**Overall**: {stats_text(overall)}.", "",
             "| Paper | Tables | Resolved pairs | Agree | Disagree | Unresolved | Cells excluded |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for paper, acc in per_paper.items():
        lines.append(f"| {paper} | {acc['tables']} | {acc['resolved']} of {acc['pairs']} | {acc['agree']} | "
                     f"{acc['disagree']} | {acc['unresolved']} | {acc['excluded']} |")
    lines.append(f"| **all** | {overall['tables']} | {overall['resolved']} of {overall['pairs']} | "
                 f"{overall['agree']} | {overall['disagree']} | {overall['unresolved']} | {overall['excluded']} |")
    lines.append("")
    for paper in per_paper:
        lines += [f"## {paper}", "",
                  "| Table | Title | Scale | Records | Kendall τ (reproduced vs reported) | Resolved pairs |",
                  "|---|---|---|---:|---|---|"]
        for s in summaries:
            if (s.get("paper") or paper_of(s["name"])) != paper:
                continue
            lines.append(f"| [{s['name']}]({s.get('file') or s['stem'] + '.md'}) | {_esc(s.get('title', ''))} | "
                         f"{s.get('scale', '')} | {s.get('n_records', '')} | {_esc(s.get('tau_summary', ''))} | "
                         f"{_esc(pairs_cell(s))} |")
        lines.append("")
    path = out_dir / "index.md"
    write_text_atomic(path, "\n".join(lines))
    return path

