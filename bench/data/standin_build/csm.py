"""Vicon CSM optical-marker files and joint-centre estimation from markers.

Used for ``CSM/ThomasFechten.csm`` of Debian ``assimp-testmodels`` (fencing, 120 Hz, 43 markers in
millimetres, Z up; docs/data-sources.md section 1). A CSM file lists marker names after ``$Order`` and
one row per frame after ``$Points``: the frame number then x y z per marker, or the single word
``DROPOUT`` for a marker that was not seen.

Missing markers are filled by linear interpolation in time between the nearest seen frames (held
constant before the first / after the last seen frame); a marker never seen is an error.

Joint centres are *estimates* (no subject calibration exists for this file), each with its expected
error:

* hip centres: Harrington et al. (2007) regression from pelvis width PW and depth PD, applied to the
  front/back waist markers (LFWT/RFWT, LBWT/RBWT) as if they were the ASIS/PSIS; origin at the
  front-waist midpoint, offsets -0.24 PD - 9.9 mm (backwards), -0.30 PW - 10.9 mm (down),
  +-(0.33 PW + 7.3) mm (sideways). Waist markers sit wider than the ASIS, so expect 2-3 cm error;
* knee, ankle and elbow centres: the lateral marker (KNE, ANK, ELB) moved medially by half a typical
  joint width plus the marker radius (knee 55 mm, ankle 40 mm, elbow 40 mm) along the segment's
  medio-lateral axis, that axis being the part of (wand marker THI / SHN / UPA minus the proximal
  joint centre) perpendicular to the segment; the wand markers sit on the lateral side, so this
  follows axial rotation of the segment (Plug-in-Gait's chord idea, without its calibration):
  about 1-2 cm error;
* ankle markers: ``RANK`` drifts away from the foot for roughly the first half of the take (its
  distance to RKNE wanders between 0.21 and 0.52 m while RKNE-RHEL stays constant), so each ANK
  marker is checked against a rigid foot cluster (HEL, TOE, MT5): its position in the cluster's frame
  is calibrated as a trimmed median, and where the marker departs from the cluster prediction by more
  than 20-40 mm it is blended (weight ramping over that range, smoothed over +-5 frames) into the
  prediction (a rigid-body gap fill; the ankle rotates against the foot, so about 1.5 cm error);
* wrist centre: the midpoint of the two wrist-bar markers WRA/WRB (about 1 cm);
* shoulder centre: the acromion marker SHO moved 45 mm down along the thorax axis (about 2 cm);
* trunk midline: midpoint of the two hip centres, then mid(T10, STRN), then mid(C7, CLAV);
* head: centre = mean of the four head markers LFHD RFHD LBHD RBHD; forward axis = front minus back
  markers, left axis = left minus right markers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from bench.errors import DataError

MM = 0.001


def parse_csm_text(text: str, where: str = "<csm>") -> tuple[list[str], np.ndarray, float]:
    """Parse a CSM file: (marker names, (F, M, 3) positions in file units with NaN for DROPOUT, rate Hz)."""
    lines = text.splitlines()
    names: list[str] | None = None
    rate = None
    start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("$Rate"):
            rate = float(s.split()[1])
        elif s == "$Order":
            names = lines[i + 1].split()
        elif s == "$Points":
            start = i + 1
            break
    if names is None or start is None or rate is None:
        raise DataError(f"{where}: not a CSM file (needs $Rate, $Order and $Points sections)")
    rows = []
    for k, line in enumerate(lines[start:], start=start + 1):
        toks = line.split()
        if not toks:
            continue
        vals = []
        for t in toks[1:]:
            if t.upper() == "DROPOUT":
                vals += [np.nan, np.nan, np.nan]
            else:
                try:
                    vals.append(float(t))
                except ValueError:
                    raise DataError(f"{where}:{k}: bad value {t!r}") from None
        if len(vals) != 3 * len(names):
            raise DataError(f"{where}:{k}: {len(vals) // 3} markers, expected {len(names)}")
        rows.append(vals)
    if not rows:
        raise DataError(f"{where}: no frames after $Points")
    return names, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names), 3), rate


def load_csm(path: str | Path) -> tuple[list[str], np.ndarray, float]:
    """Read a CSM file; see :func:`parse_csm_text`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as e:
        raise DataError(f"cannot read CSM file {path}: {e}") from None
    return parse_csm_text(text, str(path))


def fill_dropouts(markers: np.ndarray, names: list[str] | None = None) -> tuple[np.ndarray, int]:
    """Linear interpolation over time of NaN (DROPOUT) samples; returns (filled copy, samples filled)."""
    assert markers.ndim == 3 and markers.shape[2] == 3, f"expected (F, M, 3), got {markers.shape}"
    out = markers.copy()
    n_frames = len(out)
    t = np.arange(n_frames)
    filled = 0
    for m in range(out.shape[1]):
        ok = np.all(np.isfinite(out[:, m]), axis=1)
        if ok.all():
            continue
        if not ok.any():
            label = names[m] if names else str(m)
            raise DataError(f"marker {label} is missing (DROPOUT) in every frame")
        filled += int((~ok).sum())
        for c in range(3):
            out[~ok, m, c] = np.interp(t[~ok], t[ok], out[ok, m, c])
    return out, filled


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _perp(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Component of v perpendicular to the unit vectors ``axis`` (row-wise)."""
    return v - np.sum(v * axis, axis=-1, keepdims=True) * axis


def _cluster_frame(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Orthonormal frames (F, 3, 3) (columns = axes) of a 3-marker rigid cluster, origin at ``a``."""
    x = _unit(b - a)
    y = _unit(_perp(c - a, x))
    return np.stack([x, y, np.cross(x, y)], axis=2)


def rigid_cluster_fill(marker: np.ndarray, cluster: tuple[np.ndarray, np.ndarray, np.ndarray],
                       lo_mm: float = 20.0, hi_mm: float = 40.0, smooth: int = 5) -> tuple[np.ndarray, int]:
    """Replace samples of ``marker`` (F, 3) that disagree with a rigid 3-marker cluster.

    The marker's offset in the cluster frame is the median over the frames closest to a trimmed
    median (five passes keeping the nearest 40 %). Frames whose deviation from the cluster
    prediction exceeds ``hi_mm`` take the prediction, below ``lo_mm`` keep the marker, with a linear
    ramp in between; the weights are smoothed by a moving average of +-``smooth`` frames so that the
    fill has no jumps. Returns (filled marker, number of frames with weight > 0.5).
    """
    assert marker.ndim == 2 and marker.shape[1] == 3, marker.shape
    rot = _cluster_frame(*cluster)
    local = np.einsum("fab,fa->fb", rot, marker - cluster[0])
    centre = np.median(local, axis=0)
    for _ in range(5):
        dist = np.linalg.norm(local - centre, axis=1)
        centre = np.median(local[dist <= np.percentile(dist, 40)], axis=0)
    pred = cluster[0] + np.einsum("fab,b->fa", rot, centre)
    dev = np.linalg.norm(marker - pred, axis=1)
    w = np.clip((dev - lo_mm) / (hi_mm - lo_mm), 0.0, 1.0)
    kernel = np.ones(2 * smooth + 1) / (2 * smooth + 1)
    w = np.convolve(np.pad(w, smooth, mode="edge"), kernel, mode="valid")
    return (1 - w[:, None]) * marker + w[:, None] * pred, int((w > 0.5).sum())


def harrington_hips(lfwt, rfwt, lbwt, rbwt) -> tuple[np.ndarray, np.ndarray]:
    """Left and right hip centres (F, 3) in mm from the four waist markers (Harrington-like)."""
    front = (lfwt + rfwt) / 2
    back = (lbwt + rbwt) / 2
    left = _unit(lfwt - rfwt)
    fwd = _unit(_perp(front - back, left))
    up = np.cross(fwd, left)
    pw = np.linalg.norm(lfwt - rfwt, axis=-1, keepdims=True)
    pd = np.linalg.norm(front - back, axis=-1, keepdims=True)
    base = front + (-0.24 * pd - 9.9) * fwd + (-0.30 * pw - 10.9) * up
    side = (0.33 * pw + 7.3) * left
    return base + side, base - side


def medial_centre(lateral: np.ndarray, proximal: np.ndarray, wand: np.ndarray, offset_mm: float) -> np.ndarray:
    """A joint centre ``offset_mm`` medial of its ``lateral`` marker (see the module docstring)."""
    axis = _unit(lateral - proximal)
    lat = _unit(_perp(wand - proximal, axis))
    return lateral - offset_mm * lat


def fencing_landmarks(names: list[str], markers_mm: np.ndarray) -> dict[str, np.ndarray]:
    """Joint-centre estimates in metres (Z up) from the fencing markers.

    Returns a dict with the limb joints (``l_hip`` ... ``r_wrist``), ``midline`` (F, 2, 3): mid(T10, STRN)
    and mid(C7, CLAV), ``head_centre``, ``head_forward`` and ``head_left`` (unit vectors), and
    ``cluster_filled``: marker -> number of frames mostly replaced by the rigid foot-cluster fill.
    """
    assert markers_mm.ndim == 3 and markers_mm.shape[1:] == (len(names), 3), markers_mm.shape
    idx = {n: i for i, n in enumerate(names)}
    need = ["LFHD", "RFHD", "LBHD", "RBHD", "C7", "T10", "CLAV", "STRN", "LFWT", "RFWT", "LBWT", "RBWT"]
    for side in "LR":
        need += [side + m for m in ("SHO", "UPA", "ELB", "WRA", "WRB", "THI", "KNE", "SHN", "ANK", "HEL",
                                    "TOE", "MT5")]
    absent = [n for n in need if n not in idx]
    if absent:
        raise DataError(f"CSM file lacks marker(s) {', '.join(absent)}")
    m = {n: markers_mm[:, idx[n]] for n in need}
    l_hip, r_hip = harrington_hips(m["LFWT"], m["RFWT"], m["LBWT"], m["RBWT"])
    low = (m["T10"] + m["STRN"]) / 2
    high = (m["C7"] + m["CLAV"]) / 2
    thorax_up = _unit(high - low)
    out = {"l_hip": l_hip, "r_hip": r_hip}
    filled = {}
    for side, hip in (("l", l_hip), ("r", r_hip)):
        s = side.upper()
        knee = medial_centre(m[s + "KNE"], hip, m[s + "THI"], 55.0)
        ank, filled[s + "ANK"] = rigid_cluster_fill(m[s + "ANK"], (m[s + "HEL"], m[s + "TOE"], m[s + "MT5"]))
        ankle = medial_centre(ank, knee, m[s + "SHN"], 40.0)
        shoulder = m[s + "SHO"] - 45.0 * thorax_up
        elbow = medial_centre(m[s + "ELB"], shoulder, m[s + "UPA"], 40.0)
        wrist = (m[s + "WRA"] + m[s + "WRB"]) / 2
        out.update({f"{side}_knee": knee, f"{side}_ankle": ankle, f"{side}_shoulder": shoulder,
                    f"{side}_elbow": elbow, f"{side}_wrist": wrist})
    head = (m["LFHD"] + m["RFHD"] + m["LBHD"] + m["RBHD"]) / 4
    fwd = (m["LFHD"] + m["RFHD"] - m["LBHD"] - m["RBHD"]) / 2
    left = (m["LFHD"] + m["LBHD"] - m["RFHD"] - m["RBHD"]) / 2
    out = {k: v * MM for k, v in out.items()}
    out["midline"] = np.stack([low, high], axis=1) * MM
    out["head_centre"] = head * MM
    out["head_forward"] = _unit(fwd)
    out["head_left"] = _unit(left)
    out["cluster_filled"] = filled
    return out
