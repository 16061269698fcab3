"""The table model: a paper-style table of reproduced and reported numbers, and how its numbers print.

A :class:`Table` has the layout of its protocol: one row per combination of the layout's row keys, and
for each combination of the column keys (a column group) and each metric one :class:`TableCell`:
reproduced values over seeds (mean ± standard error), the paper's number, Δ = reproduced − reported,
the reference floors of its records and its marks (:mod:`bench.report.stats`). :meth:`Table.to_frame`
gives the same entries as a pandas DataFrame, one row per (table row, column group, metric), which the
renderers (:mod:`bench.report.render`) print from. :mod:`bench.report.builder` builds tables from run
records; formatting of keys and metrics (``fmt_*``) is shared by the renderers and the plots.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.report.stats import FULL_SCALE_ONLY, MARKS, total

if TYPE_CHECKING:
    import pandas as pd

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
    #: reference kind (``mean_pose``, ``zero_pose``) -> {record id: its value} for the records that have one
    references: dict = field(default_factory=dict)
    converged: list = field(default_factory=list)  # convergence.converged of each record (None: not judged)
    full_scale_only: bool = False  # planned at full scale only: the table's scale leaves the cell out
    #: no cell of the protocol at this place (a sparse layout: another row's value crossed with this
    #: column's) and no record: printed blank, not "—"
    not_planned: bool = False
    did_not_learn: bool = False  # set by the builder (bench.report.stats.did_not_learn)

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
    def se(self) -> float | None:
        """Standard error of the mean over seeds, sample std / sqrt(n) (None with fewer than two)."""
        std = self.std
        return None if std is None else std / math.sqrt(self.n)

    def reference(self, kind: str) -> float | None:
        """Mean over the cell's records of their ``kind`` reference (None: no record has one)."""
        vals = list((self.references.get(kind) or {}).values())
        return statistics.fmean(vals) if vals else None

    @property
    def not_converged(self) -> bool:
        """A seed's training had not converged; only the metrics training moves carry the mark (a parameter
        or FLOP count is the same converged or not)."""
        from bench.report.stats import HIGHER_IS_BETTER, LOWER_IS_BETTER

        trained = self.metric in LOWER_IS_BETTER + HIGHER_IS_BETTER or self.metric.startswith("mpjpe")
        return trained and any(c is False for c in self.converged)

    @property
    def marks(self) -> list[str]:
        """The cell's marks, in legend order: did_not_learn, not_converged, full_scale_only (and
        not_planned: a blank place of a sparse layout)."""
        return [m for m, on in (("did_not_learn", self.did_not_learn), ("not_converged", self.not_converged),
                                ("full_scale_only", self.full_scale_only), ("not_planned", self.not_planned))
                if on]

    @property
    def delta(self) -> float | None:
        if self.mean is None or self.reported is None:
            return None
        return self.mean - self.reported


@dataclass
class Table:
    """A protocol's table: layout (row and column keys, metrics, labels), the ordered rows and column
    groups, one :class:`TableCell` per (row, column group, metric), Kendall τ per metric and the
    footnotes."""

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
    tau: dict = field(default_factory=dict)  # metric -> Tau (cells that did not learn excluded)
    pairs: dict = field(default_factory=dict)  # metric -> bench.report.stats.PairStats
    #: reference kind -> {(columns, metric): mean over the column's records}; only kinds some record has
    references: dict = field(default_factory=dict)
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
    differs: str = ""  # how the protocol's runs differ from the paper, in one line (results/README.md)

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

    def pairs_summary(self) -> str:
        """Resolved pairs per metric in one line ("" without a reported table or pair statistics); a metric
        without any cell that has both a paper value and a reproduced one is left out."""
        if not self.has_reported or not self.pairs:
            return ""
        parts = [f"{self.label(m)}: {p.text()}" for m, p in self.pairs.items() if p.cells or p.excluded]
        if not parts:
            return "Resolved pairs: no cell has both a paper value and a reproduced one."
        return "Resolved pairs, " + " · ".join(parts) + "."

    def pairs_total(self) -> dict:
        return total(self.pairs.values())

    def to_frame(self) -> pd.DataFrame:
        """One row per (table row, column group, metric), in table order (rows, then column groups, then
        metrics): the row and column key values (columns named by the dotted keys; object dtype, as the
        records give them: a list-valued key is a tuple, a key the config lacks is None), ``metric``,
        ``n``, ``mean``, ``std`` and ``se`` (standard error, std / sqrt(n); NaN when there is none), ``values``, ``seeds`` and ``record_ids`` (lists,
        one entry per run), ``reported`` (the paper's number as transcribed, int or float; None when the
        paper has none or no reported cell matches), ``delta`` (NaN without both numbers),
        ``reported_label`` and ``reported_missing`` (why the paper has no number; "" otherwise), ``marks``
        (the cell's marks joined by ";": did_not_learn, not_converged, full_scale_only, not_planned), ``mean_pose`` and
        ``zero_pose`` (the cell's records' reference errors, NaN without)."""
        import pandas as pd  # here, not at the top: `bench train` imports this module for METRIC_NAMES

        entries = [(row, cols, m) for row in self.rows for cols, m in self.groups()]
        cells = [self.cells[e] for e in entries]
        keys = {k: pd.Series([row[i] for row, _, _ in entries], dtype=object)
                for i, k in enumerate(self.row_keys)}
        keys.update({k: pd.Series([cols[i] for _, cols, _ in entries], dtype=object)
                     for i, k in enumerate(self.column_keys)})

        def num(v: float | None) -> float:
            return math.nan if v is None else v

        return pd.DataFrame({
            **keys,
            "metric": pd.Series([c.metric for c in cells], dtype=object),
            "n": pd.Series([c.n for c in cells], dtype="int64"),
            "mean": pd.Series([num(c.mean) for c in cells], dtype="float64"),
            "std": pd.Series([num(c.std) for c in cells], dtype="float64"),
            "se": pd.Series([num(c.se) for c in cells], dtype="float64"),
            "values": pd.Series([list(c.values) for c in cells], dtype=object),
            "seeds": pd.Series([list(c.seeds) for c in cells], dtype=object),
            "record_ids": pd.Series([list(c.record_ids) for c in cells], dtype=object),
            "reported": pd.Series([c.reported for c in cells], dtype=object),
            "delta": pd.Series([num(c.delta) for c in cells], dtype="float64"),
            "reported_label": pd.Series([c.reported_label for c in cells], dtype=object),
            "reported_missing": pd.Series([c.reported_missing for c in cells], dtype=object),
            "marks": pd.Series([";".join(c.marks) for c in cells], dtype=object),
            "mean_pose": pd.Series([num(c.reference("mean_pose")) for c in cells], dtype="float64"),
            "zero_pose": pd.Series([num(c.reference("zero_pose")) for c in cells], dtype="float64"),
        })


# ----------------------------------------------------------------------------------------------------
# Formatting


def is_missing(v: Any) -> bool:
    """None or NaN: no number (a frame stores a missing mean, std or Δ as NaN)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


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
    if is_missing(v):
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


def fmt_reproduced(metric: str, mean: float | None, se: float | None, n: int, marks: str | list = "") -> str:
    """Reproduced mean ± standard error over seeds and the seed count, "(n=k)"; one seed: the mean and
    "(n=1)", no ±. Record-level metrics that are the same for every seed (parameter counts) print the
    value alone. Then the cell's marks (``†`` did not learn, ``‡`` not converged). Without runs: "—", or
    "full scale only" for a cell the table's scale leaves out, "" where the protocol has no cell."""
    marks = [m for m in (marks.split(";") if isinstance(marks, str) else marks) if m]
    if is_missing(mean):
        if "full_scale_only" in marks:
            return FULL_SCALE_ONLY
        return "" if "not_planned" in marks else DASH
    text = fmt_metric(metric, mean)
    if not (metric in RECORD_LEVEL and (is_missing(se) or se == 0)):
        if not is_missing(se):
            text += f" ± {fmt_metric(metric, se)}"
        text += f" (n={n})"
    symbols = "".join(MARKS[m] for m in marks if m in MARKS)
    return f"{text} {symbols}" if symbols else text
