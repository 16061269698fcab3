"""Splitting each clip into a test segment and training pieces, Human3.6M/HumanEva style.

docs/data-sources.md ("What this means"): splitting purely by clip leaves test motions unseen in
training; the stand-in instead holds out *frames* of every clip (and whole bodies, see build.py):

* every clip gives one contiguous test segment of :data:`TEST_FRACTION` of its frames; its start is
  drawn from a seed of the action name; if that would leave a training piece shorter than
  :data:`MIN_PIECE` frames on one side, the segment is moved to that end of the clip;
* :data:`GAP` frames (1 s at 50 Hz) on each side of the test segment are dropped, so training
  windows never see frames adjacent to test frames; each side is its own sequence;
* clip-length rule: cyclic clips (DeepMimic ``Loop: wrap``) shorter than 6 s are first looped
  to at least 6 s (clips.py, deepmimic.loop_clip); non-cyclic clips are never looped: when a clip is so
  short that a full gap would leave fewer than :data:`MIN_TRAIN` training frames (only the DeepMimic
  kick, 1.5 s), the gap shrinks to leave exactly :data:`MIN_TRAIN` frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEST_FRACTION = 0.25
GAP = 50
MIN_PIECE = 100
MIN_TRAIN = 25


@dataclass
class Split:
    """Frame ranges [start, stop) of one clip: the test segment and the training pieces."""

    n_frames: int
    test: tuple[int, int]
    train: list[tuple[int, int]]
    gap: int

    @property
    def dropped(self) -> int:
        return self.n_frames - (self.test[1] - self.test[0]) - sum(b - a for a, b in self.train)


def split_clip(n_frames: int, seed: int) -> Split:
    """Split ``n_frames`` frames (see the module docstring for the rule)."""
    assert n_frames >= 4 * MIN_TRAIN // 3 + 2, f"clip too short to split: {n_frames} frames"
    t = int(round(TEST_FRACTION * n_frames))
    gap = int(min(GAP, n_frames - t - MIN_TRAIN))
    rng = np.random.default_rng(seed)
    a = int(rng.integers(0, n_frames - t + 1))
    left = a - gap
    right = n_frames - (a + t + gap)
    if left < MIN_PIECE or right < MIN_PIECE:
        # Snap to the end whose piece is too short (the nearer end when both are).
        if left < MIN_PIECE and (right >= MIN_PIECE or left <= right):
            a = 0
        else:
            a = n_frames - t
    b = a + t
    train = []
    if a - gap > 0:
        train.append((0, a - gap))
    if b + gap < n_frames:
        train.append((b + gap, n_frames))
    return Split(n_frames, (a, b), train, gap)
