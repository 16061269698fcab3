"""The one key check of every file the harness reads (experiment configs, protocols, reported numbers,
golden entries): unknown keys named with a did-you-mean and the allowed set, missing required keys
named, one error line with where it is."""
from __future__ import annotations

import difflib
from typing import Iterable

from bench.errors import ConfigError


def check_keys(obj: dict, allowed: Iterable[str], where: str, *, required: Iterable[str] = (),
               error: type[Exception] = ConfigError) -> None:
    """Raise ``error`` for a key of ``obj`` outside ``allowed`` (the closest allowed key suggested) or a
    key of ``required`` that ``obj`` lacks."""
    allowed = set(allowed)
    unknown = sorted(set(obj) - allowed, key=str)
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), sorted(allowed), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise error(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}{hint}; "
                    f"allowed: {', '.join(sorted(allowed))}")
    for k in required:
        if k not in obj:
            raise error(f"{where}: missing key {k!r}")
