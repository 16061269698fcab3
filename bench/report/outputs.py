"""Which files a table gets: the table in each asked format, its statistics sidecar ``<stem>.stats.json``
(:mod:`bench.report.index`), and its plots.

The plots follow the table's ``layout.plot`` (``table.plot``): ``scatter: [x, y]`` draws one metric
against the other (one point per row, the papers' points in their own panel) as ``<stem>.png``, else
``<stem>.png`` is the per-cell plot (reproduced mean ± standard error against the first row key, the paper's
numbers as hollow markers); records with a training curve add ``<stem>.curves.png`` (train and
validation against optimizer steps; profile runs have none); ``heatmap: KEY`` adds the cross-action heat map ``<stem>.heatmap.png`` (KEY: the dotted key
of the training action). Sweeps and ``bench table`` both write through :func:`write_outputs`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bench.report.published import ReportedTable
from bench.report.render import write_table_files
from bench.report.tables import Table


def write_plots(table: Table, records: list[dict], reported: ReportedTable | None, plots_dir: Path) -> list[Path]:
    """The plots of ``table`` (see the module docstring) from its ``records``; returns the paths written."""
    from bench.report.plots import plot_cross_action, plot_curves, plot_protocol, plot_scatter

    opts = table.plot or {}
    plots_dir = Path(plots_dir)
    if opts.get("scatter"):
        x, y = opts["scatter"]
        outputs = [plot_scatter(table, reported, plots_dir / f"{table.stem}.png", x, y)]
    else:
        outputs = [plot_protocol(table, plots_dir / f"{table.stem}.png")]
    if any(r.get("curve") for r in records):
        outputs.append(plot_curves(records, plots_dir / f"{table.stem}.curves.png"))
    if opts.get("heatmap"):
        outputs.append(plot_cross_action(records, plots_dir / f"{table.stem}.heatmap.png",
                                         train_key=str(opts["heatmap"])))
    return outputs


def write_outputs(table: Table, records: list[dict], reported: ReportedTable | None, tables_dir: Path,
                  plots_dir: Path | None, formats: Sequence[str] = ("md",)) -> list[Path]:
    """``table`` in each of ``formats`` under ``tables_dir`` and, when ``plots_dir`` is given and the
    table has records, its plots under ``plots_dir``; returns the paths written."""
    outputs = write_table_files(table, Path(tables_dir), formats)
    if plots_dir is not None and records:
        outputs += write_plots(table, records, reported, Path(plots_dir))
    return outputs

