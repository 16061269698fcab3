"""The footnotes of a table: every way its runs differ from the paper's protocol (scale cuts, data and
2D source, epochs, seeds), what is missing or pooled, the reported table's reference, the protocol's own
notes. Written from the records themselves, so a table names what its runs actually did.
"""
from __future__ import annotations

import re

from bench.protocols import Protocol
from bench.report.published import ReportedTable, get_path
from bench.report.tables import DASH, Table, fmt_key_value


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


