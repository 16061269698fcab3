"""The dataset loaders by name (``--data NAME[:PATH]``): each loader module's function marked with
``@register_loader``, collected here; loading a dataset and resolving its 2D sources by name."""
from __future__ import annotations

from pathlib import Path

from bench.data.h36m import load_h36m
from bench.data.humaneva import load_humaneva
from bench.data.mpi3dhp import load_3dhp
from bench.data.standin import load_standin
from bench.data.dataset import PoseDataset, SourceTable
from bench.data.sources import available as sources_available
from bench.data.sources import resolve as resolve_sources
from bench.errors import ConfigError, DataError

_LOADERS = {fn.dataset_name: fn for fn in (load_standin, load_h36m, load_humaneva, load_3dhp)}


def list_datasets() -> dict[str, str]:
    return {name: fn.dataset_doc for name, fn in _LOADERS.items()}


def _split_spec(spec: str) -> tuple[str, str]:
    name, _, path = spec.partition(":")
    if name not in _LOADERS:
        raise ConfigError(f"unknown dataset {name!r}; known: {', '.join(sorted(_LOADERS))} "
                          f"(use NAME or NAME:PATH)")
    return name, path


def load_dataset(spec: str = "standin", source: str = "gt", **options) -> PoseDataset:
    """Load ``spec`` = ``NAME`` or ``NAME:PATH`` (e.g. ``h36m:/data/h36m``) with 2D ``source``: a raw
    source (the file suffix, e.g. ``cpn_ft_h36m_dbb``, the stand-in's ``det``) or a role (``gt``,
    ``cpn``, ``sh``, ``detectron``; bench.data.sources)."""
    name, path = _split_spec(spec)
    return _LOADERS[name](path or None, source=source, **options)


def _source_folder(spec: str) -> tuple[SourceTable, Path]:
    name, path = _split_spec(spec)
    table = _LOADERS[name].dataset_sources
    if table is None:
        raise ConfigError(f"dataset {name!r} declares no 2D source files")
    folder = Path(path) if path else (table.default_folder() if table.default_folder else None)
    if folder is None:
        raise DataError(table.needs_path or f"the {name} loader needs a folder: --data {name}:/path")
    if not folder.is_dir():
        raise DataError(f"data folder not found: {folder}")
    return table, folder


def resolve_source(spec: str, source: str):
    """What 2D ``source`` (a role or a raw source) reads for dataset ``spec`` (``NAME[:PATH]``):
    a :class:`bench.data.sources.ResolvedSource` ``(role, source, file_2d, file_3d)``. A source the
    folder does not have is one DataError line listing the roles and raw sources it has."""
    table, folder = _source_folder(spec)
    return resolve_sources(folder, table.tag, source, table.roles)


def available_sources(spec: str) -> dict[str, str]:
    """Every 2D source name dataset ``spec`` accepts -> the raw source (file suffix) it reads:
    the roles the folder has (e.g. ``{'gt': 'gt', 'cpn': 'cpn_ft_h36m_dbb', ...}``), then its raw
    sources."""
    table, folder = _source_folder(spec)
    return sources_available(folder, table.tag, table.roles)

