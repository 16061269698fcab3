"""data.train_actions (cross-action protocols): training and validation sequences of the training
actions only, test sequences of every data.actions group."""
import pytest

from bench.config import resolve
from bench.data import load_dataset
from bench.engine.data import split_sequences
from bench.errors import ConfigError


@pytest.fixture(scope="module")
def ds(tiny_data):
    return load_dataset(f"standin:{tiny_data}")


def data_cfg(tiny_data, **over):
    return resolve({"data.dataset": f"standin:{tiny_data}", **{f"data.{k}": v for k, v in over.items()}})["data"]


def groups(seqs):
    return {s.group for s in seqs}


def test_tiny_dataset_has_two_action_groups(ds):
    assert ds.action_groups() == ["Walk", "Wave"]


def test_train_actions_restrict_training_only(ds, tiny_data):
    train, val, test = split_sequences(ds, data_cfg(tiny_data, train_actions=["Walk"]))
    assert train and groups(train) == {"Walk"}
    assert val == []
    assert groups(test) == {"Walk", "Wave"}
    assert {s.subject for s in train} == set(ds.train_subjects)
    assert {s.subject for s in test} == set(ds.test_subjects)


def test_train_actions_differ_from_explicit_actions(ds, tiny_data):
    train, _, test = split_sequences(ds, data_cfg(tiny_data, actions=["Walk", "Wave"], train_actions=["Wave"]))
    assert groups(train) == {"Wave"} and groups(test) == {"Walk", "Wave"}
    # full cross-action: train on one action, test on another only
    train, _, test = split_sequences(ds, data_cfg(tiny_data, actions=["Walk"], train_actions=["Wave"]))
    assert groups(train) == {"Wave"} and groups(test) == {"Walk"}


def test_validation_sequences_follow_the_training_actions(ds, tiny_data):
    train, val, test = split_sequences(ds, data_cfg(tiny_data, train_actions=["Wave"], validation_subjects=["S1"]))
    assert val and groups(val) == {"Wave"} and {s.subject for s in val} == {"S1"}
    assert "S1" not in {s.subject for s in train} and groups(train) == {"Wave"}
    assert groups(test) == {"Walk", "Wave"}


def test_without_train_actions_training_uses_data_actions(ds, tiny_data):
    train, _, test = split_sequences(ds, data_cfg(tiny_data))
    assert groups(train) == groups(test) == {"Walk", "Wave"}
    train, _, test = split_sequences(ds, data_cfg(tiny_data, actions=["Wave"]))
    assert groups(train) == groups(test) == {"Wave"}


def test_train_actions_select_the_same_sequences_as_actions(ds, tiny_data):
    a, _, _ = split_sequences(ds, data_cfg(tiny_data, train_actions=["Walk"]))
    b, _, _ = split_sequences(ds, data_cfg(tiny_data, actions=["Walk"]))
    assert [(s.subject, s.action, s.camera) for s in a] == [(s.subject, s.action, s.camera) for s in b]
    # a downsample applies to the training sequences of the train actions as well
    c, _, _ = split_sequences(ds, data_cfg(tiny_data, train_actions=["Walk"], downsample=4))
    assert [len(x) for x in c] == [len(range(0, len(x), 4)) for x in a]


def test_unknown_train_action_is_a_config_error(ds, tiny_data):
    with pytest.raises(ConfigError, match="Jump"):
        split_sequences(ds, data_cfg(tiny_data, train_actions=["Jump"]))
