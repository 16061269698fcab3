"""Reporting: the papers' numbers (``published``), the table model (``tables``), building a table from a
plan and run records (``builder``, with ``footnotes``; reference floors, marks and resolved pairs in
``stats``), its Markdown / LaTeX / CSV files (``render``), its statistics sidecar and the index of every
table on disk (``index``), which files and plots a table gets (``outputs``, drawing with ``plots``) and
results/README.md (``readme``)."""
