"""Datasets: a common container, the VideoPose3D npz layout, loaders and the bundled stand-in."""
from bench.data.dataset import PoseDataset, Sequence
from bench.data.loaders import available_sources, list_datasets, load_dataset, resolve_source

__all__ = ["PoseDataset", "Sequence", "load_dataset", "list_datasets", "resolve_source", "available_sources"]
