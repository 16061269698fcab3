"""Take names, action groups and the selection of takes by name (``data.actions``).

A *take* is one recorded sequence, named as in the data files (Human3.6M ``'Walking 1'``, HumanEva
``'Jog 1 chunk0'``, the stand-in's ``'Climb 4 chunk1'``). Its *action group* is the name up to the
first space, as in VideoPose3D's evaluation (model-specs.md 5.4: ``'Walking'`` and ``'Walking 1'``
merge), with one canonicalisation:

* Human3.6M's S1 calls two actions ``TakingPhoto`` and ``WalkingDog`` where every other subject says
  ``Photo`` and ``WalkDog``. Files converted from the original release keep S1's names when they
  come through Martinez et al.'s archive (VideoPose3D ``data/prepare_data_h36m.py --from-archive``
  and ``data/prepare_data_2d_h36m_sh.py`` do not rename), while VideoPose3D's ``--from-source``
  conversions rename them (``canonical_name = action.replace('TakingPhoto', 'Photo')
  .replace('WalkingDog', 'WalkDog')``). :data:`RAW_GROUP_NAMES` maps the raw names onto the group,
  so ``'TakingPhoto 1'`` is in group ``Photo`` and ``'WalkingDog'`` in ``WalkDog``; the take keeps
  its own name (error messages and the 2D lookup use the file's keys).

With that, Human3.6M has exactly the 15 groups of the papers (:data:`H36M_ACTION_GROUPS`).

Selection (:func:`select_takes`, used by ``PoseDataset.sequences``) is exact, never by prefix:

* a group name selects every take of that group: ``Sitting`` selects ``'Sitting'`` and
  ``'Sitting 1'`` but not ``'SittingDown'``; ``Walking`` does not select ``WalkDog`` or
  ``WalkTogether`` (VideoPose3D's ``-a`` flag matched prefixes: ``Sitting`` also took
  ``SittingDown`` there);
* a raw group name selects its canonical group (``TakingPhoto`` -> ``Photo``);
* a dataset's own aliases (``PoseDataset.action_aliases``; HumanEva: ``Walk`` -> ``Walking``, the
  name VideoPose3D's README uses for HumanEva's benchmark, ``-a Walk,Jog,Box``) select their group;
* any other name must be the exact name of a take (``'Walking 1'`` selects that take only).

Anything else is one ConfigError line listing the dataset's groups.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from bench.errors import ConfigError

# The 15 action groups every Human3.6M paper reports (model-specs.md 5.5).
H36M_ACTION_GROUPS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
                      "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
                      "WalkTogether")

# Raw first words of take names -> their action group (Human3.6M S1's names, see the module docstring).
RAW_GROUP_NAMES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}


def action_group(take: str) -> str:
    """The action group of a take: the name up to the first space, canonicalised
    ('Walking 1' -> 'Walking', 'WalkTogether 1' -> 'WalkTogether', 'TakingPhoto 1' -> 'Photo')."""
    head = str(take).split(" ")[0]
    return RAW_GROUP_NAMES.get(head, head)


def canonical_take(take: str) -> str:
    """The take name with a raw group word canonicalised ('TakingPhoto 1' -> 'Photo 1')."""
    head, sep, rest = str(take).partition(" ")
    return RAW_GROUP_NAMES.get(head, head) + sep + rest


def match_take(take: str, names: Iterable[str]) -> str | None:
    """The key of ``names`` (the takes of the same subject in another file) that holds ``take``:
    the same name, else the one name with the same canonical name (a 3D file with S1's raw
    'TakingPhoto 1' and a 2D file converted with VideoPose3D's renaming, 'Photo 1', or the reverse);
    None when there is none or more than one."""
    names = list(names)
    if take in names:
        return take
    want = canonical_take(take)
    hits = [n for n in names if canonical_take(n) == want]
    return hits[0] if len(hits) == 1 else None


def action_groups(takes: Iterable[str]) -> list[str]:
    """The sorted action groups of ``takes``."""
    return sorted({action_group(t) for t in takes})


def select_takes(takes: Iterable[str], names: list[str], dataset: str = "",
                 aliases: Mapping[str, str] | None = None) -> set[str]:
    """The takes (of ``takes``, all takes of the dataset) that ``names`` select (module docstring).

    Raises ConfigError for a name that is neither a group, a raw group name, an alias nor a take.
    """
    takes = list(takes)
    groups = {action_group(t) for t in takes}
    by_name = set(takes)
    aliases = dict(aliases or {})
    chosen_groups, chosen_takes = set(), set()
    for name in names:
        group = name if name in groups else aliases.get(name, RAW_GROUP_NAMES.get(name, name))
        if group in groups:
            chosen_groups.add(group)
        elif name in by_name:
            chosen_takes.add(name)
        else:
            extra = f"; aliases: {', '.join(f'{a} -> {g}' for a, g in sorted(aliases.items()))}" if aliases else ""
            raise ConfigError(f"unknown action {name!r} in dataset {dataset}; known: "
                              f"{', '.join(sorted(groups))} (action groups, matched exactly; a take name "
                              f"such as 'Walking 1' selects that take only{extra})")
    return {t for t in takes if t in chosen_takes or action_group(t) in chosen_groups}
