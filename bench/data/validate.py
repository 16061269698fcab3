"""Checks shared by the loaders and ``bench data check``: 3D units and the joint layout of a 2D file.

Both return (or raise) one line that names the file, and the subject, take and camera where there is
one, so that a loader and ``bench data check`` report the same problem with the same words.

**3D units.** Every loader expects metres. :func:`units_problem` takes the median bone length of a
3D sequence (over its bones, on at most :data:`UNIT_FRAMES` evenly spaced frames): human bones are
about 0.05-0.6 m, so in millimetres the median is in the hundreds and in centimetres in the tens.
A median above :data:`METRES_MAX_MEDIAN_BONE` (5: a generous bound, so that arbitrary-scale test
data still passes while a factor of 100 or 1000 never does) is reported as centimetres when below
:data:`CM_MAX_MEDIAN_BONE` (80) and as millimetres above it.

**2D joint layout.** :class:`Layout2D` decides the joint order of one 2D file once, for the whole file:

1. ``metadata['layout_name']`` when present (``h36m``, ``coco``, ``mpii``, ``humaneva15``, ... as in
   VideoPose3D's ``data/data_utils.py``; any name or alias of bench.data.layouts); ``num_joints``
   and ``keypoints_symmetry``, when present too, must agree with it;
2. else ``metadata['keypoints_symmetry']`` (with ``num_joints`` if present) identifies the layout
   whose left/right joints it lists: VideoPose3D's ``data_2d_h36m_gt.npz`` (17 joints, Human3.6M
   symmetry) and its Stacked Hourglass files ``sh_pt_mpii`` / ``sh_ft_h36m`` (16 joints, MPII
   symmetry [3,4,5,13,14,15] / [0,1,2,10,11,12], ``data/prepare_data_2d_h36m_sh.py``) carry no
   ``layout_name``;
3. else the loader's guess from the joint count (Human3.6M: 17 -> h36m17, 16 -> mpii16; HumanEva:
   15 -> humaneva15, 17 -> coco17), recorded in the dataset notes.

The arrays must then agree: the joint count that most arrays of the file have is the file's; a
file whose arrays contradict its metadata is one error (naming the first take that shows it), and a
take whose count differs from the rest of the file is one error naming file, subject, take, camera.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from bench.errors import DataError
from bench.skeleton import Skeleton

UNIT_FRAMES = 64
METRES_MAX_MEDIAN_BONE = 5.0
CM_MAX_MEDIAN_BONE = 80.0


def median_bone_length(positions: np.ndarray, parents) -> float:
    """Median over bones and (up to :data:`UNIT_FRAMES` evenly spaced) frames of the bone lengths of
    ``positions`` (F, J, 3); NaN when the skeleton has no bone or there are no frames."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or len(pos) == 0:
        return float("nan")
    if len(pos) > UNIT_FRAMES:
        pos = pos[np.linspace(0, len(pos) - 1, UNIT_FRAMES).round().astype(int)]
    child = [j for j, p in enumerate(parents) if p >= 0]
    if not child:
        return float("nan")
    par = [parents[j] for j in child]
    lengths = np.linalg.norm(pos[:, child] - pos[:, par], axis=-1)
    lengths = lengths[np.isfinite(lengths)]
    return float(np.median(lengths)) if lengths.size else float("nan")


def units_problem(positions: np.ndarray, parents, where: str) -> str | None:
    """One line if the 3D sequence ``positions`` does not look like metres (module docstring)."""
    m = median_bone_length(positions, parents)
    if not np.isfinite(m) or m <= METRES_MAX_MEDIAN_BONE:
        return None
    unit, factor = ("centimetres", 100) if m < CM_MAX_MEDIAN_BONE else ("millimetres", 1000)
    return (f"{where}: median bone length {m:.4g}, but human bones are 0.05-0.6 m: the 3D seems to be "
            f"in {unit}; the loaders expect metres: divide the positions by {factor} and save the file "
            f"again (VideoPose3D's prepare_data_h36m.py divides the mocap by 1000)")


def check_metres(positions: np.ndarray, parents, where: str) -> None:
    """Raise the :func:`units_problem` line as a DataError, if any."""
    problem = units_problem(positions, parents, where)
    if problem:
        raise DataError(problem)


# ---------------------------------------------------------------------------------------------
# 2D joint layout of one file.

def _known_layouts() -> dict[str, Skeleton]:
    from bench.data.layouts import ALL_LAYOUTS  # layouts import bench.skeleton only
    return ALL_LAYOUTS


def _symmetry(value) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    try:
        left, right = value
        return tuple(sorted(int(i) for i in left)), tuple(sorted(int(i) for i in right))
    except (TypeError, ValueError):
        return None


def _sym_of(layout: Skeleton) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(sorted(layout.joints_left)), tuple(sorted(layout.joints_right))


def _fmt_sym(sym) -> str:
    return f"{list(sym[0])} / {list(sym[1])}"


def joint_counts(pos2d, skip=lambda subject: False) -> Counter:
    """Counter of joint counts over every (F, J, 2) array of a ``positions_2d`` dict; the first key
    of each count (subject, take, camera) is kept in ``counter.first``."""
    counts: Counter = Counter()
    first: dict[int, tuple] = {}
    if isinstance(pos2d, dict):
        for subject, takes in sorted(pos2d.items(), key=lambda kv: str(kv[0])):
            if skip(subject) or not isinstance(takes, dict):
                continue
            for take, views in sorted(takes.items(), key=lambda kv: str(kv[0])):
                if not isinstance(views, (list, tuple)):
                    continue
                for c, arr in enumerate(views):
                    if isinstance(arr, np.ndarray) and arr.ndim == 3 and arr.shape[-1] == 2:
                        n = int(arr.shape[1])
                        counts[n] += 1
                        first.setdefault(n, (subject, take, c))
    counts.first = first  # type: ignore[attr-defined]
    return counts


class Layout2D:
    """The joint layout of one 2D file (module docstring). Construct it with the file's metadata and
    its ``positions_2d`` dict; call it with (joint count, where) for every array the loader reads.

    Args:
        f2d: the 2D file (for messages).
        meta: its ``metadata`` item (None or anything: only a dict is read).
        pos2d: its ``positions_2d`` dict (for the file's joint count).
        by_count: the loader's guess when the metadata names no layout (joint count -> layout).
        target: the loader's keypoint layout (a conversion from the file's layout must exist).
        expected: how the loader describes ``by_count`` in its error (e.g. "17 (H36M) or 16 (MPII order)").
        skip: subjects of ``pos2d`` the loader never reads (e.g. HumanEva's ``Unlabeled/...``).
    """

    def __init__(self, f2d: Path, meta, pos2d, by_count: dict[int, Skeleton], target: Skeleton,
                 expected: str, skip=lambda subject: False):
        self.f2d, self.by_count, self.target, self.expected = Path(f2d), by_count, target, expected
        self.counts = joint_counts(pos2d, skip)
        self.file_count = self.counts.most_common(1)[0][0] if self.counts else None
        self.meta = meta if isinstance(meta, dict) else {}
        self.meta_num: int | None = None  # metadata num_joints when it is the only layout hint
        self.declared, self.how = self._from_metadata()
        self.layout = self.declared

    # -- metadata ------------------------------------------------------------------------------
    def _from_metadata(self) -> tuple[Skeleton | None, str]:
        where = f"{self.f2d}:metadata"
        known = _known_layouts()
        name = self.meta.get("layout_name")
        num = self.meta.get("num_joints")
        sym_raw = self.meta.get("keypoints_symmetry")
        sym = _symmetry(sym_raw) if sym_raw is not None else None
        if num is not None:
            try:
                num = int(num)
            except (TypeError, ValueError):
                raise DataError(f"{where}: num_joints must be an integer, got {num!r}") from None
        if sym_raw is not None and sym is None:
            raise DataError(f"{where}: keypoints_symmetry must be [left joints, right joints], got {sym_raw!r}")
        if name not in (None, ""):
            from bench.data.layouts import resolve_layout
            from bench.errors import ConfigError
            try:
                layout = resolve_layout(str(name))
            except ConfigError:
                raise DataError(f"{where}: unknown layout_name {name!r}; known: {', '.join(known)} "
                                f"(aliases h36m, coco, mpii, humaneva, 3dhp)") from None
            if num is not None and num != layout.num_joints:
                raise DataError(f"{where}: layout_name {name!r} ({layout.name}, {layout.num_joints} joints) "
                                f"contradicts num_joints {num}; fix the metadata")
            if sym is not None and sym != _sym_of(layout):
                raise DataError(f"{where}: keypoints_symmetry {_fmt_sym(sym)} contradicts layout_name "
                                f"{name!r}, whose left / right joints are {_fmt_sym(_sym_of(layout))}; "
                                f"fix the metadata")
            self._check_convertible(layout, f"{where}['layout_name'] {name!r}")
            return layout, f"metadata (layout_name {name!r})"
        if sym is not None:
            matches = [lay for lay in known.values() if _sym_of(lay) == sym
                       and (num is None or lay.num_joints == num)]
            if not matches:
                counts = f" with {num} joints" if num is not None else ""
                raise DataError(f"{where}: keypoints_symmetry {_fmt_sym(sym)}{counts} matches no known "
                                f"layout ({', '.join(known)}); add metadata['layout_name']")
            layout = matches[0]
            self._check_convertible(layout, f"{where}['keypoints_symmetry']")
            return layout, "metadata (keypoints_symmetry" + (", num_joints)" if num is not None else ")")
        self.meta_num = num
        return None, ""

    def _check_convertible(self, layout: Skeleton, where: str) -> None:
        from bench.data.layouts import supported_conversions
        if layout.name != self.target.name and (layout.name, self.target.name) not in supported_conversions():
            raise DataError(f"{where}: 2D keypoints in {layout.name} order cannot be converted to the "
                            f"{self.target.name} joints this dataset uses")

    # -- the arrays ----------------------------------------------------------------------------
    def _key(self, n: int) -> str:
        subject, take, c = self.counts.first[n]
        return f"[{subject!r}][{take!r}][{c}]"

    def file_problem(self) -> str | None:
        """One line when the file's arrays as a whole contradict its metadata (then every array
        does; reported once, naming the first take)."""
        n = self.file_count
        if n is None:
            return None
        if self.declared is not None and n != self.declared.num_joints:
            return (f"{self.f2d}:positions_2d{self._key(n)}: 2D keypoints have {n} joints, as the rest of "
                    f"the file, but its {self.how} declares {self.declared.name} "
                    f"({self.declared.num_joints} joints); fix the metadata or the arrays")
        num = self.meta_num
        if self.declared is None and num is not None and n != num:
            return (f"{self.f2d}:positions_2d{self._key(n)}: 2D keypoints have {n} joints, as the rest of "
                    f"the file, but its metadata num_joints says {num}; fix the metadata or the arrays")
        return None

    def __call__(self, num_joints: int, where: str) -> Skeleton:
        """The layout for one array of ``num_joints`` joints at ``where``; raises one DataError line
        when the array contradicts the file."""
        n = int(num_joints)
        if self.declared is not None:
            if n != self.declared.num_joints:
                raise DataError(f"{where}: 2D keypoints have {n} joints, but the rest of {self.f2d.name} has "
                                f"{self.declared.num_joints} ({self.declared.name}, as its {self.how} "
                                f"declares); every take of a 2D file must use one joint layout")
            return self.declared
        num = self.meta_num
        if n not in self.by_count:
            raise DataError(f"{where}: 2D keypoints have {n} joints; expected {self.expected}")
        if num is not None and n != num:
            raise DataError(f"{where}: 2D keypoints have {n} joints, but {self.f2d.name}'s metadata "
                            f"num_joints says {num}")
        if self.file_count is not None and n != self.file_count:
            raise DataError(f"{where}: 2D keypoints have {n} joints, but the rest of {self.f2d.name} has "
                            f"{self.file_count} (e.g. {self._key(self.file_count)}); every take of a 2D file "
                            f"must use one joint layout")
        if self.layout is None:
            self.layout = self.by_count[n]
            self.how = f"its joint count ({n} -> {self.layout.name}; no layout metadata)"
        return self.layout

    def note(self) -> str | None:
        """The dataset note for a layout guessed from the joint count (None otherwise)."""
        if self.declared is None and self.layout is not None:
            return f"2D layout of {self.f2d.name} guessed from {self.how}"
        return None
