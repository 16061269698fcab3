"""Imports every loader module so that its ``@register_loader`` runs."""
from bench.data import h36m, humaneva, mpi3dhp, standin  # noqa: F401
