"""The committed stand-in files: they load, have the documented structure and match SHA256SUMS."""
import numpy as np
import pytest

from bench.camera import h36m_cameras
from bench.data import load_dataset
from bench.data.npz import load_npz_item
from bench.data.standin import BUNDLED
from bench.data.standin_build import build as build_mod
from bench.data.standin_build.checksums import content_sha256, file_sha256, read_sums
from bench.errors import DataError

HE = BUNDLED.parent / "standin_humaneva"


@pytest.mark.parametrize("source", ["gt", "det"])
def test_bundled_standin_loads(source):
    ds = load_dataset("standin", source=source)
    assert ds.subjects() == sorted(["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
    assert ds.train_subjects == ["S1", "S5", "S6", "S7", "S8"] and ds.test_subjects == ["S9", "S11"]
    for s in ds.subjects():
        assert ds.num_cameras(s) == 4
        for action, views in ds.keypoints[s].items():
            assert len(action.split(" ")[0]) > 0 and " " in action
            for kp, pos in zip(views, ds.positions[s][action]):
                assert kp.shape[1:] == (17, 2) and pos.shape[1:] == (17, 3) and len(kp) == len(pos)
                assert np.isfinite(kp).all() and np.isfinite(pos).all()
                assert (pos[..., 2] > 1.0).all()  # every joint in front of the camera
    # every source contributes to both sides
    groups_test = {a.split(" ")[0] for a in ds.actions("S9")}
    groups_train = {a.split(" ")[0] for s in ds.train_subjects for a in ds.actions(s)}
    assert groups_test == groups_train
    assert {"Playground", "Boxing", "Fencing", "Climb", "Walk", "Backflip"} <= groups_test


@pytest.mark.parametrize("source", ["gt", "det"])
def test_bundled_2d_inside_image_and_gt_is_the_projection(source):
    p2 = load_npz_item(BUNDLED / f"data_2d_standin_{source}.npz", "positions_2d")
    meta = load_npz_item(BUNDLED / f"data_2d_standin_{source}.npz", "metadata")
    assert meta == {"layout_name": "h36m17", "num_joints": 17,
                    "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    p3 = load_npz_item(BUNDLED / "data_3d_standin.npz", "positions_3d")
    for s, acts in p2.items():
        cams = h36m_cameras(s)
        for action, views in acts.items():
            assert len(views) == 4
            for kp, cam in zip(views, cams):
                assert kp.dtype == np.float32
                assert (kp >= 0).all() and (kp[..., 0] <= cam.res_w).all() and (kp[..., 1] <= cam.res_h).all()
            if source == "gt" and action.endswith("1"):
                proj = cams[0].project_world(p3[s][action].astype(np.float64))
                np.testing.assert_allclose(views[0], proj, atol=0.05)


def test_bundled_checksums_match_the_files():
    for folder in (BUNDLED, HE):
        sums = read_sums(folder)
        assert any(n.endswith(".npz") for n in sums)
        for name, (fhash, chash) in sums.items():
            assert file_sha256(folder / name) == fhash, name
            if chash is not None:
                assert content_sha256(folder / name) == chash, name
        assert (folder / "PROVENANCE.md").is_file()
        assert len(list((folder / "LICENSES").iterdir())) == 5


def test_bundled_humaneva_layout():
    p3 = load_npz_item(HE / "data_3d_humaneva15.npz", "positions_3d")
    cams = load_npz_item(HE / "data_3d_humaneva15.npz", "cameras")
    assert sorted(p3) == [f"{p}/S{i}" for p in ("Train", "Validate") for i in (1, 2, 3)]
    assert sorted(cams) == ["S1", "S2", "S3"]
    for s, cs in cams.items():
        assert len(cs) == 3
        for c in cs:
            assert c["res_w"] == 640 and c["res_h"] == 480
            assert set(c) == {"id", "res_w", "res_h", "center", "focal_length", "radial_distortion",
                              "tangential_distortion", "orientation", "translation"}
            assert abs(np.linalg.norm(c["orientation"]) - 1) < 1e-5
    for source in ("gt", "det"):
        f = HE / f"data_2d_humaneva15_{source}.npz"
        p2 = load_npz_item(f, "positions_2d")
        meta = load_npz_item(f, "metadata")
        assert meta["layout_name"] == "humaneva15" and meta["num_joints"] == 15
        assert meta["keypoints_symmetry"] == [[2, 3, 4, 8, 9, 10], [5, 6, 7, 11, 12, 13]]
        assert sorted(p2) == sorted(p3)
        for s, acts in p2.items():
            assert sorted(acts) == sorted(p3[s])
            for a, views in acts.items():
                assert len(views) == 3
                for kp in views:
                    assert kp.shape == (len(p3[s][a]), 15, 2) and np.isfinite(kp).all()
                    assert (kp >= 0).all() and (kp[..., 0] <= 640).all() and (kp[..., 1] <= 480).all()
    for i in (1, 2, 3):  # HumanEva's benchmark actions for every subject, on both sides
        for part in ("Train", "Validate"):
            groups = {a.split(" ")[0] for a in p3[f"{part}/S{i}"]}
            assert {"Walking", "Jog", "Box"} <= groups


def test_missing_sources_give_one_line_with_the_commands(tmp_path, monkeypatch):
    from bench.data.standin_build import sources
    monkeypatch.setattr(sources, "_debian_models_dir", lambda: [tmp_path / "none"])
    with pytest.raises(DataError) as e:
        sources.find_sources(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "apt-get install -y assimp-testmodels" in msg
    assert "pip download --no-deps holosoma-retargeting==0.1.0 pybullet==3.2.7 -d" in msg


@pytest.mark.slow
def test_rebuild_is_bit_for_bit_identical():
    """Needs the raw sources (see PROVENANCE.md); fails with their install commands when absent."""
    ok, bad = build_mod.verify_standin()
    assert ok, f"rebuilt files differ: {bad}"
