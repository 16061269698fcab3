"""Finding the raw motion-capture sources of the stand-in (docs/data-sources.md sections 1-3).

Three packages hold them:

* Debian ``assimp-testmodels`` 5.2.5~ds0-1: ``BVH/01_01.bvh``, ``BVH/01_03.bvh``, ``BVH/Boxing_Toes.bvh``,
  ``CSM/ThomasFechten.csm`` and their ``*.source.txt`` notes, under ``/usr/share/assimp/models``;
* PyPI ``holosoma-retargeting`` 0.1.0 (a wheel): the climbing joint positions and their joint names;
* PyPI ``pybullet`` 3.2.7 (a wheel): the DeepMimic motion clips.

The wheels are looked for in a cache folder (default ``build/standin-sources/`` in the repository,
git-ignored); only the few data members needed are unzipped, into ``<cache>/unpacked/<wheel>/``.
Nothing is downloaded here: a missing source raises :class:`bench.errors.DataError` whose one line
gives the commands that fetch it.
"""
from __future__ import annotations

import fnmatch
import hashlib
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CACHE = REPO_ROOT / "build" / "standin-sources"
DEBIAN_MODELS = Path("/usr/share/assimp/models")

ASSIMP_PACKAGE = ("assimp-testmodels", "5.2.5~ds0-1")
HOLOSOMA_WHEEL = ("holosoma_retargeting", "0.1.0")
PYBULLET_WHEEL = ("pybullet", "3.2.7")

ASSIMP_FILES = ("BVH/01_01.bvh", "BVH/01_03.bvh", "BVH/Boxing_Toes.bvh", "CSM/ThomasFechten.csm")
ASSIMP_NOTES = ("BVH/01_nn.bvh.source.txt", "CSM/ThomasFechten.source.txt")

# Wheel members to unzip (fnmatch patterns).
HOLOSOMA_MEMBERS = ("holosoma_retargeting/demo_data/climb/*/*_joint_positions_*.npy",
                    "holosoma_retargeting/config_types/data_type.py",
                    "holosoma_retargeting-*.dist-info/METADATA")
PYBULLET_MEMBERS = ("pybullet_data/data/motions/humanoid3d_*.txt",
                    "pybullet_data/data/motions/walker/*.txt",
                    "pybullet-*.dist-info/LICENSE.txt",
                    "pybullet-*.dist-info/METADATA")


@dataclass
class SourceSet:
    """Where each raw source lies, plus what PROVENANCE.md records about it."""

    assimp_dir: Path
    holosoma_dir: Path
    pybullet_dir: Path
    cache: Path
    wheels: dict[str, str] = field(default_factory=dict)  # wheel file name -> sha256
    debian_copyright: Path | None = None

    def holosoma_clips(self) -> list[Path]:
        """The 5 climbing joint-position files, in sequence order (seq_0 .. seq_4)."""
        root = self.holosoma_dir / "holosoma_retargeting" / "demo_data" / "climb"
        files = sorted(root.glob("mocap_climb_seq_*/*_joint_positions_*.npy"))
        if len(files) != 5:
            raise DataError(f"expected 5 holosoma climbing clips under {root}, found {len(files)}; "
                            f"delete {self.cache / 'unpacked'} and build again")
        return files

    def deepmimic_clips(self) -> list[Path]:
        """The 15 humanoid3d clips then the 5 walker clips, each group sorted by name."""
        root = self.pybullet_dir / "pybullet_data" / "data" / "motions"
        files = sorted(root.glob("humanoid3d_*.txt")) + sorted((root / "walker").glob("*.txt"))
        if len(files) != 20:
            raise DataError(f"expected 20 DeepMimic clips under {root}, found {len(files)}; "
                            f"delete {self.cache / 'unpacked'} and build again")
        return files


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def fetch_hint(cache: Path) -> str:
    """The commands that put every source in place, as one line."""
    return (f"install them with: apt-get install -y assimp-testmodels && pip download --no-deps "
            f"holosoma-retargeting==0.1.0 pybullet==3.2.7 -d {_relative(cache)}")


def _debian_models_dir() -> list[Path]:
    """Candidate assimp model folders: the package's file list (dpkg), then the usual path."""
    found = []
    dpkg = shutil.which("dpkg")
    if dpkg:
        try:
            out = subprocess.run([dpkg, "-L", ASSIMP_PACKAGE[0]], capture_output=True, text=True,
                                 timeout=30, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if line.endswith("/BVH/01_01.bvh"):
                found.append(Path(line).parent.parent)
    found.append(DEBIAN_MODELS)
    return found


def _find_assimp(sources: Path | None) -> Path | None:
    candidates = []
    if sources is not None:
        candidates += [sources, sources / "assimp" / "models", sources / "models"]
    candidates += _debian_models_dir()
    for c in candidates:
        if all((c / f).is_file() for f in ASSIMP_FILES):
            return c
    return None


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _unpack(cache: Path, name: str, version: str, patterns: tuple[str, ...],
            wheels: dict[str, str]) -> Path | None:
    """Unzip the members matching ``patterns`` of wheel ``name-version-*.whl`` found in ``cache``.

    Returns the folder holding the unpacked members, or None when neither the wheel nor an earlier
    unpacked copy is there. Extraction goes to a temporary folder renamed at the end, so an
    interrupted run never leaves a partial copy behind.
    """
    wheel_files = sorted(cache.glob(f"{name}-{version}-*.whl"))
    target = cache / "unpacked" / f"{name}-{version}"
    if not wheel_files:
        return target if (target / ".complete").is_file() else None
    wheel = wheel_files[0]
    wheels[wheel.name] = sha256_file(wheel)
    if (target / ".complete").is_file() and (target / ".complete").read_text().strip() == wheels[wheel.name]:
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with zipfile.ZipFile(wheel) as z:
            members = [m for m in z.namelist() if any(fnmatch.fnmatch(m, p) for p in patterns)]
            if not members:
                raise DataError(f"{wheel}: none of the expected data files inside; is it the right wheel?")
            for m in members:
                z.extract(m, tmp)
    except zipfile.BadZipFile:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"{wheel}: not a readable wheel (zip); delete it and download it again") from None
    (tmp / ".complete").write_text(wheels[wheel.name] + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def find_sources(sources: str | Path | None = None) -> SourceSet:
    """Locate every raw source, unzipping wheel members into the cache as needed.

    Args:
        sources: a folder holding the wheels (and optionally a copy of the assimp models, as
            ``BVH/`` + ``CSM/`` or ``assimp/models/``); default ``build/standin-sources/`` for the
            wheels and the Debian package's folder for the models.
    """
    cache = Path(sources) if sources is not None else DEFAULT_CACHE
    missing = []
    assimp = _find_assimp(Path(sources) if sources is not None else None)
    if assimp is None:
        missing.append("Debian assimp-testmodels (BVH/CSM files)")
    wheels: dict[str, str] = {}
    holo = pyb = None
    if cache.is_dir():
        holo = _unpack(cache, *HOLOSOMA_WHEEL, HOLOSOMA_MEMBERS, wheels)
        pyb = _unpack(cache, *PYBULLET_WHEEL, PYBULLET_MEMBERS, wheels)
    if holo is None:
        missing.append(f"holosoma_retargeting-0.1.0 wheel in {_relative(cache)}")
    if pyb is None:
        missing.append(f"pybullet-3.2.7 wheel in {_relative(cache)}")
    if missing:
        raise DataError(f"stand-in sources missing: {'; '.join(missing)}; {fetch_hint(cache)}")
    copyright_file = Path("/usr/share/doc") / ASSIMP_PACKAGE[0] / "copyright"
    return SourceSet(assimp_dir=assimp, holosoma_dir=holo, pybullet_dir=pyb, cache=cache, wheels=wheels,
                     debian_copyright=copyright_file if copyright_file.is_file() else None)
