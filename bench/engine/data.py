"""The data an experiment reads: the dataset (cached per process), its train / validation / test split, the
model's fit to its joints, and what a run record says about it."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from bench.contract import model_contract
from bench.data import PoseDataset, load_dataset
from bench.errors import ConfigError
from bench.typed_config import section

_DATASETS: dict[tuple, PoseDataset] = {}


def get_dataset(data_cfg) -> PoseDataset:
    """Load (and cache per process) the dataset named in ``data_cfg`` (the data section of a resolved
    config)."""
    dc = section(data_cfg, "data")
    spec, source = dc.dataset, dc.source
    key = (spec, source, dc.exclude_s11_directions)
    if key not in _DATASETS:
        opts = {}
        if spec.partition(":")[0] == "h36m":
            opts["exclude_s11_directions"] = dc.exclude_s11_directions
        _DATASETS[key] = load_dataset(spec, source=source, **opts)
    return _DATASETS[key]


def holdout_tail(seqs: list, fraction: float) -> tuple[list, list]:
    """(training part, validation part) of every sequence (data.validation_fraction).

    The last ``round(fraction * frames)`` frames of every take go to validation and the frames before
    them stay for training: the two parts of a sequence are disjoint and add up to it. Every camera's
    sequence of a take (same subject and action) is cut at the same frame, counted on the shortest of
    them, so no instant is trained on from one view and validated on from another. A take too short to
    give a validation frame stays whole in training. ``fraction`` < 0.5: training keeps the larger part.
    """
    if not fraction:
        return list(seqs), []
    shortest: dict[tuple[str, str], int] = {}
    for seq in seqs:
        key = (seq.subject, seq.action)
        shortest[key] = min(shortest.get(key, len(seq)), len(seq))
    train, val = [], []
    for seq in seqs:
        n = shortest[(seq.subject, seq.action)]
        cut = n - int(round(fraction * n))
        if cut == n:  # too short for one validation frame
            train.append(seq)
            continue
        train.append(dataclasses.replace(seq, keypoints=seq.keypoints[:cut], positions=seq.positions[:cut]))
        val.append(dataclasses.replace(seq, keypoints=seq.keypoints[cut:], positions=seq.positions[cut:]))
    return train, val


def split_sequences(ds: PoseDataset, data_cfg):
    """(train, validation, test) sequences. Validation subjects are removed from training; with
    ``data.validation_fraction`` f > 0 the last fraction f of every training sequence is cut off and
    added to the validation sequences (:func:`holdout_tail`). The test sequences are never touched."""
    dc = section(data_cfg, "data")
    train = dc.train_subjects or ds.train_subjects
    test = dc.test_subjects or ds.test_subjects
    val = dc.validation_subjects
    bad = [s for s in val if s not in train]
    if bad:
        raise ConfigError(f"data.validation_subjects {', '.join(bad)} must be training subjects "
                          f"({', '.join(train)})")
    train = [s for s in train if s not in val]
    if not train:
        raise ConfigError("no training subjects left after removing data.validation_subjects")
    kw = dict(actions=dc.actions, downsample=dc.downsample)
    train_kw = dict(kw, actions=dc.train_actions or dc.actions)
    fraction = dc.validation_fraction
    train_seqs, tail = holdout_tail(ds.sequences(train, **train_kw), fraction)
    if fraction and not tail:
        raise ConfigError(f"data.validation_fraction={fraction:g} holds out no frame: every training take is "
                          f"too short (about {0.5 / fraction:g} frames or fewer); use a larger fraction or "
                          f"data.validation_subjects")
    val_seqs = (ds.sequences(val, **train_kw) if val else []) + tail
    return train_seqs, val_seqs, ds.sequences(test, **kw)


def check_model_fits(model, ds: PoseDataset) -> None:
    """The model's joint counts (its contract) must be the dataset's keypoint and skeleton joint counts."""
    j_in, j_out = ds.keypoints_layout.num_joints, ds.skeleton.num_joints
    c = model_contract(model)
    if c.num_joints_in != j_in or c.num_joints_out != j_out:
        raise ConfigError(f"model expects {c.num_joints_in} input / {c.num_joints_out} output "
                          f"joints but dataset {ds.name} has {j_in} / {j_out} "
                          f"(set model.options.num_joints_in / num_joints_out)")


def dataset_record(ds: PoseDataset, data_cfg, train_seqs=None, test_seqs=None, val_seqs=None) -> dict:
    """What a run record says about its data: the dataset asked for and the files actually read, with
    their content hash (a record whose files changed since is not reused; tables name the data)."""
    dc = section(data_cfg, "data")
    rec = {"name": ds.name, "spec": dc.dataset, "source": dc.source,
           "source_role": ds.source_role, "source_file": os.path.basename(ds.source_file), "path": _portable(ds.path),
           "notes": ds.notes, "fingerprint": ds.fingerprint()}
    if train_seqs is not None:
        rec.update(train_sequences=len(train_seqs), test_sequences=len(test_seqs))
    if val_seqs:  # only runs with a validation set say so (older records keep their shape)
        rec.update(validation_sequences=len(val_seqs), validation_frames=int(sum(len(s) for s in val_seqs)),
                   train_frames=int(sum(len(s) for s in train_seqs or [])))
    return rec


def _portable(path: str | None) -> str | None:
    """A data path as a record keeps it: relative to the source tree when inside it (the bundled stand-in),
    so committed records name no machine's folders; absolute otherwise (a user's own data folder)."""
    if not path:
        return path
    from bench.paths import PACKAGE_PARENT

    try:
        return str(Path(path).resolve().relative_to(PACKAGE_PARENT))
    except ValueError:
        return str(path)
