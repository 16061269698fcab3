"""Building the bundled stand-in dataset from real motion capture (docs/data-sources.md).

``build_standin(out_dir=None, sources=None)`` runs the whole pipeline and writes
``bench/data/bundled/standin/`` (Human3.6M layout, loaded by ``bench.data.load_dataset('standin')``) and
``bench/data/bundled/standin_humaneva/`` (HumanEva-15 layout); ``verify_standin(folder)`` rebuilds into a
temporary folder and compares checksums (both in build.py). See build.py for the steps and PROVENANCE.md in
the output.
"""
