"""2D sources by role: which ``data_2d_<tag>_<source>.npz`` file a source name reads.

A *raw source* is the file suffix itself (VideoPose3D's ``-k`` names: ``gt``, ``cpn_ft_h36m_dbb``,
``sh_pt_mpii``, ...; the stand-in's ``det``). A *role* names what the papers' tables call the 2D input,
so that one protocol can run on the bundled stand-in and on the real data:

=============  ==========================================  ==========================  ===================
role           real Human3.6M (``h36m``)                   stand-in (``standin``)      HumanEva (``humaneva``)
=============  ==========================================  ==========================  ===================
``gt``         ``gt``                                      ``gt``                      ``gt``
``cpn``        ``cpn_ft_h36m_dbb``                         ``det``                     --
``sh``         ``sh_ft_h36m``, else ``sh_pt_mpii``         ``det``                     --
``detectron``  ``detectron_ft_h36m``, else                 ``det``                     ``detectron_pt_coco``,
               ``detectron_pt_coco``                                                   else ``det``
=============  ==========================================  ==========================  ===================

(``3dhp``: ``gt`` only.) Why these files:

* VideoPose3D's DATASETS.md lists the Human3.6M sources it supports: ``gt``, ``sh_pt_mpii``,
  ``sh_ft_h36m``, ``detectron_ft_h36m`` and ``cpn_ft_h36m_dbb``; for HumanEva ``gt`` and
  ``detectron_pt_coco``. ``detectron_pt_coco`` for Human3.6M is only a name its generic converter
  (``data/tools/prepare_data_2d_h36m_generic.py``) can produce, hence second choice.
* ``sh``: the seed papers' "SH" rows are Stacked Hourglass fine-tuned on Human3.6M (GAST-Net Table 2
  "SH Fine-tuned"; Martinez et al., SemGCN and Hossain & Little as quoted, "SH FT"), so
  ``sh_ft_h36m`` comes first; a folder with only the pre-trained detections (``sh_pt_mpii``, shipped
  in Martinez et al.'s archive with the dataset) gets those, and the dataset notes (kept in every
  run record) say which file was read. Use the raw names to choose one exactly (the attention TCN's
  Table 9 compares both).
* ``cpn`` on the stand-in reads its ``det`` source: its documented detector-noise model
  (bench/data/standin_build/detector_noise.py) stands in for a fine-tuned detector, the papers'
  CPN. ``det`` stays a raw source of the stand-in, so existing experiments read the same file. The
  stand-in has one detector model, so ``sh`` and ``detectron`` read it too (every protocol runs on
  the default data; the dataset note in each record and table says which file a role read): a table
  that contrasts two detectors separates them only on real data.

Resolution (:func:`resolve`): a name that is a file in the folder is read as is (``gt``, ``det``,
``cpn_ft_h36m_dbb``); else a role reads its first candidate present. Anything else is one DataError
line listing the roles and raw sources the folder has.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, NamedTuple

from bench.errors import DataError

ROLES = ("gt", "cpn", "sh", "detectron")

H36M_ROLES = {"gt": ("gt",), "cpn": ("cpn_ft_h36m_dbb",), "sh": ("sh_ft_h36m", "sh_pt_mpii"),
              "detectron": ("detectron_ft_h36m", "detectron_pt_coco")}
STANDIN_ROLES = {"gt": ("gt",), "cpn": ("det",), "sh": ("det",), "detectron": ("det",)}
HUMANEVA_ROLES = {"gt": ("gt",), "detectron": ("detectron_pt_coco", "det")}
MPI3DHP_ROLES = {"gt": ("gt",)}

# What each raw source is, for the dataset notes.
DESCRIPTIONS = {
    "cpn_ft_h36m_dbb": "CPN fine-tuned on Human3.6M, Detectron boxes",
    "sh_ft_h36m": "Stacked Hourglass fine-tuned on Human3.6M",
    "sh_pt_mpii": "Stacked Hourglass pre-trained on MPII",
    "detectron_ft_h36m": "Detectron (Mask R-CNN) fine-tuned on Human3.6M",
    "detectron_pt_coco": "Detectron (Mask R-CNN) pre-trained on COCO",
    "det": "the stand-in's detector-noise model",
}


class ResolvedSource(NamedTuple):
    """What a 2D source name reads: ``role`` (None for a raw source that plays no role), the raw
    ``source`` (file suffix), the 2D file and the 3D file of the folder."""

    role: str | None
    source: str
    file_2d: Path
    file_3d: Path
    preferred: str = ""  # the role's first choice, when this folder lacks it and a later one was read

    def note(self, asked: str) -> str | None:
        """A dataset note when ``asked`` is a role that reads a differently named file."""
        if self.role is None or asked == self.source:
            return None
        what = DESCRIPTIONS.get(self.source)
        note = f"2D source role {asked!r} read {self.file_2d.name}" + (f" ({what})" if what else "")
        if self.preferred:
            note += (f"; the role's first choice, data_2d_*_{self.preferred}.npz "
                     f"({DESCRIPTIONS.get(self.preferred, self.preferred)}), is not in the folder")
        return note


def raw_sources(folder: Path, tag: str) -> list[str]:
    """The raw sources present in ``folder`` (suffixes of ``data_2d_<tag>_*.npz``), sorted."""
    prefix = f"data_2d_{tag}_"
    return sorted(p.name[len(prefix):-len(".npz")] for p in Path(folder).glob(f"{prefix}*.npz"))


def role_of(source: str, roles: Mapping[str, tuple[str, ...]]) -> str | None:
    """The role a raw source plays (None if none)."""
    if source in roles:
        return source
    for role, candidates in roles.items():
        if source in candidates:
            return role
    return None


def available(folder: Path, tag: str, roles: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Every name ``folder`` accepts as a 2D source -> the raw source it reads: roles first (in
    :data:`ROLES` order), then the raw sources."""
    present = raw_sources(folder, tag)
    out = {}
    for role in [r for r in ROLES if r in roles] + [r for r in roles if r not in ROLES]:
        if role in present:
            out[role] = role
            continue
        hit = next((c for c in roles[role] if c in present), None)
        if hit is not None:
            out[role] = hit
    for s in present:
        out.setdefault(s, s)
    return out


def _listing(folder: Path, tag: str, roles: Mapping[str, tuple[str, ...]]) -> str:
    names = available(folder, tag, roles)
    present = raw_sources(folder, tag)
    role_part = ", ".join(f"{r} -> {s}" if r != s else r for r, s in names.items() if r in roles) or "none"
    return f"roles here: {role_part}; raw sources here: {', '.join(present) or 'none'}"


def resolve(folder: Path, tag: str, source: str, roles: Mapping[str, tuple[str, ...]]) -> ResolvedSource:
    """The files ``source`` (a raw source or a role) reads in ``folder`` (module docstring)."""
    folder = Path(folder)
    source = str(source)
    f3d = folder / f"data_3d_{tag}.npz"
    f2d = folder / f"data_2d_{tag}_{source}.npz"
    if f2d.is_file():
        return ResolvedSource(role_of(source, roles), source, f2d, f3d)
    if source in roles:
        for i, cand in enumerate(roles[source]):
            path = folder / f"data_2d_{tag}_{cand}.npz"
            if path.is_file():
                return ResolvedSource(source, cand, path, f3d, roles[source][0] if i else "")
    found = sorted(p.name for p in folder.glob(f"data_2d_{tag}_*.npz"))
    as_role = ""
    if source in roles:
        files = " or ".join(f"data_2d_{tag}_{c}.npz" for c in roles[source])
        as_role = f"; as a role, {source!r} reads {files}, also missing"
    elif source in ROLES:
        as_role = f"; the role {source!r} has no file for this dataset"
    raise DataError(f"2D source {source!r} not found: {f2d} is missing"
                    + (f" (available: {', '.join(found)})" if found else "")
                    + f"{as_role}; {_listing(folder, tag, roles)}")
