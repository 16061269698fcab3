"""MPI-INF-3DHP loader on tiny fixtures in the documented layout."""
import numpy as np
import pytest

from bench.data import load_dataset
from bench.data.layouts import MPI3DHP_17, convert_keypoints
from bench.errors import ConfigError, DataError

F = 8


def pose3d(seed, frames=F):
    rng = np.random.default_rng(seed)
    return (rng.normal(scale=0.3, size=(frames, 17, 3)) + [0, 0, 4.0]).astype(np.float32)


def write_3dhp(folder, masks=None, meta=None, layout=None, frames_2d=F, scale=1.0):
    folder.mkdir(parents=True, exist_ok=True)
    pos3d = {"S1": {"Seq1": [pose3d(1) * scale, pose3d(2) * scale], "Seq2": [pose3d(3), pose3d(4)]},
             "TS1": {"TS1": [pose3d(5)]}, "TS5": {"TS5": [pose3d(6)]}}
    pos2d = {s: {q: [np.full((frames_2d, 17, 2), 1024.0, np.float32) for _ in v]
                 for q, v in seqs.items()} for s, seqs in pos3d.items()}
    pos2d["TS5"]["TS5"] = [np.tile(np.array([960.0, 540.0], np.float32), (frames_2d, 17, 1))]
    extra = {}
    if masks is not None:
        extra["valid_frames"] = masks
    if layout is not None:
        extra["layout"] = layout
    np.savez(folder / "data_3d_3dhp.npz", positions_3d=pos3d, **extra)
    np.savez(folder / "data_2d_3dhp_gt.npz", positions_2d=pos2d,
             metadata=meta if meta is not None else {"num_joints": 17})
    return folder


def test_loads_the_documented_layout(tmp_path):
    ds = load_dataset(f"3dhp:{write_3dhp(tmp_path)}")
    assert ds.train_subjects == ["S1"] and ds.test_subjects == ["TS1", "TS5"]
    assert ds.skeleton.name == "h36m17" and ds.num_cameras("S1") == 2
    np.testing.assert_allclose(ds.positions["S1"]["Seq1"][1], pose3d(2))  # already camera frame
    # Default resolutions: 2048x2048 studio, 1920x1080 outdoor; both points are image centres.
    np.testing.assert_allclose(ds.keypoints["TS1"]["TS1"][0], 0.0, atol=1e-6)
    np.testing.assert_allclose(ds.keypoints["TS5"]["TS5"][0], 0.0, atol=1e-6)
    assert ds.resolution == {"S1": [2048, 2048], "TS1": [2048], "TS5": [1920]}
    assert ds.fps == 25.0


def test_metadata_resolution_and_fps(tmp_path):
    meta = {"resolution": {"S1": [{"res_w": 1024, "res_h": 1024}, (1024, 1024)],
                           "TS1": [(4096, 4096)], "TS5": [{"res_w": 1920, "res_h": 1080}]},
            "fps": 50}
    ds = load_dataset(f"3dhp:{write_3dhp(tmp_path, meta=meta)}")
    np.testing.assert_allclose(ds.keypoints["S1"]["Seq1"][0][0, 0], [1.0, 1.0])  # (1024,1024) corner
    np.testing.assert_allclose(ds.keypoints["TS1"]["TS1"][0][0, 0], [-0.5, -0.5])
    assert ds.fps == 50.0 and ds.resolution["S1"] == [1024, 1024]


def test_valid_frames_drop_split_keep(tmp_path):
    mask = np.array([1, 1, 0, 0, 1, 1, 1, 0], bool)
    folder = write_3dhp(tmp_path, masks={"TS1": {"TS1": mask}})
    dropped = load_dataset(f"3dhp:{folder}")
    np.testing.assert_allclose(dropped.positions["TS1"]["TS1"][0], pose3d(5)[mask])
    assert len(dropped.keypoints["TS1"]["TS1"][0]) == 5
    split = load_dataset(f"3dhp:{folder}", valid_frames="split")
    assert split.actions("TS1") == ["TS1 chunk0", "TS1 chunk1"]
    np.testing.assert_allclose(split.positions["TS1"]["TS1 chunk1"][0], pose3d(5)[4:7])
    assert split.action_groups() == ["Seq1", "Seq2", "TS1", "TS5"]
    kept = load_dataset(f"3dhp:{folder}", valid_frames="keep")
    assert len(kept.positions["TS1"]["TS1"][0]) == F
    with pytest.raises(ConfigError, match="valid_frames mode 'all'"):
        load_dataset(f"3dhp:{folder}", valid_frames="all")
    bad = write_3dhp(tmp_path / "bad", masks={"TS1": {"TS1": mask[:5]}})
    with pytest.raises(DataError, match=r"valid_frames\['TS1'\]\['TS1'\]: valid_frames has 5 entries"):
        load_dataset(f"3dhp:{bad}")


def test_native_3dhp_joint_order_is_reordered(tmp_path):
    folder = write_3dhp(tmp_path, layout="mpi3dhp17", meta={"layout_name": "mpi3dhp17"})
    ds = load_dataset(f"3dhp:{folder}")
    expected = convert_keypoints(pose3d(5), MPI3DHP_17, "h36m17")
    np.testing.assert_allclose(ds.positions["TS1"]["TS1"][0], expected)
    np.testing.assert_allclose(ds.positions["TS1"]["TS1"][0][:, 0], pose3d(5)[:, 14])  # pelvis root


def test_errors_name_the_file_and_fix(tmp_path):
    with pytest.raises(DataError, match=r"--data 3dhp:/path/to/folder"):
        load_dataset("3dhp")
    with pytest.raises(DataError, match=r"positions_3d\['S1'\]\['Seq1'\]\[0\].*millimetres"):
        load_dataset(f"3dhp:{write_3dhp(tmp_path / 'mm', scale=1000.0)}")
    with pytest.raises(DataError, match=r"data_2d_3dhp_gt.npz:positions_2d\['S1'\]\['Seq1'\]\[0\]: 2D has 5"):
        load_dataset(f"3dhp:{write_3dhp(tmp_path / 'short', frames_2d=5)}")
    meta = {"resolution": {"S1": [(2048, 2048)]}}  # one camera listed, two used
    with pytest.raises(DataError, match=r"metadata\['resolution'\]\['S1'\]: expected a list of at least 2"):
        load_dataset(f"3dhp:{write_3dhp(tmp_path / 'res', meta=meta)}")
    with pytest.raises(DataError, match=r"unknown joint order 'coco'"):
        load_dataset(f"3dhp:{write_3dhp(tmp_path / 'lay', layout='coco')}")
