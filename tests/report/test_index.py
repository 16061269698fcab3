"""Statistics that survive the run that made them: each table's ``<stem>.stats.json``, the index and
results/README.md rebuilt from every table on disk (a sweep of one protocol must not drop the others),
and the rules of bench.report.stats (did not learn, paper separation, resolved pairs) by hand."""
import json
from types import SimpleNamespace

import pytest

from bench.report.index import load_summaries, write_index
from bench.report.readme import write_results_readme
from bench.report.render import write_table_files
from bench.report.stats import PairStats, did_not_learn, paper_separates, resolved_pairs
from bench.report.tables import Table, TableCell

LEGACY_MD = """## Old table written before sidecars

Protocol `{name}` · scale `quick` · 4 run records · reported: `pc.t9` (Table 9: old)

| Frames | MPJPE (P1, mm): reproduced | reported | Δ |
|---|---:|---:|---:|
| 27 | 60.0 ± 1.0 | 40.0 | +20.0 |

Kendall τ-b, reproduced means vs reported values over matched cells: MPJPE (P1, mm): τ = +0.33 (n = 3).
"""


def table(name, pairs=None, reported=True):
    cells = {((), (), "mpjpe"): TableCell((), (), "mpjpe", values=[50.0])}
    t = Table(name=name, stem=f"{name}.quick", title=f"Title of {name}", scale="quick", row_keys=[],
              column_keys=[], metrics=["mpjpe"], labels={}, rows=[()], column_groups=[()], cells=cells,
              n_records=3, pairs={"mpjpe": pairs} if pairs else {}, differs=f"{name} differs")
    if reported:
        t.reported_ref = f"{name.split('.')[0]}.t1"
    return t


A = PairStats("mpjpe", cells=3, pairs=3, resolved=2, agree=2, unresolved=1, excluded_did_not_learn=1)
B = PairStats("mpjpe", cells=4, pairs=4, resolved=1, disagree=1, unresolved=3)


@pytest.fixture
def results(tmp_path):
    """tables/ with two tables of paper pa, one without reported numbers (pb), a table written before
    sidecars (pc.old) and an old-style pa.one.md that pa.one.quick replaces; plots/ with one curve plot."""
    tables = tmp_path / "tables"
    tables.mkdir()
    for t in (table("pa.one", A), table("pa.two", B), table("pb.one", reported=False)):
        write_table_files(t, tables, ("md",))
    (tables / "pc.old.md").write_text(LEGACY_MD.format(name="pc.old"))
    (tables / "pa.one.md").write_text(LEGACY_MD.format(name="pa.one"))  # replaced by pa.one.quick
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "pa.one.quick.curves.png").write_bytes(b"png")
    return tmp_path


def test_sidecar_is_written_beside_each_table(results):
    stats = json.loads((results / "tables" / "pa.one.quick.stats.json").read_text())
    assert stats["pairs_total"] == {"pairs": 3, "resolved": 2, "agree": 2, "disagree": 0, "unresolved": 1,
                                    "excluded": 1}
    assert stats["pairs_summary"] == ("Resolved pairs, MPJPE (P1, mm): 2 of 3 (agree 2, disagree 0); 1 unresolved; "
                                      "1 cell excluded (did not learn).")
    assert [s["stem"] for s in load_summaries(results / "tables")] == ["pa.one.quick", "pa.two.quick",
                                                                       "pb.one.quick", "pc.old"]


def test_index_lists_every_table_on_disk_after_a_one_protocol_run(results):
    # A later run of one protocol rewrites its own table, then the index is rebuilt from the folder.
    write_table_files(table("pa.two", B), results / "tables", ("md",))
    text = write_index(results / "tables").read_text()
    for link in ("[pa.one](pa.one.quick.md)", "[pa.two](pa.two.quick.md)", "[pb.one](pb.one.quick.md)",
                 "[pc.old](pc.old.md)"):
        assert text.count(link) == 1, link
    assert "(pa.one.md)" not in text  # the old file of pa.one is replaced by its sidecar table
    # per paper: pa sums 2 of 3 and 1 of 4 -> 3 of 7, agree 2, disagree 1, 4 unresolved, 1 cell excluded
    assert "| pa | 2 | 3 of 7 | 2 | 1 | 4 | 1 |" in text
    assert "| **all** | 4 | 3 of 7 | 2 | 1 | 4 | 1 |" in text
    assert ("**Overall**: resolved 3 of 7 (agree 2, disagree 1); 4 unresolved; 1 cell excluded — over 2 of 4 "
            "tables (1 written before the statistics; 1 without reported numbers).") in text
    assert "| 1 of 4 (agree 0, disagree 1); 3 unresolved; 0 cells excluded |" in text
    assert "not computed (table written before the statistics)" in text and "no reported table" in text
    assert "τ = +0.33 (n = 3)" in text  # the old table's τ, read from its Markdown


def test_results_readme_from_disk(results):
    text = write_results_readme(results).read_text()
    assert "**Resolved pairs overall**: resolved 3 of 7 (agree 2, disagree 1)" in text
    assert "Resolved pairs, pa: resolved 3 of 7 (agree 2, disagree 1); 4 unresolved; 1 cell excluded — over 2 of " \
           "2 tables." in text
    (one,) = [ln for ln in text.splitlines() if ln.startswith("- [tables/pa.one.quick.md]")]
    assert "Resolved pairs, MPJPE (P1, mm): 2 of 3" in one and "*Differs from the paper:* pa.one differs" in one
    assert "- [tables/pc.old.md](tables/pc.old.md)" in text and "pb.one" in text
    assert "plots/pa.one.quick.curves.png" in text and "optimizer steps" in text


def test_did_not_learn_rules():
    assert did_not_learn("mpjpe", 90.0, 100.0) and not did_not_learn("mpjpe", 89.9, 100.0)
    assert not did_not_learn("mpjpe", 95.0, None) and not did_not_learn("params", 1e6, 1.0)
    # PCK (higher is better, %): shortfall from 100 at least 90 % of the mean pose's (2 %: 98 -> 88.2)
    assert did_not_learn("pck", 11.0, 2.0) and not did_not_learn("pck", 12.0, 2.0)


def test_paper_separation_and_pair_text():
    assert paper_separates("mpjpe", 40.0, 41.0)  # 1 mm
    assert paper_separates("mpjpe", 40.0, 40.9)  # 0.9 mm >= 2 % of 40
    assert not paper_separates("mpjpe", 60.0, 60.9)  # 0.9 mm < 1 mm and < 2 % of 60
    assert not paper_separates("ms_per_frame", 1.0, 1.01) and paper_separates("ms_per_frame", 1.0, 1.02)
    p = PairStats("mpjpe", pairs=2, resolved=1, agree=1, unresolved=1, excluded_did_not_learn=1,
                  excluded_few_seeds=2)
    assert p.text() == "1 of 2 (agree 1, disagree 0); 1 unresolved; 3 cells excluded (1 did not learn, 2 n < 2)"


def test_resolved_pairs_exclusions_and_disagreement():
    def cell(mean, se, n, reported, dnl=False):
        return SimpleNamespace(metric="mpjpe", mean=mean, se=se, n=n, reported=reported, did_not_learn=dnl)

    cells = [cell(50.0, 0.5, 3, 40.0), cell(45.0, 0.5, 3, 42.0),  # resolved (5 > 1.41), opposite sign
             cell(49.0, None, 1, 39.0), cell(95.0, 0.5, 3, 38.0, dnl=True), cell(None, None, 0, 37.0)]
    p = resolved_pairs("mpjpe", cells)
    assert (p.pairs, p.resolved, p.agree, p.disagree) == (1, 1, 0, 1)
    assert (p.excluded_few_seeds, p.excluded_did_not_learn) == (1, 1)
