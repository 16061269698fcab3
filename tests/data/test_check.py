"""`bench data check`: every seeded fault in a folder is reported, one line each."""
import numpy as np

from bench.data import load_dataset
from bench.data.check import check_data_folder, detect_layouts, format_report

H36M_SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
ACTIONS = ["Walking", "Walking 1", "Eating"]
F = 5


def h36m_data():
    rng = np.random.default_rng(0)
    pos3d = {s: {a: (rng.normal(scale=0.3, size=(F, 32, 3)) + [0, 0, 1]).astype(np.float32)
                 for a in ACTIONS} for s in H36M_SUBJECTS}
    pos2d = {s: {a: [rng.uniform(0, 1000, size=(F, 17, 2)).astype(np.float32) for _ in range(4)]
                 for a in ACTIONS} for s in H36M_SUBJECTS}
    # VideoPose3D's detection files also hold the unlabeled S2-S4: not a problem.
    pos2d["S2"] = {"Walking": [np.zeros((F, 17, 2), np.float32)] * 4}
    return pos3d, pos2d


def save(folder, pos3d, pos2d, source="gt", tag="h36m", **extra3d):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / f"data_3d_{tag}.npz", positions_3d=pos3d, **extra3d)
    # num_joints as the arrays have it (15 for HumanEva): the loaders check it against them.
    joints = next(iter(next(iter(pos2d.values())).values()))[0].shape[1]
    np.savez(folder / f"data_2d_{tag}_{source}.npz", positions_2d=pos2d,
             metadata={"num_joints": joints})
    return folder


def test_clean_folder_has_no_problems_and_loads(tmp_path):
    save(tmp_path, *h36m_data())
    assert detect_layouts(tmp_path) == ["h36m"]
    assert check_data_folder(tmp_path) == []
    assert format_report([]).startswith("OK")
    load_dataset(f"h36m:{tmp_path}", source="gt")


def test_every_seeded_fault_is_reported(tmp_path):
    pos3d, pos2d = h36m_data()
    pos3d["S9"]["Eating"][2, 3, 1] = np.nan                 # 1. NaN in 3D
    pos2d["S5"]["Walking"][1] = pos2d["S5"]["Walking"][1][:3]  # 2. 2D shorter than 3D
    del pos2d["S6"]                                        # 3. subject missing in 2D
    pos2d["S12"] = {"Walking": [np.zeros((F, 17, 2))] * 4}   # 4. subject missing in 3D
    pos2d["S7"]["Walking"] = pos2d["S7"]["Walking"][:3]      # 5. wrong number of cameras
    pos2d["S8"]["Eating"][0] = np.zeros((F, 15, 2))          # 6. wrong 2D joint count
    pos3d["S1"]["Walking 1"] = np.zeros((F, 31, 3))          # 7. wrong 3D joint count
    pos3d["S3"] = {"Walking": np.zeros((F, 32, 3))}          # 8. no camera extrinsics
    del pos2d["S11"]["Eating"]                             # 9. action missing in 2D
    pos2d["S9"]["Walking"][2][4, 16, 0] = np.inf           # 10. inf in 2D
    save(tmp_path, pos3d, pos2d)
    (tmp_path / "data_2d_h36m_det.npz").write_bytes(b"not an npz")  # 11. unreadable file
    problems = check_data_folder(tmp_path)
    report = format_report(problems)
    f3d, f2d = "data_3d_h36m.npz", "data_2d_h36m_gt.npz"
    expected = [
        (f3d, "['S9']['Eating']: non-finite coordinate (NaN or inf) at frame 2, joint 3"),
        (f2d, "['S5']['Walking'][1]: 2D has 3 frames but the 3D sequence has 5"),
        (f2d, "subject 'S6' is in the 3D file but missing here"),
        (f2d, "subject 'S12' has 2D but no 3D"),
        (f2d, "['S7']['Walking']: 3 cameras, expected 4"),
        (f2d, "['S8']['Eating'][0]: 15 joints, expected 17 or 16"),
        (f3d, "['S1']['Walking 1']: 31 joints, expected 32 or 17"),
        (f3d, "subject 'S3' has no Human3.6M camera extrinsics"),
        (f2d, "['S11']: missing action 'Eating'"),
        (f2d, "['S9']['Walking'][2]: non-finite coordinate (NaN or inf) at frame 4, joint 16"),
        ("data_2d_h36m_det.npz", "not a readable npz file"),
    ]
    for fname, text in expected:
        hits = [p for p in problems if fname in p and text in p]
        assert len(hits) == 1, f"expected one problem with {fname!r} and {text!r}:\n{report}"
    assert len(problems) == len(expected), report
    assert all("\n" not in p for p in problems)
    assert report.startswith(f"{len(expected)} problem(s) found")


def test_missing_files_keys_and_structure(tmp_path):
    assert "data folder not found" in check_data_folder(tmp_path / "nope")[0]
    assert "no dataset files recognised" in check_data_folder(tmp_path)[0]
    # 2D only: the 3D file is missing.
    only2d = tmp_path / "only2d"
    only2d.mkdir()
    np.savez(only2d / "data_2d_h36m_gt.npz", positions_2d=h36m_data()[1])
    (msg,) = check_data_folder(only2d)
    assert "data_3d_h36m.npz: missing 3D file" in msg
    # 3D without the key, no 2D file at all.
    nokey = tmp_path / "nokey"
    nokey.mkdir()
    np.savez(nokey / "data_3d_standin.npz", poses=np.zeros(3))
    problems = check_data_folder(nokey)
    assert any("data_3d_standin.npz: missing key 'positions_3d'" in p for p in problems)
    assert any("no 2D file for standin" in p for p in problems)
    # Wrong structure: subject -> array instead of subject -> action -> array.
    wrong = tmp_path / "wrong"
    pos3d, pos2d = h36m_data()
    pos3d["S1"] = np.zeros((F, 32, 3))
    pos2d["S5"] = [np.zeros((F, 17, 2))]
    problems = check_data_folder(save(wrong, pos3d, pos2d))
    assert any("positions_3d['S1']: expected a dict action -> array" in p for p in problems)
    assert any("positions_2d['S5']: expected a dict action -> list" in p for p in problems)


def _humaneva_folder(folder):
    rng = np.random.default_rng(1)
    subjects = ["Train/S1", "Train/S2", "Train/S3", "Validate/S1", "Validate/S2", "Validate/S3"]
    pos3d = {s: {"Walking 1 chunk0": rng.normal(size=(F, 15, 3))} for s in subjects}
    pos2d = {s: {"Walking 1 chunk0": [rng.uniform(0, 480, size=(F, 15, 2)) for _ in range(3)]}
             for s in subjects}
    pos2d["Unlabeled/Train/S4"] = {"Walking 1": [np.zeros((2, 17, 2))] * 3}  # expected, skipped
    return pos3d, pos2d


def test_humaneva_faults(tmp_path):
    pos3d, pos2d = _humaneva_folder(tmp_path)
    save(tmp_path / "ok", pos3d, pos2d, tag="humaneva15")
    assert detect_layouts(tmp_path / "ok") == ["humaneva"]
    assert check_data_folder(tmp_path / "ok") == []  # published extrinsics cover S1-S3
    pos3d["Train/S4"] = {"Jog 1 chunk0": np.zeros((F, 15, 3))}
    pos2d["Train/S4"] = {"Jog 1 chunk0": [np.zeros((F, 15, 2))] * 3}
    pos2d["Validate/S2"]["Walking 1 chunk0"][0] = np.zeros((F, 20, 2))
    cams = {"S1": [{"orientation": [1, 0, 0, 0], "translation": [0, 0, 5000.0]}] * 3}
    problems = check_data_folder(save(tmp_path / "bad", pos3d, pos2d, tag="humaneva15", cameras=cams))
    report = format_report(problems)
    assert any("cameras['S1'][0]" in p and "millimetres" in p for p in problems), report
    assert any("no camera entry for subject 'S2'" in p for p in problems), report
    assert any("no camera entry for subject 'S4'" in p for p in problems), report
    assert any("['Validate/S2']['Walking 1 chunk0'][0]: 20 joints, expected 15 or 17" in p
               for p in problems), report


def test_3dhp_faults(tmp_path):
    rng = np.random.default_rng(2)
    pos3d = {"S1": {"Seq1": [rng.normal(size=(F, 17, 3)) + [0, 0, 4]] * 2},
             "TS1": {"TS1": [rng.normal(size=(F, 17, 3)) * 1000]},  # millimetres
             "TS9": {"TS9": [rng.normal(size=(F, 17, 3))]}}         # unknown subject
    pos2d = {"S1": {"Seq1": [np.zeros((F, 17, 2))]},                 # 1 camera instead of 2
             "TS1": {"TS1": [np.zeros((F, 17, 2))]},
             "TS9": {"TS9": [np.zeros((F, 17, 2))]}}
    masks = {"TS1": {"TS1": np.ones(F - 1, bool)}, "TS2": {"TS2": np.ones(F, bool)}}
    problems = check_data_folder(save(tmp_path, pos3d, pos2d, tag="3dhp", valid_frames=masks))
    report = format_report(problems)
    for text in ["['TS1']['TS1'][0]: coordinates up to", "unknown subject(s) TS9",
                 "positions_2d['S1']['Seq1']: 1 cameras, expected 2",
                 "valid_frames['TS1']['TS1']: valid_frames has 4 entries",
                 "valid_frames['TS2']['TS2']: no such sequence",
                 "no resolution for subject 'TS9'"]:
        assert sum(text in p for p in problems) == 1, f"{text!r} not reported once:\n{report}"
    assert len(problems) == 6, report
