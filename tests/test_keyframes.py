"""Keyframe choice: K inputs per track, in order, spread in time, and the quality criteria."""

from __future__ import annotations

import numpy as np
import pytest

from videocap.caption.keyframes import select_keyframes
from videocap.masks import BoxMask
from videocap.results import Track, TrackFrame


def make_track(times, areas=None, scores=None, at_edge=()):
    frames = []
    for i, t in enumerate(times):
        side = int(np.sqrt(areas[i])) if areas is not None else 10
        mask = np.zeros((100, 100), bool)
        x0 = 0 if i in at_edge else 40
        mask[40:40 + side, x0:x0 + side] = True
        frames.append(TrackFrame(int(round(t * 10)), float(t), (x0, 40, x0 + side, 40 + side),
                                 scores[i] if scores is not None else 0.9, BoxMask.from_mask(mask)))
    return Track(1, "circle", frames)


@pytest.mark.parametrize("method", ["uniform", "quality"])
def test_short_tracks_repeat_frames_in_order(method):
    track = make_track([0.0, 0.1, 0.2])
    assert select_keyframes(track, 8, method) == [0, 0, 0, 1, 1, 1, 2, 2]
    assert select_keyframes(make_track([0.0]), 8, method) == [0] * 8


def test_uniform_is_even_in_time_not_in_frame_count():
    # Frames 0-9 then, after an occlusion gap, 50-59 (10 fps): times 0-0.9 and 5.0-5.9.
    times = [i / 10 for i in range(10)] + [5 + i / 10 for i in range(10)]
    picks = select_keyframes(make_track(times), 4, "uniform")
    assert [times[p] for p in picks] == pytest.approx([0.0, 0.9, 5.0, 5.9])


def test_uniform_on_a_regular_track_matches_linspace():
    picks = select_keyframes(make_track([i / 10 for i in range(100)]), 8, "uniform")
    assert picks == [int(round(x)) for x in np.linspace(0, 99, 8)]


def test_quality_prefers_large_confident_uncut_views_in_each_bin():
    n = 40
    areas = [100] * n
    scores = [0.5] * n
    for best in (3, 12, 25, 37):
        areas[best] = 400
    scores[18] = 0.99
    edge = {5, 6, 7}
    picks = select_keyframes(make_track([i / 10 for i in range(n)], areas, scores, at_edge=edge), 4, "quality")
    assert picks == [3, 12, 25, 37]
    assert not edge & set(select_keyframes(make_track([i / 10 for i in range(n)], at_edge=edge), 8, "quality"))


def test_quality_fills_bins_emptied_by_occlusion():
    times = [i / 10 for i in range(6)] + [9 + i / 10 for i in range(6)]
    picks = select_keyframes(make_track(times), 8, "quality")
    assert len(picks) == len(set(picks)) == 8 and picks == sorted(picks)


def test_bad_arguments():
    with pytest.raises(ValueError):
        select_keyframes(make_track([0.0]), 0)
    with pytest.raises(ValueError, match="unknown keyframe method"):
        select_keyframes(make_track([0.0]), 8, "best")
