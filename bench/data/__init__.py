"""Datasets: a common container, the VideoPose3D npz layout, loaders and the bundled stand-in."""
from bench.data.dataset import PoseDataset, Sequence, list_datasets, load_dataset

__all__ = ["PoseDataset", "Sequence", "load_dataset", "list_datasets"]
