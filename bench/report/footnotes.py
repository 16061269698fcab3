"""The footnotes of a table: every way its runs differ from the paper's protocol (scale cuts, data and
2D source, epochs and optimizer steps, seeds), what the marks, reference rows and resolved pairs mean,
what is missing or pooled, the reported table's reference, the protocol's own notes. Written from the
records themselves, so a table names what its runs actually did. :func:`differences` is the one-line
version for results/README.md.
"""
from __future__ import annotations

import re
import textwrap

from bench.protocols import Protocol
from bench.report.published import ReportedTable, get_path
from bench.report.stats import (DID_NOT_LEARN_FRACTION, FULL_SCALE_ONLY, HIGHER_IS_BETTER, LOWER_IS_BETTER,
                                MARKS, PAPER_GAP_ABS, PAPER_GAP_REL, RESOLVE_SE, is_num)
from bench.report.tables import DASH, Table, fmt_key_value


def _short(text: str, width: int = 260) -> str:
    return textwrap.shorten(" ".join(str(text).split()), width, placeholder=" …")


def differences(protocol: Protocol, scale: str) -> str:
    """How a run of ``protocol`` at ``scale`` differs from the paper: its first footnote (data and recipe)
    and, when there is one, the footnote on that scale's cuts ("Quick scale: ...")."""
    if not protocol.footnotes:
        return "no stated difference"
    parts = [_short(protocol.footnotes[0], 220)]
    parts += [_short(f, 220) for f in protocol.footnotes[1:] if f.lower().startswith(f"{scale} scale")][:1]
    return " ".join(parts)


def _span(values: list, fmt=lambda v: f"{v:,.0f}") -> str:
    """One value, or "lo–hi" when the runs differ."""
    lo, hi = min(values), max(values)
    return fmt(lo) if lo == hi else f"{fmt(lo)}–{fmt(hi)}"


def _budget_note(records: list[dict]) -> str | None:
    """The optimizer steps, training windows seen and schedule of the runs (records' ``budget``)."""
    budgets = [r["budget"] for r in records if isinstance(r.get("budget"), dict)]
    if not budgets:
        return None

    def nums(key):
        return [b[key] for b in budgets if is_num(b.get(key))]

    parts = []
    if nums("steps"):
        text = f"{_span(nums('steps'))} optimizer steps"
        if any(nums("warmup_steps")):
            text += f" ({_span(nums('warmup_steps'))} of warm-up)"
        parts.append(text)
    if nums("windows_seen"):
        text = f"{_span(nums('windows_seen'))} training windows seen"
        if nums("passes"):
            passes = _span(nums("passes"), lambda v: f"{v:.2g}")
            text += f" ({passes} {'pass' if passes == '1' else 'passes'} over the training windows)"
        parts.append(text)
    schedules = sorted({str(b["schedule"]) for b in budgets if b.get("schedule")})
    if schedules:
        parts.append(f"learning-rate schedule {', '.join(schedules)}")
    if not parts:
        return None
    n = len(budgets)
    return (f"Budget per run ({n} of {len(records)} records state it): " if n < len(records)
            else "Budget per run: ") + "; ".join(parts) + "."


def _marks_notes(records: list[dict], table: Table) -> list[str]:
    """The legend of the marks the table shows, the reference rows and the resolved pairs."""
    notes = []
    cells = list(table.cells.values())
    used = {m for c in cells for m in c.marks}
    legend = []
    if "did_not_learn" in used:
        legend.append(f"{MARKS['did_not_learn']} did not learn: the cell's mean is at least "
                      f"{DID_NOT_LEARN_FRACTION * 100:.0f} % of the error of predicting the training mean pose (its own "
                      f"records' reference; for PCK and AUC: its shortfall from 100 % is at least "
                      f"{DID_NOT_LEARN_FRACTION * 100:.0f} % of the mean pose's); left out of τ and of the resolved pairs")
    judged = [r["convergence"] for r in records if isinstance(r.get("convergence"), dict)]
    if "not_converged" in used:
        failed = [c for c in judged if c.get("converged") is False]
        first = failed[0] if failed else {}
        curve = {"val": "validation curve", "train": "training curve"}.get(str(first.get("curve")), "")
        criterion = str(first.get("criterion") or "").rstrip(".")
        legend.append(f"{MARKS['not_converged']} not converged: at least one seed's run had not converged "
                      f"({len(failed)} of {len(records)} runs"
                      + (f"; {curve}" if curve else "") + (f"; criterion: {criterion}" if criterion else "") + ")")
    if "full_scale_only" in used:
        legend.append(f"\"{FULL_SCALE_ONLY}\": the protocol's full-scale plan has this cell, scale "
                      f"'{table.scale}' leaves it out")
    if "not_planned" in used:
        legend.append("blank: the protocol has no cell at that place of the layout")
    if legend:
        notes.append("Marks: " + "; ".join(legend) + ".")
    unjudged = sum(1 for c in judged if c.get("converged") is None)
    if unjudged:
        notes.append(f"Convergence not judged for {unjudged} of {len(records)} runs (too few curve points on "
                     f"one side of the last quarter of the budget): no mark either way.")
    if table.references:
        notes.append("Reference rows: the error of answering every test frame with the training set's mean "
                     "pose, or with the zero pose (all joints at the root), same metric and averaging as the "
                     "cells; mean over each column's records. A cell near them has not learned.")
    elif records and any(m in LOWER_IS_BETTER + HIGHER_IS_BETTER for m in table.metrics):
        notes.append("The run records carry no reference errors (training mean pose, zero pose): no floor "
                     "rows, and \"did not learn\" cannot be judged.")
    if table.has_reported and table.pairs:
        notes.append(f"Resolved pairs: over the cells with a paper value and n ≥ 2 seeds that learned, the pairs "
                     f"the paper separates (by ≥ {PAPER_GAP_ABS:g} mm, or ≥ {PAPER_GAP_REL * 100:.0f} % of the smaller "
                     f"value; percentage points for PCK and AUC) are resolved when the reproduced difference "
                     f"exceeds {RESOLVE_SE:g} standard errors of the difference, {RESOLVE_SE:g}·√(SE₁² + SE₂²); "
                     f"agree: the same sign as the paper's. Excluded: cells with both numbers that did not "
                     f"learn or have n < 2.")
    return notes


def norm_dataset(name: str) -> str:
    name = str(name).split(":", 1)[0].lower()
    alias = {"h36m": "human36m", "human3.6m": "human36m", "humaneva": "humaneva", "humaneva-i": "humaneva",
             "3dhp": "mpiinf3dhp", "mpi-inf-3dhp": "mpiinf3dhp"}
    return alias.get(name, re.sub(r"[^a-z0-9]", "", name))


def norm_source(name: str) -> str:
    s = str(name).lower().replace("ground truth", "gt").replace("ground-truth", "gt")
    s = re.sub(r"\b2d\b", "", s)
    return re.sub(r"[^a-z0-9]", "", s)


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


def table_footnotes(protocol: Protocol, records: list[dict], reported: ReportedTable | None, table: Table,
               cells_by_loc: dict, used_reported: set) -> list[str]:
    notes: list[str] = []
    scale = table.scale
    if not records and scale != "full" and protocol.scale_settings(scale).get("only") == []:
        notes.append(f"Scale '{scale}' runs no cell of this protocol (it covers each paper's headline contrasts "
                     f"within its time budget): every cell is full scale only. Run "
                     f"`bench ablate {protocol.name} --scale full` (3 seeds per cell, resumable, --jobs N).")
    elif not records:
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
        if norm_dataset(ds) == norm_dataset(paper_ds):
            continue
        what = ("stand-in dataset (bundled)" if norm_dataset(ds) == "standin"
                else f"dataset '{ds.split(':', 1)[0]}'")
        notes.append(f"{what} instead of {paper_ds}: absolute numbers are not comparable, "
                     f"compare orderings (τ).")
    paper_src = str(reported.protocol.get("source", "")) if reported else ""
    for src in table.sources:
        if paper_src and norm_source(src) != norm_source(paper_src):
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

    budget = _budget_note(records)
    if budget:
        notes.append(budget)

    # Seeds.
    planned = (f"{table.expected_seeds} seeds per cell at this scale (seeds 0..{table.expected_seeds - 1})"
               if table.expected_seeds > 1 else "one seed per cell at this scale")
    notes.append(f"Reproduced: mean ± standard error over seeds (SE = sample std / √n) and the seed count "
                 f"(n=k); one seed: the mean and (n=1), no ±. The protocol plans {planned}.")
    notes.extend(_marks_notes(records, table))

    # Missing reproduced cells and pooled settings.
    placed = [(row, cols) for row in table.rows for cols in table.column_groups
              if not {"full_scale_only", "not_planned"} & set(table.cells[(row, cols, table.metrics[0])].marks)]
    total = len(placed)
    empty = sum(1 for row, cols in placed if all(table.cells[(row, cols, m)].mean is None for m in table.metrics))
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


