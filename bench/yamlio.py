"""YAML reading for protocols, reported tables, golden files and ``--set`` values.

PyYAML follows YAML 1.1, in which ``1e-3`` or ``3e-5`` (no dot) is a string, so ``--set train.lr=3e-3``
or ``lr: 1e-5`` in a protocol would fail validation as "not a number". This loader also reads YAML 1.2
floats (an exponent without a dot), the way people write learning rates; everything else is PyYAML's
safe loading.
"""
from __future__ import annotations

import re

import yaml


class Loader(yaml.SafeLoader):
    pass


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load(text: str):
    """``yaml.safe_load`` plus YAML 1.2 exponent floats (``1e-3``)."""
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
