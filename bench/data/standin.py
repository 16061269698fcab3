"""The bundled stand-in dataset (default): real motion capture retargeted onto 7 bodies, seen through
the 4 Human3.6M cameras, stored in the VideoPose3D layout. How it is built: bench.data.standin_build
and bench/data/bundled/standin/PROVENANCE.md.

2D sources: the raw ``gt`` and ``det`` files, and the roles ``gt`` -> ``gt`` and ``cpn`` -> ``det``
(its documented detector-noise model stands in for a fine-tuned detector; bench.data.sources).
"""
from __future__ import annotations

from pathlib import Path

from bench.camera import h36m_cameras
from bench.data.dataset import PoseDataset, SourceTable, register_loader
from bench.data.h36m import H36M_TEST, H36M_TRAIN, build_vp3d_dataset
from bench.data.sources import STANDIN_ROLES

BUNDLED = Path(__file__).resolve().parent / "bundled" / "standin"
SOURCES = ("gt", "det")


@register_loader("standin", "bundled stand-in: real mocap (CMU, boxing, climbing, DeepMimic, fencing) "
                            "retargeted to 7 bodies, H36M cameras and split; 2D sources gt and det "
                            "(roles gt, cpn = det)",
                 sources=SourceTable("standin", STANDIN_ROLES, lambda: BUNDLED))
def load_standin(path: str | None, source: str = "gt",
                 validation_subjects: tuple[str, ...] = ()) -> PoseDataset:
    folder = Path(path) if path else BUNDLED
    cams = {s: h36m_cameras(s) for s in H36M_TRAIN + H36M_TEST}
    return build_vp3d_dataset("standin", folder, "standin", source, cams, H36M_TRAIN, H36M_TEST,
                              list(validation_subjects), fps=50.0, roles=STANDIN_ROLES)
