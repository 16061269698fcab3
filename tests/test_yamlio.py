"""YAML 1.2 exponent floats: ``--set train.lr=3e-3`` and ``lr: 1e-5`` in a protocol are numbers."""
import yaml

from bench.config import parse_set, resolve
from bench.yamlio import load


def test_exponent_without_a_dot_is_a_float_and_nothing_else_changes():
    got = load("a: 3e-3\nb: 1.5e2\nc: -2E+1\nd: '3e-3'\ne: 1e\nf: 12\ng: 0x1F\nh: e5\ni: 1.0e-3")
    assert got == {"a": 0.003, "b": 150.0, "c": -20.0, "d": "3e-3", "e": "1e", "f": 12, "g": 31, "h": "e5",
                   "i": 0.001}
    assert yaml.safe_load("a: 3e-3") == {"a": "3e-3"}  # PyYAML's own loader is left alone


def test_set_accepts_a_learning_rate_in_exponent_form():
    cfg = resolve(parse_set(["model.name=martinez", "train.lr=3e-3", "train.weight_decay=1e-5"]))
    assert cfg["train"]["lr"] == 0.003 and cfg["train"]["weight_decay"] == 1e-5
