"""Telling a real ordering from noise: reference floors, marks and resolved pairs of a table.

* **Reference floors.** A run record may carry ``reference: {"mean_pose": {metric: value}, "zero_pose":
  {metric: value}}``: the error of predicting the training set's mean pose (or the all-zero pose) for
  every test frame, with the cell's metric and averaging (``per_action: {group: {metric: value}}`` for
  per-action rows, when the record has it). A table shows them as two rows under its cells.
* **Did not learn** (mark ``†``), per cell and metric, against the cell's own records' mean-pose value
  ``R`` (mean over its seeds): for an error (lower is better: MPJPE, P-MPJPE, N-MPJPE, MPJVE) when the
  cell's mean is at least 90 % of ``R`` (the model removed less than 10 % of the error of always
  answering the mean pose); for a percentage that is better when higher and perfect at 100 (PCK, AUC)
  when the cell's shortfall from 100 is at least 90 % of the mean pose's (``100 − mean ≥ 0.9 (100 − R)``:
  the model closed less than 10 % of the gap between the mean pose and a perfect score). The literal
  "within 110 % of the mean pose's PCK" is not used: it depends on how small the mean pose's PCK is
  (at 2 % it would call a 5 % PCK learned). Other metrics (parameters, timings) are never marked.
* **Not converged** (mark ``‡``): any of the cell's records says ``convergence.converged == false``.
* **Full scale only**: a cell the full-scale plan has and the table's scale leaves out
  (:func:`bench.planning.left_out_cells`); it shows that text instead of "—".
* **Resolved pairs**, per metric: over pairs of cells that both have a paper value and a reproduced
  mean over n ≥ 2 seeds and are not marked "did not learn", the pairs the paper separates (its two values at least
  1 unit apart, mm for errors and percentage points for PCK/AUC, or at least 2 % of the smaller value
  apart) are *resolved* when the reproduced difference exceeds twice its standard error,
  ``|m1 − m2| > 2 sqrt(se1² + se2²)`` (SE = sample std / sqrt(n)); a resolved pair *agrees* when its
  sign is the paper's. Cells with a paper value and a reproduced one that did not learn or have n < 2
  are counted as excluded. Deterministic counts (parameters, FLOPs) are not measurements: no pairs.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable

#: Errors: lower is better.
LOWER_IS_BETTER = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve")
#: Percentages, perfect at 100: higher is better.
HIGHER_IS_BETTER = ("pck", "auc")
#: The reference predictors a record may carry, in the order the table shows them, with their row label.
REFERENCE_KINDS = {"mean_pose": "training mean pose", "zero_pose": "zero pose"}
DID_NOT_LEARN_FRACTION = 0.9
#: The paper separates two cells when its values differ by at least this much (mm, or percentage points)
#: for the metrics of LOWER_IS_BETTER and HIGHER_IS_BETTER, or by PAPER_GAP_REL of the smaller value.
PAPER_GAP_ABS = 1.0
PAPER_GAP_REL = 0.02
#: A reproduced difference is resolved beyond this many standard errors of the difference.
RESOLVE_SE = 2.0
MARKS = {"did_not_learn": "†", "not_converged": "‡"}
FULL_SCALE_ONLY = "full scale only"


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def record_reference(rec: dict, kind: str, group: str | None = None) -> dict[str, float]:
    """The record's ``reference[kind]`` metrics (of action ``group`` when given: its ``per_action``
    entry, {} when the record has none)."""
    ref = (rec.get("reference") or {}).get(kind) or {}
    if not isinstance(ref, dict):
        return {}
    if group is not None:
        ref = (ref.get("per_action") or {}).get(group) or {}
    return {m: float(v) for m, v in ref.items() if is_num(v)}


def record_converged(rec: dict) -> bool | None:
    """``convergence.converged`` of a record (None: not judged, or a record without it)."""
    conv = rec.get("convergence")
    if not isinstance(conv, dict):
        return None
    c = conv.get("converged")
    return c if isinstance(c, bool) else None


def did_not_learn(metric: str, mean: float | None, mean_pose: float | None) -> bool:
    """Whether a cell's ``mean`` is no better than the mean-pose floor (see the module docstring)."""
    if mean is None or mean_pose is None:
        return False
    if metric in LOWER_IS_BETTER:
        return mean >= DID_NOT_LEARN_FRACTION * mean_pose
    if metric in HIGHER_IS_BETTER:
        return 100.0 - mean >= DID_NOT_LEARN_FRACTION * (100.0 - mean_pose)
    return False


def paper_separates(metric: str, a: float, b: float) -> bool:
    gap = abs(a - b)
    if metric in LOWER_IS_BETTER + HIGHER_IS_BETTER and gap >= PAPER_GAP_ABS:
        return True
    return gap > 0 and gap >= PAPER_GAP_REL * min(abs(a), abs(b))


@dataclass
class PairStats:
    """Resolved pairs of one metric of a table (see the module docstring)."""

    metric: str
    cells: int = 0  # cells in the comparison (paper value, n >= 2, learned)
    pairs: int = 0  # pairs of them the paper separates
    resolved: int = 0
    agree: int = 0
    disagree: int = 0
    unresolved: int = 0
    paper_ties: int = 0  # pairs the paper does not separate (not counted in pairs)
    excluded_did_not_learn: int = 0
    excluded_few_seeds: int = 0  # n < 2 (learned)

    @property
    def excluded(self) -> int:
        return self.excluded_did_not_learn + self.excluded_few_seeds

    def text(self) -> str:
        out = (f"{self.resolved} of {self.pairs} (agree {self.agree}, disagree {self.disagree}); "
               f"{self.unresolved} unresolved")
        if self.excluded:
            why = [w for n, w in ((self.excluded_did_not_learn, "did not learn"), (self.excluded_few_seeds, "n < 2"))
                   if n]
            if len(why) == 2:
                why = [f"{self.excluded_did_not_learn} did not learn", f"{self.excluded_few_seeds} n < 2"]
            out += f"; {self.excluded} cell{'s' if self.excluded != 1 else ''} excluded ({', '.join(why)})"
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "excluded": self.excluded}


def resolved_pairs(metric: str, cells: Iterable) -> PairStats:
    """:class:`PairStats` of ``metric`` over table cells (objects with ``metric``, ``mean``, ``se``,
    ``n``, ``reported`` and ``did_not_learn``)."""
    st = PairStats(metric)
    pool = []
    for c in cells:
        if c.metric != metric or c.mean is None or c.reported is None:
            continue
        if c.did_not_learn:
            st.excluded_did_not_learn += 1
        elif c.n < 2 or c.se is None:
            st.excluded_few_seeds += 1
        else:
            pool.append(c)
    st.cells = len(pool)
    for i, a in enumerate(pool):
        for b in pool[i + 1:]:
            if not paper_separates(metric, float(a.reported), float(b.reported)):
                st.paper_ties += 1
                continue
            st.pairs += 1
            diff = a.mean - b.mean
            if abs(diff) > RESOLVE_SE * math.sqrt(a.se ** 2 + b.se ** 2):
                st.resolved += 1
                if (diff > 0) == (a.reported - b.reported > 0):
                    st.agree += 1
                else:
                    st.disagree += 1
            else:
                st.unresolved += 1
    return st


def total(stats: Iterable[dict | PairStats]) -> dict:
    """Sum of pairs, resolved, agree, disagree, unresolved and excluded cells over PairStats (or their
    dicts, as a sidecar stores them)."""
    keys = ("pairs", "resolved", "agree", "disagree", "unresolved", "excluded")
    out = dict.fromkeys(keys, 0)
    for s in stats:
        d = s.to_dict() if isinstance(s, PairStats) else s
        for k in keys:
            out[k] += int(d.get(k) or 0)
    return out


def total_text(t: dict) -> str:
    """A sum of pair statistics in one phrase: "resolved 7 of 15 (agree 5, disagree 2)"."""
    return f"resolved {t['resolved']} of {t['pairs']} (agree {t['agree']}, disagree {t['disagree']})"
