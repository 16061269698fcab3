"""Where the harness writes: one results root, resolved once per command.

:func:`results_root` is, in order of precedence:

1. the ``--results DIR`` option of the command (``bench train / ablate / table``), when given;
2. the environment variable ``BENCH_RESULTS``, when set and not empty;
3. ``<repository root>/results`` when the package runs from a source checkout (an editable install or
   ``PYTHONPATH``; the checkout is recognised by ``pyproject.toml`` and ``protocols/`` beside the package);
4. ``./results`` otherwise (an installed wheel).

The result is absolute: a relative option or variable is taken against the working directory at the
moment the root is resolved, so a command resolves it once (``bench.cli.main``) and passes it down, and
processes it starts (``bench train --ddp``) are handed the same folder. Under the root::

    runs/<protocol or adhoc>/<scale>/<id>.json   run records        tb/           TensorBoard events
    checkpoints/<model>.pt                       bench train        tables/, plots/, README.md   tables

The committed reference inputs, ``results/golden/`` (``bench check``) and ``results/reported/`` (the
published numbers), are part of the source tree like ``protocols/``: :func:`reference_dir` reads them
from the checkout whatever the results root is, so pointing the outputs elsewhere never hides a golden
entry or a published table.
"""
from __future__ import annotations

import os
from pathlib import Path

#: The environment variable that moves the results root (below the --results option).
ENV_VAR = "BENCH_RESULTS"

#: The folder that holds the ``bench`` package: the repository root in a checkout.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def checkout_root() -> Path | None:
    """The repository root when the package is imported from a source checkout, else None."""
    if (PACKAGE_PARENT / "pyproject.toml").is_file() and (PACKAGE_PARENT / "protocols").is_dir():
        return PACKAGE_PARENT
    return None


def results_root(option: str | os.PathLike | None = None) -> Path:
    """The results root (absolute): ``option`` (the --results value) > ``$BENCH_RESULTS`` > the
    checkout's ``results/`` > ``./results``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if option not in (None, ""):
        root = Path(option)
    elif env:
        root = Path(env)
    else:
        checkout = checkout_root()
        root = checkout / "results" if checkout is not None else Path("results")
    return Path(os.path.abspath(root.expanduser()))


def reference_dir(name: str) -> Path:
    """A committed reference folder of the source tree, ``results/<name>`` (``golden``, ``reported``):
    inputs, not outputs, so the results root does not move them."""
    return PACKAGE_PARENT / "results" / name
