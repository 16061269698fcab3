"""Reporting: the papers' numbers (``published``), the table model (``tables``), building a table from a
plan and run records (``builder``, with ``footnotes``), its Markdown / LaTeX / CSV files (``render``), which
files and plots a table gets (``outputs``, drawing with ``plots``) and results/README.md (``readme``)."""
