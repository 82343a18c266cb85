"""The synthetic shape generator: deterministic, truthful masks and motion words."""

from __future__ import annotations

import numpy as np

from videocap.synthetic import COLOURS, clip_truth, make_clip, motion_words


def test_same_seed_same_clip():
    a, b = make_clip(5, num_frames=6), make_clip(5, num_frames=6)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames, b.frames))
    assert clip_truth(a) == clip_truth(b)


def test_visible_masks_are_disjoint_and_coloured_like_their_object():
    clip = make_clip(11, num_frames=20, num_objects=5)
    for frame, masks in zip(clip.frames, clip.masks):
        total = np.zeros(frame.shape[:2], int)
        for object_id, mask in masks.items():
            total += mask
            colour = COLOURS[clip.objects[object_id - 1].colour]
            assert np.abs(frame[mask].mean(axis=0) - colour).max() < 6  # only sensor noise on top
        assert total.max() <= 1


def test_motion_words():
    assert motion_words((0.0, 0.0)) == "still"
    assert motion_words((2.0, 0.1)) == "right"
    assert motion_words((-2.0, 0.0)) == "left"
    assert motion_words((0.0, -2.0)) == "up"
    assert motion_words((1.5, 1.5)) == "down and to the right"


def test_truth_records_attributes_and_boxes():
    truth = clip_truth(make_clip(3, num_frames=10, num_objects=2))
    for obj in truth["objects"]:
        assert {"shape", "colour", "size", "motion", "frames", "boxes"} <= set(obj)
        assert len(obj["frames"]) == len(obj["boxes"])
