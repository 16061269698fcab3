"""HumanEva loader on tiny VideoPose3D-layout fixtures."""
import numpy as np
import pytest

from bench.camera import world_to_camera
from bench.data import humaneva, load_dataset
from bench.errors import DataError
from bench.skeleton import HUMANEVA_15

FRAMES = 6
SUBJECTS = ["Train/S1", "Train/S2", "Validate/S1", "Validate/S2"]
ACTIONS = ["Walking 1 chunk0", "Walking 1 chunk1", "Box 1 chunk0"]


def _cam(tz=-5.0, **extra):
    # Identity rotation, camera centre at (0, 0, tz) metres: X_cam = X_world - (0, 0, tz).
    return {"id": "C", "res_w": 640, "res_h": 480, "center": [320.0, 240.0],
            "focal_length": [500.0, 500.0], "radial_distortion": [0.0, 0.0, 0.0],
            "tangential_distortion": [0.0, 0.0], "orientation": [1.0, 0.0, 0.0, 0.0],
            "translation": [0.0, 0.0, tz], **extra}


def world(subject, action, frames=FRAMES):
    seed = (SUBJECTS.index(subject) if subject in SUBJECTS else 9) * 10 + ACTIONS.index(action)
    return np.random.default_rng(seed).normal(size=(frames, 15, 3)).astype(np.float32)


def write_humaneva(folder, source="gt", joints_2d=15, cameras="table", subjects=SUBJECTS,
                   frames_2d=FRAMES, meta=None):
    folder.mkdir(parents=True, exist_ok=True)
    pos3d = {s: {a: world(s, a) for a in ACTIONS} for s in subjects}
    pos2d = {s: {a: [np.full((frames_2d, joints_2d, 2), 1.0 * (c + 1), np.float32) * [320, 240]
                     for c in range(3)] for a in ACTIONS} for s in subjects}
    pos2d["Unlabeled/S4"] = {"Walking 1": [np.zeros((3, joints_2d, 2), np.float32)] * 3}
    extra = {}
    if cameras == "table":
        extra["cameras"] = {s: [_cam(), _cam(-6.0), _cam(-7.0)] for s in ("S1", "S2", "S3")}
    elif cameras is not None:
        extra["cameras"] = cameras
    np.savez(folder / "data_3d_humaneva15.npz", positions_3d=pos3d, **extra)
    np.savez(folder / f"data_2d_humaneva15_{source}.npz", positions_2d=pos2d,
             metadata=meta or {"num_joints": joints_2d})
    return folder


def test_loads_with_camera_table(tmp_path):
    ds = load_dataset(f"humaneva:{write_humaneva(tmp_path)}", source="gt")
    assert ds.skeleton is HUMANEVA_15 and ds.keypoints_layout is HUMANEVA_15
    assert ds.train_subjects == ["Train/S1", "Train/S2"]
    assert ds.test_subjects == ["Validate/S1", "Validate/S2"]
    assert "Unlabeled/S4" not in ds.subjects()
    assert ds.action_groups() == ["Box", "Walking"]
    assert ds.actions("Train/S1") == sorted(ACTIONS)  # chunks stay separate sequences
    assert ds.fps == 60.0 and ds.resolution["Train/S1"] == [640, 640, 640]
    kp = ds.keypoints["Train/S1"]["Walking 1 chunk0"]
    assert len(kp) == 3 and kp[0].shape == (FRAMES, 15, 2)
    np.testing.assert_allclose(kp[0], 0.0, atol=1e-6)  # pixel (320, 240) is the image centre
    pos = ds.positions["Validate/S2"]["Box 1 chunk0"]
    np.testing.assert_allclose(pos[1], world("Validate/S2", "Box 1 chunk0") + [0, 0, 6.0], atol=1e-5)
    seqs = ds.sequences(ds.test_subjects, actions=["Walk"])
    assert len(seqs) == 2 * 2 * 3 and {s.group for s in seqs} == {"Walking"}


def test_published_extrinsics_are_used_without_camera_key(tmp_path):
    ds = load_dataset(f"humaneva:{write_humaneva(tmp_path, cameras=None)}")
    cams = humaneva.humaneva_cameras("S2")
    w = world("Train/S2", "Box 1 chunk0").astype(np.float64)
    for c in range(3):
        expected = world_to_camera(w, cams[c].orientation, cams[c].translation)
        np.testing.assert_allclose(ds.positions["Train/S2"]["Box 1 chunk0"][c], expected, atol=1e-5)
    # Units: the published camera centre (mm) maps to the camera-frame origin in metres, and the
    # middle of the capture volume lies about 4 m in front of every camera.
    for cam in cams:
        centre = world_to_camera(cam.translation[None], cam.orientation, cam.translation)
        np.testing.assert_allclose(centre, 0.0, atol=1e-9)
        assert 3.5 < world_to_camera(np.zeros((1, 3)), cam.orientation, cam.translation)[0, 2] < 5
    assert any("published" in n for n in ds.notes)


def test_coco_detections_are_remapped_to_humaneva(tmp_path):
    folder = write_humaneva(tmp_path, source="detectron_pt_coco", joints_2d=17,
                            meta={"layout_name": "coco", "num_joints": 17})
    ds = load_dataset(f"humaneva:{folder}", source="detectron_pt_coco")
    kp = ds.keypoints["Train/S1"]["Box 1 chunk0"][0]
    assert kp.shape == (FRAMES, 15, 2)
    assert any("coco17" in n for n in ds.notes)


def test_default_path_is_the_bundled_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(humaneva, "BUNDLED", write_humaneva(tmp_path / "bundled"))
    ds = load_dataset("humaneva")
    assert ds.path == str(tmp_path / "bundled")


def test_missing_camera_for_subject_is_one_clear_error(tmp_path):
    subjects = SUBJECTS + ["Train/S4"]
    folder = write_humaneva(tmp_path, cameras=None, subjects=subjects)
    with pytest.raises(DataError, match=r"no camera extrinsics for subject 'Train/S4'.*'cameras' key"):
        load_dataset(f"humaneva:{folder}")
    folder = write_humaneva(tmp_path / "b", cameras={"S1": [_cam()] * 3})
    with pytest.raises(DataError, match=r"data_3d_humaneva15.npz:cameras.*'S2'"):
        load_dataset(f"humaneva:{folder}")


def test_camera_table_in_millimetres_is_rejected(tmp_path):
    table = {s: [_cam(-5000.0)] * 3 for s in ("S1", "S2")}
    with pytest.raises(DataError, match=r"cameras\['S1'\]\[0\].*millimetres"):
        load_dataset(f"humaneva:{write_humaneva(tmp_path, cameras=table)}")


def test_bad_joint_counts_and_short_2d(tmp_path):
    with pytest.raises(DataError, match=r"data_2d_humaneva15_gt.npz:positions_2d\['Train/S1'\].*16 joints"):
        load_dataset(f"humaneva:{write_humaneva(tmp_path / 'a', joints_2d=16)}")
    with pytest.raises(DataError, match="2D has 4 frames but the 3D sequence has 6"):
        load_dataset(f"humaneva:{write_humaneva(tmp_path / 'b', frames_2d=4)}")
    folder = write_humaneva(tmp_path / "c")
    np.savez(folder / "data_3d_humaneva15.npz",
             positions_3d={"Train/S1": {"Walking 1": np.zeros((5, 20, 3))}})
    with pytest.raises(DataError, match=r"positions_3d\['Train/S1'\]\['Walking 1'\]: expected 15 joints"):
        load_dataset(f"humaneva:{folder}")


def test_bundled_standin_loads():
    ds = load_dataset("humaneva", source="gt")
    assert ds.train_subjects and ds.test_subjects
    seq = ds.sequences(ds.test_subjects[:1])[0]
    assert seq.keypoints.shape[1:] == (15, 2) and seq.positions.shape[1:] == (15, 3)
    assert np.all(seq.positions[:, 0, 2] > 0)  # in front of the camera
