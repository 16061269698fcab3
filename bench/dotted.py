"""Dotted keys (``train.motion_loss.intervals``) over nested mappings: the one implementation every
config, protocol, reported-table and record reader uses."""
from __future__ import annotations

import copy
from typing import Any, Iterable

MISSING: Any = object()


def get_dotted(tree: dict, key: str, missing: Any = KeyError, *, flat_key: bool = False) -> Any:
    """The value at ``key`` of the nested ``tree``. ``missing``: returned when the path is absent (the
    default raises KeyError). ``flat_key``: a top-level key spelled like the dotted path also counts (cells
    and reported keys carry flat dotted keys beside nested sections)."""
    if flat_key and isinstance(tree, dict) and key in tree:
        return tree[key]
    node: Any = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if missing is KeyError:
                raise KeyError(key)
            return missing
        node = node[part]
    return node


def has_dotted(tree: dict, key: str, *, flat_key: bool = False) -> bool:
    return get_dotted(tree, key, MISSING, flat_key=flat_key) is not MISSING


def set_dotted(tree: dict, key: str, value: Any) -> None:
    """Set ``key`` in place, creating the sections on the way. Raises TypeError when a part of the path
    is a value, not a section."""
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise TypeError(f"cannot set {key}: {part} is not a section")
    node[parts[-1]] = value


def del_dotted(tree: dict, key: str, prune: bool = True) -> None:
    """Delete ``key`` in place; with ``prune`` the sections it leaves empty go too, up to the top."""
    parts = key.split(".")
    chain = [tree]
    for part in parts[:-1]:
        chain.append(chain[-1][part])
    del chain[-1][parts[-1]]
    if prune:
        for depth in range(len(parts) - 1, 0, -1):
            if chain[depth]:
                break
            del chain[depth - 1][parts[depth - 1]]


def with_dotted(tree: dict, updates: dict[str, Any]) -> dict:
    """A deep copy of ``tree`` with each dotted key of ``updates`` set (an evaluation variant applied to a
    resolved config)."""
    out = copy.deepcopy(tree)
    for key, value in updates.items():
        set_dotted(out, key, copy.deepcopy(value))
    return out


def flatten(tree: dict, leaves: Iterable[str] = (), prefix: str = "") -> dict[str, Any]:
    """Nested or dotted mapping -> {dotted key: value}. A mapping stays a leaf when its dotted key is in
    ``leaves`` or below one of them."""
    leaves = tuple(leaves)
    out = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        is_leaf = any(key == p or key.startswith(p + ".") for p in leaves)
        if isinstance(v, dict) and not is_leaf:
            out.update(flatten(v, leaves, key + "."))
        else:
            out[key] = v
    return out
