"""Issue 17: the real VideoPose3D layout (tests/data/h36m_fixture.py) through the loaders and
``bench data check``: S11's excluded take, S1's raw names and exact action groups, the 2D layout from
the metadata, joint counts per take, 3D units, 2D sources by role."""
import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

from bench.camera import h36m_cameras, normalize_screen_coordinates
from bench.data import load_dataset
from bench.data.actions import H36M_ACTION_GROUPS, action_group
from bench.data.check import check_data_folder
from bench.data import available_sources, resolve_source
from bench.data.layouts import convert_keypoints
from bench.errors import BenchError, ConfigError, DataError

_spec = importlib.util.spec_from_file_location("h36m_fixture", Path(__file__).with_name("h36m_fixture.py"))
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)


def one_line(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and msg.strip() == msg, msg
    return msg


def load_error(spec, **kw) -> str:
    with pytest.raises(BenchError) as e:
        load_dataset(spec, **kw)
    return one_line(e)


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The default fixture folder: gt, cpn_ft_h36m_dbb, sh_pt_mpii, detectron_ft_h36m."""
    return fx.write_h36m_fixture(tmp_path_factory.mktemp("h36m_real"))


@pytest.fixture(scope="module")
def real_all(tmp_path_factory):
    return fx.write_h36m_fixture(tmp_path_factory.mktemp("h36m_all"), sources=fx.ALL_SOURCES)


# ---------------------------------------------------------------------------------------------
# The fixture itself.

def test_fixture_has_the_real_layout_and_is_fast(tmp_path):
    t0 = time.perf_counter()
    folder = fx.write_h36m_fixture(tmp_path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5, elapsed  # about 0.3 s here; the bound only guards against a slow rewrite
    assert sorted(p.name for p in folder.iterdir()) == [
        "data_2d_h36m_cpn_ft_h36m_dbb.npz", "data_2d_h36m_detectron_ft_h36m.npz", "data_2d_h36m_gt.npz",
        "data_2d_h36m_sh_pt_mpii.npz", "data_3d_h36m.npz"]
    files = fx.h36m_fixture_arrays()
    pos3d = files["data_3d_h36m.npz"]["positions_3d"]
    assert sorted(pos3d) == sorted(fx.SUBJECTS)
    assert {len(v) for s, v in pos3d.items() if s != "S11"} == {30} and len(pos3d["S11"]) == 29
    assert "Directions" not in pos3d["S11"] and "Directions 1" in pos3d["S11"]
    assert {"TakingPhoto", "TakingPhoto 1", "WalkingDog", "WalkingDog 1"} <= set(pos3d["S1"])
    assert pos3d["S1"]["Walking"].shape[1:] == (32, 3) and pos3d["S1"]["Walking"].dtype == np.float32
    cpn = files["data_2d_h36m_cpn_ft_h36m_dbb.npz"]
    assert cpn["metadata"]["layout_name"] == "h36m" and "S2" in cpn["positions_2d"]
    assert "Photo 1" in cpn["positions_2d"]["S1"] and "TakingPhoto 1" not in cpn["positions_2d"]["S1"]
    sh = files["data_2d_h36m_sh_pt_mpii.npz"]
    assert "layout_name" not in sh["metadata"] and sh["positions_2d"]["S9"]["Eating"][0].shape[1] == 16
    assert check_data_folder(folder) == []


def test_fixture_2d_is_the_projection_of_the_3d(real):
    ds = load_dataset(f"h36m:{real}", source="gt")
    from bench.camera import project_to_2d
    for subject, take, c in (("S9", "Walking 1", 2), ("S1", "TakingPhoto", 0), ("S11", "Directions 1", 3)):
        cam = h36m_cameras(subject)[c]
        uv = project_to_2d(ds.positions[subject][take][c].astype(np.float64), cam.intrinsic_pixels)
        np.testing.assert_allclose(normalize_screen_coordinates(uv, cam.res_w, cam.res_h),
                                   ds.keypoints[subject][take][c], atol=1e-5)
    det = load_dataset(f"h36m:{real}", source="cpn")
    diff = np.abs(det.keypoints["S9"]["Walking 1"][2] - ds.keypoints["S9"]["Walking 1"][2]) * 500
    assert 0 < diff.mean() < 3  # pixels: detections near the projection


# ---------------------------------------------------------------------------------------------
# 1. S11 'Directions': exactly that take is excluded; the loader and `bench data check` agree.

def _drop_2d(subject, take):
    def mutate(files):
        for name, items in files.items():
            if name.startswith("data_2d"):
                items["positions_2d"][subject].pop(take, None)
    return mutate


def _corrupt_s11_directions(files):
    files["data_3d_h36m.npz"]["positions_3d"]["S11"]["Directions"][1, 3, 0] = np.nan
    for name, items in files.items():
        if name.startswith("data_2d"):
            views = items["positions_2d"]["S11"]["Directions"]
            views[0] = views[0][:2]  # shorter than the mocap


S11_CASES = {
    # case: (write_h36m_fixture options, loader accepts)
    "real file: Directions 1 only": (dict(), True),
    "Directions and Directions 1 in 3D and 2D": (dict(s11_directions=True), True),
    "Directions in 3D only": (dict(s11_directions=True, mutate=_drop_2d("S11", "Directions")), True),
    "Directions corrupt (NaN 3D, short 2D)": (dict(s11_directions=True, mutate=_corrupt_s11_directions), True),
    "S11 Directions 1 missing from 2D": (dict(mutate=_drop_2d("S11", "Directions 1")), False),
    "S9 Directions missing from 2D": (dict(mutate=_drop_2d("S9", "Directions")), False),
}


@pytest.mark.parametrize("case", list(S11_CASES))
def test_s11_directions_loader_and_check_agree(tmp_path, case):
    options, accepted = S11_CASES[case]
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt",), **options)
    problems = check_data_folder(folder)
    try:
        ds = load_dataset(f"h36m:{folder}", source="gt")
        loaded = True
    except DataError as e:
        assert "\n" not in str(e)
        loaded = False
    assert loaded == accepted and (problems == []) == accepted, (case, problems)
    if accepted:
        assert "Directions" not in ds.actions("S11") and "Directions 1" in ds.actions("S11")
        assert "Directions" in ds.actions("S9")
        assert ("excluded take(s): S11 'Directions'" in " ".join(ds.notes)) == options.get("s11_directions", False)
    else:
        assert len(problems) == 1, problems


def test_s11_directions_kept_when_the_protocol_switch_is_off(tmp_path):
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt",), s11_directions=True)
    ds = load_dataset(f"h36m:{folder}", source="gt", exclude_s11_directions=False)
    assert {"Directions", "Directions 1"} <= set(ds.actions("S11"))


def test_the_standin_excludes_nothing_and_check_agrees(tmp_path):
    # The same files under the stand-in's names: no take is dropped, so a missing 2D take is an error
    # for the loader and for the check alike.
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt",), s11_directions=True,
                                   mutate=_drop_2d("S11", "Directions"))
    for f in folder.iterdir():
        f.rename(folder / f.name.replace("h36m", "standin"))
    problems = check_data_folder(folder)
    assert len(problems) == 1 and "missing action 'Directions'" in problems[0], problems
    assert "S11/'Directions'" in load_error(f"standin:{folder}", source="gt")


# ---------------------------------------------------------------------------------------------
# 2. S1's raw names map onto the papers' 15 groups; selection by exact group.

def test_s1_raw_names_are_grouped_into_the_15_groups(real):
    ds = load_dataset(f"h36m:{real}", source="gt")
    assert ds.action_groups() == sorted(H36M_ACTION_GROUPS) and len(H36M_ACTION_GROUPS) == 15
    assert {"TakingPhoto", "TakingPhoto 1", "WalkingDog", "WalkingDog 1"} <= set(ds.actions("S1"))
    groups = {s.action: s.group for s in ds.sequences(["S1"])}
    assert groups["TakingPhoto 1"] == "Photo" and groups["WalkingDog"] == "WalkDog"
    assert groups["WalkTogether 1"] == "WalkTogether" and groups["Walking 1"] == "Walking"
    photo = ds.sequences(["S1", "S5"], actions=["Photo"])
    assert sorted({(s.subject, s.action) for s in photo}) == [
        ("S1", "TakingPhoto"), ("S1", "TakingPhoto 1"), ("S5", "Photo"), ("S5", "Photo 2")]
    assert {s.action for s in ds.sequences(["S1"], actions=["TakingPhoto"])} == {"TakingPhoto", "TakingPhoto 1"}
    assert action_group("WalkingDog 1") == "WalkDog" and action_group("Walking 1") == "Walking"


def test_s1_takes_match_2d_stored_under_the_canonical_names(real):
    # The cpn file spells S1's takes 'Photo'/'WalkDog' (VideoPose3D's generic converter renames them),
    # the 3D file 'TakingPhoto'/'WalkingDog': the loader pairs them.
    files = fx.h36m_fixture_arrays()
    ds = load_dataset(f"h36m:{real}", source="cpn_ft_h36m_dbb")
    raw = files["data_2d_h36m_cpn_ft_h36m_dbb.npz"]["positions_2d"]["S1"]["WalkDog 1"][3]
    n = len(ds.keypoints["S1"]["WalkingDog 1"][3])
    cam = h36m_cameras("S1")[3]
    np.testing.assert_allclose(ds.keypoints["S1"]["WalkingDog 1"][3],
                               normalize_screen_coordinates(raw[:n], cam.res_w, cam.res_h), atol=1e-6)


def test_selection_by_exact_group(real):
    ds = load_dataset(f"h36m:{real}", source="gt")
    sitting = {s.action for s in ds.sequences(["S9"], actions=["Sitting"])}
    assert sitting == {"Sitting", "Sitting 1"}
    assert {s.action for s in ds.sequences(["S9"], actions=["SittingDown"])} == {"SittingDown", "SittingDown 1"}
    assert {s.group for s in ds.sequences(["S9", "S11"], actions=["Walking"])} == {"Walking"}
    assert {s.action for s in ds.sequences(["S9"], actions=["Walking 1"])} == {"Walking 1"}  # one take
    assert {s.group for s in ds.sequences(["S9"], actions=["WalkTogether", "Eating"])} == {"WalkTogether", "Eating"}
    for name in ("Walk", "Sit", "walking"):
        with pytest.raises(ConfigError) as e:
            ds.sequences(["S9"], actions=[name])
        msg = one_line(e)
        assert f"unknown action {name!r} in dataset h36m; known: " + ", ".join(sorted(H36M_ACTION_GROUPS)) in msg


# ---------------------------------------------------------------------------------------------
# 3. The 2D layout from the file's metadata.

def test_metadata_layout_is_honoured_over_the_joint_count(tmp_path):
    # A 17-joint file whose metadata says COCO is converted from COCO, not read as H36M.
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt",),
                                   metadata={"gt": {"layout_name": "coco", "num_joints": 17}})
    ds = load_dataset(f"h36m:{folder}", source="gt")
    assert "2D keypoints converted from coco17 to h36m17" in ds.notes
    raw = fx.h36m_fixture_arrays(sources=("gt",))["data_2d_h36m_gt.npz"]["positions_2d"]["S9"]["Eating"][1]
    cam = h36m_cameras("S9")[1]
    expected = convert_keypoints(normalize_screen_coordinates(raw, cam.res_w, cam.res_h), "coco", "h36m")
    np.testing.assert_allclose(ds.keypoints["S9"]["Eating"][1], expected, atol=1e-6)
    assert check_data_folder(folder) == []


def test_real_metadata_variants(real_all):
    # gt: symmetry only -> h36m17; SH: MPII symmetry, no layout_name -> mpii16; detectron_pt_coco: 'coco'.
    notes = {src: load_dataset(f"h36m:{real_all}", source=src).notes for src in fx.ALL_SOURCES}
    assert notes["gt"] == [] and notes["cpn_ft_h36m_dbb"] == [] and notes["detectron_ft_h36m"] == []
    assert notes["sh_pt_mpii"] == notes["sh_ft_h36m"] == ["2D keypoints converted from mpii16 to h36m17"]
    assert notes["detectron_pt_coco"] == ["2D keypoints converted from coco17 to h36m17"]


def test_without_metadata_the_joint_count_decides_and_is_noted(tmp_path):
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt", "sh_pt_mpii"),
                                   metadata={"gt": None, "sh_pt_mpii": None})
    assert any("guessed from its joint count (17 -> h36m17" in n
               for n in load_dataset(f"h36m:{folder}", source="gt").notes)
    notes = load_dataset(f"h36m:{folder}", source="sh").notes
    assert any("guessed from its joint count (16 -> mpii16" in n for n in notes)
    assert "2D keypoints converted from mpii16 to h36m17" in notes
    assert check_data_folder(folder) == []


BAD_METADATA = {
    # a 16-joint file whose metadata says COCO: the arrays contradict it
    "16 joints, metadata coco": ("sh_pt_mpii", {"layout_name": "coco"},
                                 r"data_2d_h36m_sh_pt_mpii.npz:positions_2d\['S1'\]\['Directions'\]\[0\]: "
                                 r"2D keypoints have 16 joints, as the rest of the file, but its metadata "
                                 r"\(layout_name 'coco'\) declares coco17 \(17 joints\)"),
    "layout_name vs num_joints": ("gt", {"layout_name": "h36m", "num_joints": 16},
                                  r"data_2d_h36m_gt.npz:metadata: layout_name 'h36m' \(h36m17, 17 joints\) "
                                  r"contradicts num_joints 16"),
    "layout_name vs symmetry": ("gt", {"layout_name": "h36m", "keypoints_symmetry": fx._SYM["coco"]},
                                r"data_2d_h36m_gt.npz:metadata: keypoints_symmetry .* contradicts layout_name 'h36m'"),
    "unknown layout_name": ("gt", {"layout_name": "openpose25"},
                            r"data_2d_h36m_gt.npz:metadata: unknown layout_name 'openpose25'"),
    "symmetry of no layout": ("gt", {"num_joints": 17, "keypoints_symmetry": [[0, 1], [2, 3]]},
                              r"data_2d_h36m_gt.npz:metadata: keypoints_symmetry .* matches no known layout"),
    "no conversion to h36m": ("gt", {"layout_name": "humaneva15"},
                              r"humaneva15 order cannot be converted to the h36m17 joints"),
    "num_joints vs arrays": ("gt", {"num_joints": 16},
                             r"data_2d_h36m_gt.npz:positions_2d\['S1'\]\['Directions'\]\[0\]: 2D keypoints "
                             r"have 17 joints, as the rest of the file, but its metadata num_joints says 16"),
}


@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_metadata_contradictions_are_one_line(tmp_path, case):
    source, meta, pattern = BAD_METADATA[case]
    folder = fx.write_h36m_fixture(tmp_path, sources=(source,), metadata={source: meta})
    with pytest.raises(DataError, match=pattern) as e:
        load_dataset(f"h36m:{folder}", source=source)
    one_line(e)
    problems = check_data_folder(folder)
    assert len(problems) == 1 and str(e.value) == problems[0], problems


@pytest.mark.parametrize("with_metadata", [True, False])
def test_a_take_with_another_joint_count_is_one_line(tmp_path, with_metadata):
    def mutate(files):
        views = files["data_2d_h36m_cpn_ft_h36m_dbb.npz"]["positions_2d"]["S5"]["Walking 1"]
        views[2] = views[2][:, :16]
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt", "cpn_ft_h36m_dbb"), mutate=mutate,
                                   metadata=None if with_metadata else {"cpn_ft_h36m_dbb": None})
    with pytest.raises(DataError) as e:
        load_dataset(f"h36m:{folder}", source="cpn")
    msg = one_line(e)
    assert (f"{folder / 'data_2d_h36m_cpn_ft_h36m_dbb.npz'}:positions_2d['S5']['Walking 1'][2]: "
            f"2D keypoints have 16 joints, but the rest of data_2d_h36m_cpn_ft_h36m_dbb.npz has 17") in msg
    problems = check_data_folder(folder)
    assert problems == [msg], problems
    load_dataset(f"h36m:{folder}", source="gt")  # the other file is fine


# ---------------------------------------------------------------------------------------------
# 4. 3D units, for every loader that reads 3D.

@pytest.mark.parametrize("scale,unit", [(1000.0, "millimetres"), (100.0, "centimetres")])
@pytest.mark.parametrize("loader", ["h36m", "standin"])
def test_3d_not_in_metres_is_one_line_h36m_and_standin(tmp_path, loader, scale, unit):
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt",), scale_3d=scale)
    if loader == "standin":
        for f in folder.iterdir():
            f.rename(folder / f.name.replace("h36m", "standin"))
    msg = load_error(f"{loader}:{folder}", source="gt")
    f3d = folder / f"data_3d_{loader}.npz"
    assert msg.startswith(f"{f3d}:positions_3d['S1']['Directions']: median bone length"), msg
    assert f"seems to be in {unit}" in msg and f"divide the positions by {int(scale)}" in msg
    problems = check_data_folder(folder)
    assert len(problems) == 1 and problems[0].startswith(msg), problems
    assert "(209 of 209 sequences look the same)" in problems[0]


def _humaneva(folder, scale):
    rng = np.random.default_rng(0)
    pose = np.array([[0, 0, 1], [0, 0, 1.5], [0.2, 0, 1.45], [0.25, 0, 1.2], [0.27, 0, 0.95],
                     [-0.2, 0, 1.45], [-0.25, 0, 1.2], [-0.27, 0, 0.95], [0.1, 0, 1], [0.1, 0, 0.55],
                     [0.1, 0, 0.1], [-0.1, 0, 1], [-0.1, 0, 0.55], [-0.1, 0, 0.1], [0, 0.05, 1.6]])
    subjects = [f"{split}/S{i}" for split in ("Train", "Validate") for i in (1, 2, 3)]
    pos3d = {s: {"Walking 1 chunk0": ((pose + rng.normal(scale=0.01, size=(5, 15, 3))) * scale).astype(np.float32)}
             for s in subjects}
    pos2d = {s: {"Walking 1 chunk0": [np.full((5, 15, 2), 300.0, np.float32)] * 3} for s in subjects}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data_3d_humaneva15.npz", positions_3d=pos3d)
    np.savez(folder / "data_2d_humaneva15_gt.npz", positions_2d=pos2d,
             metadata={"layout_name": "humaneva15", "num_joints": 15})
    return folder


def _3dhp(folder, scale):
    rng = np.random.default_rng(0)
    pose = fx.REST + [0, 0, 4.0]  # H36M-order joints, 4 m in front of the camera
    pos3d = {s: {s if s.startswith("TS") else "Seq1": [((pose + rng.normal(scale=0.01, size=(5, 17, 3))) * scale)
                                                      .astype(np.float32)]} for s in ("S1", "TS1")}
    pos2d = {s: {q: [np.full((5, 17, 2), 1024.0, np.float32)] for q in v} for s, v in pos3d.items()}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data_3d_3dhp.npz", positions_3d=pos3d)
    np.savez(folder / "data_2d_3dhp_gt.npz", positions_2d=pos2d, metadata={"num_joints": 17})
    return folder


@pytest.mark.parametrize("scale,unit", [(1000.0, "millimetres"), (100.0, "centimetres")])
@pytest.mark.parametrize("loader,writer,first", [
    ("humaneva", _humaneva, "data_3d_humaneva15.npz:positions_3d['Train/S1']['Walking 1 chunk0']"),
    ("3dhp", _3dhp, "data_3d_3dhp.npz:positions_3d['S1']['Seq1'][0]"),
])
def test_3d_not_in_metres_is_one_line_humaneva_and_3dhp(tmp_path, loader, writer, first, scale, unit):
    assert load_dataset(f"{loader}:{writer(tmp_path / 'm', 1.0)}").positions  # metres: fine
    assert check_data_folder(tmp_path / "m") == []
    folder = writer(tmp_path / unit, scale)
    msg = load_error(f"{loader}:{folder}")
    assert first in msg and unit in msg, msg
    problems = check_data_folder(folder)
    # HumanEva: one line for the file; 3dhp: one per camera array (S1 Seq1 and TS1 here), as before
    assert len(problems) == (2 if loader == "3dhp" else 1), problems
    assert all(unit in p for p in problems) and first in problems[0], problems


# ---------------------------------------------------------------------------------------------
# 5. 2D sources by role.

def test_roles_resolve_to_the_real_files(real, real_all):
    expected = {"gt": "gt", "cpn": "cpn_ft_h36m_dbb", "sh": "sh_pt_mpii", "detectron": "detectron_ft_h36m"}
    for role, raw in expected.items():
        res = resolve_source(f"h36m:{real}", role)
        assert (res.role, res.source) == (role, raw)
        assert res.file_2d == real / f"data_2d_h36m_{raw}.npz" and res.file_3d == real / "data_3d_h36m.npz"
        assert resolve_source(f"h36m:{real}", raw).role == role  # a raw name still works
    assert available_sources(f"h36m:{real}") == {
        **expected, "cpn_ft_h36m_dbb": "cpn_ft_h36m_dbb", "detectron_ft_h36m": "detectron_ft_h36m",
        "gt": "gt", "sh_pt_mpii": "sh_pt_mpii"}
    # sh: fine-tuned first when both are there; the fall-back to pre-trained is noted.
    assert resolve_source(f"h36m:{real_all}", "sh").source == "sh_ft_h36m"
    assert resolve_source(f"h36m:{real_all}", "sh_pt_mpii").source == "sh_pt_mpii"
    assert resolve_source(f"h36m:{real_all}", "detectron").source == "detectron_ft_h36m"
    ds = load_dataset(f"h36m:{real}", source="sh")
    assert ds.source == "sh" and ds.source_role == "sh" and ds.source_file.endswith("data_2d_h36m_sh_pt_mpii.npz")
    assert any("role 'sh' read data_2d_h36m_sh_pt_mpii.npz" in n and "first choice" in n for n in ds.notes)


def test_a_missing_role_lists_what_the_folder_has(tmp_path):
    folder = fx.write_h36m_fixture(tmp_path, sources=("gt", "cpn_ft_h36m_dbb"))
    for source, extra in (("sh", "as a role, 'sh' reads data_2d_h36m_sh_ft_h36m.npz or "
                                 "data_2d_h36m_sh_pt_mpii.npz, also missing"),
                          ("sh_ft_h36m", ""), ("det", "")):
        with pytest.raises(DataError) as e:
            resolve_source(f"h36m:{folder}", source)
        msg = one_line(e)
        assert msg.startswith(f"2D source {source!r} not found: {folder / f'data_2d_h36m_{source}.npz'} is missing "
                              f"(available: data_2d_h36m_cpn_ft_h36m_dbb.npz, data_2d_h36m_gt.npz)")
        assert extra in msg
        assert msg.endswith("roles here: gt, cpn -> cpn_ft_h36m_dbb; raw sources here: cpn_ft_h36m_dbb, gt"), msg
        assert load_error(f"h36m:{folder}", source=source) == msg


def test_standin_roles_keep_the_existing_sources():
    assert resolve_source("standin", "cpn").source == "det"
    assert resolve_source("standin", "det").role == "cpn" and resolve_source("standin", "gt").role == "gt"
    assert available_sources("standin") == {"gt": "gt", "cpn": "det", "sh": "det", "detectron": "det",
                                            "det": "det"}
    det, cpn, gt = (load_dataset("standin", source=s) for s in ("det", "cpn", "gt"))
    for s in ("S9", "S1"):
        for a in det.actions(s)[:3]:
            for c in range(4):
                assert np.array_equal(det.keypoints[s][a][c], cpn.keypoints[s][a][c])
                assert not np.array_equal(det.keypoints[s][a][c], gt.keypoints[s][a][c])
    assert det.notes == [] and gt.notes == []
    # one detector-noise model stands in for every detector role, and the note says so
    sh = load_dataset("standin", source="sh")
    assert np.array_equal(sh.keypoints["S9"][det.actions("S9")[0]][0], det.keypoints["S9"][det.actions("S9")[0]][0])
    assert sh.source_role == "sh" and "role 'sh' read data_2d_standin_det.npz" in sh.notes[0]
    with pytest.raises(DataError) as e:
        load_dataset("standin", source="hrnet")
    assert one_line(e).endswith("roles here: gt, cpn -> det, sh -> det, detectron -> det; raw sources here: det, gt")


def test_roles_of_the_other_loaders(tmp_path):
    assert available_sources("humaneva") == {"gt": "gt", "detectron": "det", "det": "det"}
    assert resolve_source(f"3dhp:{_3dhp(tmp_path, 1.0)}", "gt").role == "gt"
    with pytest.raises(DataError, match="the h36m loader needs a folder"):
        resolve_source("h36m", "gt")
    with pytest.raises(ConfigError, match="unknown dataset 'h37m'"):
        available_sources("h37m")
