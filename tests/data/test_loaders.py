"""Bad input to the loaders: each case is one DataError/ConfigError naming the file/key."""
import numpy as np
import pytest

from bench.data import load_dataset
from bench.errors import ConfigError, DataError

SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
ACTIONS = ["Walking", "Eating"]
F = 6


def vp3d_data(joints_2d=17):
    rng = np.random.default_rng(0)
    pos3d = {s: {a: (rng.normal(scale=0.3, size=(F, 32, 3)) + [0, 0, 1]).astype(np.float32)
                 for a in ACTIONS} for s in SUBJECTS}
    pos2d = {s: {a: [rng.uniform(0, 1000, size=(F, joints_2d, 2)).astype(np.float32)
                     for _ in range(4)] for a in ACTIONS} for s in SUBJECTS}
    return pos3d, pos2d


# The metadata VideoPose3D writes: the gt file's (17 joints, Human3.6M symmetry) and, for 16 joints,
# the Stacked Hourglass files' (MPII order; data/prepare_data_2d_h36m_sh.py). Neither has a layout_name.
META_BY_JOINTS = {17: {"num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]},
                  16: {"num_joints": 16, "keypoints_symmetry": [[3, 4, 5, 13, 14, 15], [0, 1, 2, 10, 11, 12]]}}


def save(folder, pos3d, pos2d, source="gt"):
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "data_3d_h36m.npz", positions_3d=pos3d)
    joints = next(iter(next(iter(pos2d.values())).values()))[0].shape[1]
    np.savez(folder / f"data_2d_h36m_{source}.npz", positions_2d=pos2d,
             metadata=META_BY_JOINTS.get(joints, META_BY_JOINTS[17]))
    return folder


def load(folder, source="gt"):
    return load_dataset(f"h36m:{folder}", source=source)


def test_valid_fixture_loads(tmp_path):
    pos3d, pos2d = vp3d_data()
    pos2d["S1"]["Walking"] = [np.concatenate([k, k[:2]]) for k in pos2d["S1"]["Walking"]]  # longer 2D
    ds = load(save(tmp_path, pos3d, pos2d))
    assert ds.train_subjects == ["S1", "S5", "S6", "S7", "S8"] and ds.test_subjects == ["S9", "S11"]
    assert ds.keypoints["S1"]["Walking"][0].shape == (F, 17, 2)  # cut to the mocap length
    assert ds.positions["S9"]["Eating"][3].shape == (F, 17, 3)


def test_mpii_order_2d_is_converted(tmp_path):
    ds = load(save(tmp_path, *vp3d_data(joints_2d=16)))
    assert ds.keypoints["S5"]["Eating"][0].shape == (F, 17, 2)
    assert any("mpii16" in n for n in ds.notes)


@pytest.mark.parametrize("name", ["h36m", "humaneva", "3dhp", "standin"])
def test_missing_folder(tmp_path, name):
    with pytest.raises(DataError, match=f"data folder not found: {tmp_path / 'missing'}"):
        load_dataset(f"{name}:{tmp_path / 'missing'}")


def test_folder_that_is_a_file(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataError, match="data folder not found: .*afile"):
        load(tmp_path / "afile")


def test_unreadable_npz(tmp_path):
    save(tmp_path, *vp3d_data())
    (tmp_path / "data_3d_h36m.npz").write_bytes(b"\x00garbage, not an npz file")
    with pytest.raises(DataError, match=r"data_3d_h36m.npz: not a readable npz file"):
        load(tmp_path)
    (tmp_path / "data_3d_h36m.npz").write_bytes(b"")
    with pytest.raises(DataError, match=r"data_3d_h36m.npz: not a readable npz file"):
        load(tmp_path)


def test_missing_files_and_keys(tmp_path):
    save(tmp_path, *vp3d_data())
    with pytest.raises(DataError, match=r"2D source 'cpn' not found: .*data_2d_h36m_cpn.npz is missing "
                                        r"\(available: data_2d_h36m_gt.npz\)"):
        load(tmp_path, source="cpn")
    np.savez(tmp_path / "data_3d_h36m.npz", poses=np.zeros(3))
    with pytest.raises(DataError, match=r"data_3d_h36m.npz: missing key 'positions_3d' \(found: poses\)"):
        load(tmp_path)
    (tmp_path / "data_3d_h36m.npz").unlink()
    with pytest.raises(DataError, match=r"data file not found: .*data_3d_h36m.npz"):
        load(tmp_path)
    save(tmp_path, *vp3d_data())
    np.savez(tmp_path / "data_2d_h36m_gt.npz", keypoints=np.zeros(3))
    with pytest.raises(DataError, match=r"data_2d_h36m_gt.npz: missing key 'positions_2d'"):
        load(tmp_path)


def test_wrong_structure(tmp_path):
    pos3d, pos2d = vp3d_data()
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=np.zeros((F, 32, 3)))
    np.savez(tmp_path / "data_2d_h36m_gt.npz", positions_2d=pos2d)
    with pytest.raises(DataError, match=r"data_3d_h36m.npz:positions_3d: expected a dict"):
        load(tmp_path)
    pos3d["S5"] = np.zeros((F, 32, 3))
    with pytest.raises(DataError, match=r"positions_3d\['S5'\]: expected a dict"):
        load(save(tmp_path, pos3d, pos2d))


@pytest.mark.parametrize("where,array,message", [
    ("3d", np.zeros((F, 20, 3)), r"data_3d_h36m.npz:positions_3d\['S6'\]\['Eating'\]: expected 17 or 32 joints, got 20"),
    ("3d", np.zeros((F, 32)), r"data_3d_h36m.npz:positions_3d\['S6'\]\['Eating'\]: expected shape \(frames, joints, 3\)"),
    ("3d", np.array([["a"]]), r"positions_3d\['S6'\]\['Eating'\]: expected a numeric array"),
    ("2d", np.zeros((F, 15, 2)), r"data_2d_h36m_gt.npz:positions_2d\['S6'\]\['Eating'\]\[2\]: 2D keypoints have 15 joints"),
    ("2d", np.zeros((F, 17, 3)), r"positions_2d\['S6'\]\['Eating'\]\[2\]: expected shape \(frames, joints, 2\)"),
    ("2d", np.zeros((0, 17, 2)), r"positions_2d\['S6'\]\['Eating'\]\[2\]: sequence has no frames"),
])
def test_wrong_joint_count_or_shape(tmp_path, where, array, message):
    pos3d, pos2d = vp3d_data()
    if where == "3d":
        pos3d["S6"]["Eating"] = array
    else:
        pos2d["S6"]["Eating"][2] = array
    with pytest.raises(DataError, match=message):
        load(save(tmp_path, pos3d, pos2d))


def test_nan_and_inf_coordinates(tmp_path):
    pos3d, pos2d = vp3d_data()
    pos3d["S7"]["Walking"][3, 5, 0] = np.nan
    with pytest.raises(DataError, match=r"data_3d_h36m.npz:positions_3d\['S7'\]\['Walking'\]: "
                                        r"non-finite coordinate \(NaN or inf\) at frame 3, joint 5"):
        load(save(tmp_path / "a", pos3d, pos2d))
    pos3d, pos2d = vp3d_data()
    pos2d["S9"]["Eating"][1][4, 16, 1] = -np.inf
    with pytest.raises(DataError, match=r"data_2d_h36m_gt.npz:positions_2d\['S9'\]\['Eating'\]\[1\]: "
                                        r"non-finite coordinate \(NaN or inf\) at frame 4, joint 16"):
        load(save(tmp_path / "b", pos3d, pos2d))


def test_2d_shorter_than_3d(tmp_path):
    pos3d, pos2d = vp3d_data()
    pos2d["S8"]["Walking"][0] = pos2d["S8"]["Walking"][0][:4]
    with pytest.raises(DataError, match=r"positions_2d\['S8'\]\['Walking'\]\[0\]: 2D has 4 frames but "
                                        r"the 3D sequence has 6"):
        load(save(tmp_path, pos3d, pos2d))


def test_2d_missing_subject_action_or_cameras(tmp_path):
    pos3d, pos2d = vp3d_data()
    del pos2d["S6"]
    with pytest.raises(DataError, match=r"data_2d_h36m_gt.npz: subject 'S6' present in data_3d_h36m.npz"):
        load(save(tmp_path / "a", pos3d, pos2d))
    pos3d, pos2d = vp3d_data()
    del pos2d["S9"]["Eating"]
    with pytest.raises(DataError, match=r"data_2d_h36m_gt.npz: missing S9/'Eating'"):
        load(save(tmp_path / "b", pos3d, pos2d))
    pos3d, pos2d = vp3d_data()
    pos2d["S1"]["Walking"] = pos2d["S1"]["Walking"][:3]
    with pytest.raises(DataError, match=r"positions_2d\['S1'\]\['Walking'\]: expected a list of 4 camera"):
        load(save(tmp_path / "c", pos3d, pos2d))
    pos3d, pos2d = vp3d_data()
    del pos3d["S11"]
    with pytest.raises(DataError, match=r"data_3d_h36m.npz: test subject\(s\) S11 missing"):
        load(save(tmp_path / "d", pos3d, pos2d))


def test_unknown_subject_action_camera_and_dataset(tmp_path):
    ds = load(save(tmp_path, *vp3d_data()))
    with pytest.raises(ConfigError, match=r"unknown subject 'S2' in dataset h36m; known: S1"):
        ds.sequences(["S2"])
    with pytest.raises(ConfigError, match=r"unknown action 'Smoking' in dataset h36m; known: Eating, Walking"):
        ds.sequences(["S9"], actions=["Smoking"])
    with pytest.raises(ConfigError, match=r"unknown camera 4 for S9/Eating in h36m; valid: 0..3"):
        ds.sequences(["S9"], cameras=[4])
    with pytest.raises(ConfigError, match=r"unknown dataset 'h37m'"):
        load_dataset(f"h37m:{tmp_path}")
