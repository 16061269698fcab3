"""Protocol files: a paper table as a sweep (design.md, "Protocol file").

A protocol YAML lives at ``protocols/<paper>/<name>.yaml`` and is addressed as ``<paper>.<name>``.
Fields (every key is checked; a typo is an error naming the file and the key):

``title``, ``description``
``paper``, ``table``    the reported table it reproduces: results/reported/<paper>.yaml, key <table>
``also_reported``       further reported tables (``<paper>.<table>``) whose cells join the first one's
                        (models.size_vs_error: attention-TCN Table 1 and DG-Net Fig. 4 in one plot)
``base``                a partial experiment (see bench.config); omitted fields take defaults
``grid``                dotted key -> list of values; the Cartesian product gives the cells
``cells``               alternatively, an explicit list of override dicts (may be combined with grid; a
                        cell's ``label: TEXT`` names it in the table's ``label`` column, see CELL_LABEL);
                        ``data.actions`` / ``data.train_actions: each_action_group`` in the grid gives one
                        cell per action group of the dataset the cells read (a scale's grid may keep a
                        list of them, or N: the N with the most training frames)
``extra_cells``         override dicts run besides the grid, not crossed with it (a baseline the grid's
                        keys do not apply to, e.g. "no motion loss" beside operator x interval)
``eval_variants``       dotted eval key -> list of values, all evaluated on each trained model
``seeds``               number of seeds (seed values 0..n-1)
``layout``              rows / columns (dotted keys, or ``action``: one row per test action group plus
                        ``Average``; ``actions: [Average]`` keeps only the listed groups) and metrics of
                        the generated table
``scales``              smoke / quick / full / paper: overrides applied before the grid (budgets only); a
                        scale's ``grid`` keeps a subset of a grid key's values at that scale, its
                        ``only`` (a list of selectors: mappings of dotted key -> value) keeps the cells
                        that match one selector (the others show "full scale only" in its table).
                        A scale's ``per_model`` (model name -> dotted keys) applies to the cells of
                        that model only (a protocol comparing models trains each at its own width,
                        batch and step budget). ``full`` = every cell at quick's recipe (``scales.full`` overrides it), 3 seeds
                        unless it says otherwise; ``paper`` = the paper's own recipe
``footnotes``           ways this protocol always differs from the paper
"""
from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.errors import ConfigError
from bench.filecheck import check_keys
from bench.yamlio import load as load_yaml

PROTOCOLS_DIR = Path(__file__).resolve().parent.parent / "protocols"
SCALES = ("smoke", "quick", "full", "paper")
_TOP_KEYS = {"title", "description", "paper", "table", "also_reported", "base", "grid", "cells", "extra_cells",
             "eval_variants", "seeds", "layout", "scales", "footnotes"}
_LAYOUT_KEYS = {"rows", "columns", "metrics", "labels", "plot", "actions"}
_SCALE_META_KEYS = ("seeds", "grid", "only", "per_model")  # scale keys that are not config overrides
#: Seeds of the full scale when neither scales.full nor scales.quick names them (issue 19: >= 3 per cell).
FULL_SEEDS = 3


@dataclass
class Protocol:
    """A parsed protocol file. ``layout`` = {rows: [dotted keys], columns: [dotted keys],
    metrics: [metric names], labels: {dotted key: header}, plot: {...}}."""

    name: str
    title: str
    paper: str | None = None
    table: str | None = None
    description: str = ""
    base: dict = field(default_factory=dict)
    grid: dict[str, list] = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)
    extra_cells: list[dict] = field(default_factory=list)
    eval_variants: dict[str, list] = field(default_factory=dict)
    seeds: int = 1
    layout: dict = field(default_factory=dict)
    scales: dict[str, dict] = field(default_factory=dict)
    footnotes: list[str] = field(default_factory=list)
    also_reported: list[str] = field(default_factory=list)
    path: str = ""

    def cell_overrides(self, scale: str | None = None, expanded: dict | None = None) -> list[dict[str, Any]]:
        """The list of cells: explicit ``cells`` x Cartesian product of ``grid`` (at ``scale``, a
        ``grid`` entry of that scale keeps only the listed values of those keys), then ``extra_cells``.
        ``expanded``: the values of grid keys that come from the data (``each_action_group``, filled in
        by the planner from the dataset); a scale's grid entry for such a key is the list it keeps."""
        grid = dict(self.grid)
        settings = self.scale_settings(scale) if scale else {}
        if scale:
            grid.update(settings.get("grid") or {})
        grid.update(expanded or {})  # the planner already applied the scale's choice to these
        for k, v in grid.items():
            if not isinstance(v, list):
                raise ConfigError(f"{self.path or self.name}: grid.{k} = {v!r} takes its values from the dataset; "
                                  f"plan the protocol (bench ablate) to expand it")
        keys = list(grid)
        product = [dict(zip(keys, values)) for values in itertools.product(*grid.values())]
        explicit = self.cells or [{}]
        cells = [{**c, **g} for c in explicit for g in product] + [dict(c) for c in self.extra_cells]
        only = settings.get("only")
        if only is not None:
            cells = [c for c in cells if any(selected_by(c, sel) for sel in only)]
        return cells

    def scale_settings(self, scale: str) -> dict[str, Any]:
        """The raw ``scales.<scale>`` mapping. ``full`` without its own entry inherits quick's budgets
        (not its ``grid`` or ``only``: full runs every cell) and runs FULL_SEEDS seeds; a ``scales.full``
        entry is applied over that."""
        if scale != "full":
            return self.scales.get(scale) or {}
        quick = {k: v for k, v in (self.scales.get("quick") or {}).items() if k not in ("grid", "only")}
        quick.setdefault("seeds", FULL_SEEDS)
        quick["seeds"] = max(quick["seeds"], FULL_SEEDS)
        return {**quick, **(self.scales.get("full") or {})}

    def scale_config(self, scale: str) -> dict[str, Any]:
        """The config overrides of ``scale`` (its dotted keys, without ``seeds`` and ``grid``)."""
        return {k: v for k, v in self.scale_settings(scale).items() if k not in _SCALE_META_KEYS}

    def scale_seeds(self, scale: str) -> int:
        """Seeds at ``scale``: the scale's ``seeds``, else the protocol's."""
        n = self.scale_settings(scale).get("seeds", self.seeds)
        return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1

    def variant_overrides(self) -> list[dict[str, Any]]:
        keys = list(self.eval_variants)
        return [dict(zip(keys, v)) for v in itertools.product(*self.eval_variants.values())]

    @property
    def reported_ref(self) -> str | None:
        return f"{self.paper}.{self.table}" if self.paper and self.table else None


#: A cell's ``label`` (a string) names it in the table (layout key ``label``) without being part of its
#: experiment: cells that differ in ways no single config key shows (quick and paper width of models whose
#: width options have different names) get a row each.
CELL_LABEL = "label"


def selected_by(cell: dict[str, Any], selector: dict[str, Any]) -> bool:
    """A cell matches a scale's ``only`` selector when every key of the selector has that value in the cell
    (a key the cell does not set never matches); the empty selector ``{}`` is the base cell (no overrides)."""
    if not selector:
        return not config_part(cell)
    return all(k in cell and cell[k] == v for k, v in selector.items())


def config_part(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell's config overrides: the cell without its ``label``."""
    return {k: v for k, v in cell.items() if k != CELL_LABEL}


def protocol_path(name: str, root: Path = PROTOCOLS_DIR) -> Path:
    paper, dot, rest = name.partition(".")
    if not dot or not rest:
        raise ConfigError(f"protocol names look like PAPER.NAME (e.g. dgnet.k), got {name!r}")
    return root / paper / f"{rest}.yaml"


def list_protocols(root: Path = PROTOCOLS_DIR) -> list[str]:
    return sorted(f"{p.parent.name}.{p.stem}" for p in root.glob("*/*.yaml"))


def load_protocol(name: str, root: Path = PROTOCOLS_DIR) -> Protocol:
    """Read and validate ``protocols/<paper>/<name>.yaml``."""
    path = protocol_path(name, root)
    if not path.is_file():
        known = list_protocols(root)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ConfigError(f"unknown protocol {name!r} (no {path}); {hint}known: {', '.join(known) or 'none'}")
    try:
        raw = load_yaml(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return parse_protocol(raw, name, str(path))


def parse_protocol(raw: dict, name: str, where: str) -> Protocol:
    from bench.config import validate_partial  # late import: config imports nothing from here

    check_keys(raw, _TOP_KEYS, where, required=("title",))
    base = raw.get("base") or {}
    validate_partial(base, f"{where}: base")
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: grid must map dotted keys to lists")
    for k, v in grid.items():
        if v == "each_action_group" and k in ("data.actions", "data.train_actions"):
            continue  # one cell per action group of the dataset, expanded by the planner
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}: grid.{k} must be a non-empty list (or each_action_group for "
                              f"data.actions / data.train_actions)")
        validate_partial({k: v[0]}, f"{where}: grid")
    cells = raw.get("cells") or []
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise ConfigError(f"{where}: cells must be a list of mappings")
    for i, c in enumerate(cells):
        if CELL_LABEL in c and not (isinstance(c[CELL_LABEL], str) and c[CELL_LABEL]):
            raise ConfigError(f"{where}: cells[{i}].{CELL_LABEL} must be a non-empty string")
        validate_partial(config_part(c), f"{where}: cells[{i}]")
    extra = raw.get("extra_cells") or []
    if not isinstance(extra, list) or not all(isinstance(c, dict) and c for c in extra):
        raise ConfigError(f"{where}: extra_cells must be a list of non-empty mappings")
    for i, c in enumerate(extra):
        validate_partial(c, f"{where}: extra_cells[{i}]")
    variants = raw.get("eval_variants") or {}
    for k, v in variants.items():
        if not k.startswith("eval."):
            raise ConfigError(f"{where}: eval_variants key {k!r} must start with 'eval.'")
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}: eval_variants.{k} must be a non-empty list")
        validate_partial({k: v[0]}, f"{where}: eval_variants")
    seeds = raw.get("seeds", 1)
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"{where}: seeds must be a positive integer, got {seeds!r}")
    layout = raw.get("layout") or {}
    check_keys(layout, _LAYOUT_KEYS, f"{where}: layout")
    actions = layout.get("actions")
    if actions is not None and not (isinstance(actions, list) and actions and all(isinstance(a, str) for a in actions)
                                    and "action" in (layout.get("rows") or []) + (layout.get("columns") or [])):
        raise ConfigError(f"{where}: layout.actions must be a non-empty list of action groups (e.g. [Average]) "
                          f"and needs the key 'action' in layout.rows or layout.columns")
    scatter = (layout.get("plot") or {}).get("scatter") if isinstance(layout.get("plot"), dict) else None
    if scatter is not None and not (isinstance(scatter, list) and len(scatter) == 2
                                    and all(m in (layout.get("metrics") or []) for m in scatter)):
        raise ConfigError(f"{where}: layout.plot.scatter must be [x metric, y metric], both in layout.metrics")
    scales = raw.get("scales") or {}
    check_keys(scales, set(SCALES), f"{where}: scales")
    for s, ov in scales.items():
        ov = ov or {}
        if not isinstance(ov, dict):
            raise ConfigError(f"{where}: scales.{s} must be a mapping of dotted keys")
        rest = {k: v for k, v in ov.items() if k not in _SCALE_META_KEYS}
        validate_partial(rest, f"{where}: scales.{s}")
        scale_grid = ov.get("grid") or {}
        if not isinstance(scale_grid, dict):
            raise ConfigError(f"{where}: scales.{s}.grid must map grid keys to lists of values")
        for k, vals in scale_grid.items():
            # a scale only shrinks: it may keep a subset of a grid key's values, never add one (a grid key
            # whose values come from the dataset is checked against the dataset by the planner)
            if grid.get(k) == "each_action_group" and ((isinstance(vals, list) and vals) or (
                    isinstance(vals, int) and not isinstance(vals, bool) and vals >= 1)):
                continue  # a list of action groups, or N: the dataset's N groups with the most training frames
            if k not in grid or not isinstance(vals, list) or not vals or any(v not in grid[k] for v in vals):
                raise ConfigError(f"{where}: scales.{s}.grid.{k} must be a non-empty subset of grid.{k}")
        only = ov.get("only")
        if only is not None:
            if not (isinstance(only, list) and all(isinstance(x, dict) for x in only)):
                raise ConfigError(f"{where}: scales.{s}.only must be a list of cell selectors (mappings of "
                                  f"dotted key -> value; {{}} = the base cell; [] = no cell at this scale)")
            every = Protocol(name=name, title="", grid={k: v for k, v in grid.items() if isinstance(v, list)},
                             cells=cells, extra_cells=extra).cell_overrides()
            for i, sel in enumerate(only):
                if not any(selected_by(c, sel) for c in every):
                    raise ConfigError(f"{where}: scales.{s}.only[{i}] = {sel} matches no cell of the protocol")
        per_model = ov.get("per_model") or {}
        if not isinstance(per_model, dict) or not all(isinstance(v, dict) for v in per_model.values()):
            raise ConfigError(f"{where}: scales.{s}.per_model must map model names to mappings of dotted keys")
        for m, keys in per_model.items():
            validate_partial(keys, f"{where}: scales.{s}.per_model.{m}")
            if "model.name" in keys:
                raise ConfigError(f"{where}: scales.{s}.per_model.{m} may not set model.name")
        scales[s] = ov
    footnotes = raw.get("footnotes") or []
    also = raw.get("also_reported") or []
    if not isinstance(also, list) or not all(isinstance(r, str) and r.count(".") == 1 for r in also):
        raise ConfigError(f"{where}: also_reported must be a list of PAPER.TABLE names, got {also!r}")
    if also and not (raw.get("paper") and raw.get("table")):
        raise ConfigError(f"{where}: also_reported needs paper and table (the first reported table)")
    return Protocol(name=name, title=str(raw["title"]), paper=raw.get("paper"), table=raw.get("table"),
                    also_reported=also, description=str(raw.get("description", "")).strip(), base=base, grid=grid,
                    cells=cells, extra_cells=extra, eval_variants=variants, seeds=seeds, layout=layout, scales=scales,
                    footnotes=[str(f) for f in footnotes], path=where)
