"""Keyframes: which K frames of a track DAM sees (DAM-3B-Video takes 8).

- ``uniform``: frames nearest to K evenly spaced times over the track's life (DAM's own choice
  for a video, applied to the track's span).
- ``quality``: the track's life is cut into K equal time bins and each bin gives its best frame,
  scored by mask area (relative to the track's largest), detection confidence, and a penalty when
  the box touches the frame edge (the object is probably cut off). Bins without frames (the
  object was occluded) are filled with the best unused frames.

A track with fewer than K frames still yields K inputs: its frames are repeated in order, each
about K/n times (``[0, 0, 0, 1, 1, 1, 2, 2]`` for 3 frames and K = 8), so the model gets the
number of images its prompt expects and the motion stays in order.
"""

from __future__ import annotations

import numpy as np

from videocap.results import Track
from videocap.settings import KEYFRAME_METHODS, TrackSettings


def _repeat(count: int, k: int) -> list[int]:
    return [i * count // k for i in range(k)]


def _increasing(choices: list[int], count: int) -> list[int]:
    """Make sorted picks strictly increasing inside [0, count) while staying near the wanted ones."""
    k = len(choices)
    picks = []
    for i, choice in enumerate(choices):
        low = picks[-1] + 1 if picks else 0
        picks.append(min(max(choice, low), count - k + i))
    return picks


def uniform_keyframes(track: Track, k: int = 8) -> list[int]:
    """Positions in ``track.frames`` of K frames evenly spread in time."""
    count = len(track.frames)
    if count <= k:
        return _repeat(count, k)
    times = np.array([f.time for f in track.frames])
    targets = np.linspace(times[0], times[-1], k)
    nearest = [int(np.abs(times - t).argmin()) for t in targets]
    return _increasing(nearest, count)


def frame_quality(track: Track) -> np.ndarray:
    """A score per frame in [0, 1]: relative mask area x confidence x (0.5 if cut by the frame edge)."""
    areas = np.array([f.mask.area for f in track.frames], np.float64)
    scores = np.array([f.score for f in track.frames], np.float64)
    frame_w, frame_h = track.frames[0].mask.frame_size
    edge = np.array([
        f.mask.x0 <= 0 or f.mask.y0 <= 0 or f.mask.x0 + f.mask.width >= frame_w or f.mask.y0 + f.mask.height >= frame_h
        for f in track.frames
    ])
    return areas / max(areas.max(), 1.0) * scores * np.where(edge, 0.5, 1.0)


def quality_keyframes(track: Track, k: int = 8) -> list[int]:
    """Positions in ``track.frames`` of the best frame in each of K equal time bins."""
    count = len(track.frames)
    if count <= k:
        return _repeat(count, k)
    quality = frame_quality(track)
    times = np.array([f.time for f in track.frames])
    edges = np.linspace(times[0], times[-1], k + 1)
    bins = np.clip(np.searchsorted(edges, times, side="right") - 1, 0, k - 1)
    picks: set[int] = set()
    for b in range(k):
        members = np.flatnonzero(bins == b)
        if members.size:
            picks.add(int(members[quality[members].argmax()]))
    for position in np.argsort(-quality, kind="stable"):  # bins left empty by occlusion
        if len(picks) == k:
            break
        picks.add(int(position))
    return sorted(picks)


def select_keyframes(track: Track, k: int = 8, method: str = "uniform") -> list[int]:
    """K positions in ``track.frames`` (sorted; repeated only when the track is shorter than K)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if method == "uniform":
        return uniform_keyframes(track, k)
    if method == "quality":
        return quality_keyframes(track, k)
    raise ValueError(f"unknown keyframe method {method!r}; choose from {', '.join(KEYFRAME_METHODS)}")


def keep_track(track: Track, settings: TrackSettings) -> bool:
    """Short or weakly detected tracks are usually spurious (a passing misdetection, two objects merged); an
    object the user pointed at is kept whatever its length and score."""
    return track.prompt is not None or (len(track.frames) >= settings.min_frames
                                        and track.mean_score >= settings.min_score)


def finish_tracks(tracks: list[Track], settings: TrackSettings) -> list[Track]:
    """The tracks the settings keep, each given its keyframes: the one step between tracking and captioning,
    whether the tracks ended during tracking or came whole from the cache."""
    kept = [t for t in tracks if keep_track(t, settings)]
    for track in kept:
        track.keyframe_positions = select_keyframes(track, settings.keyframe_count, settings.keyframe_method)
    return kept
