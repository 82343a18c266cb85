"""framestore: tracks' frames on disk read back exactly; pickled as plain lists; what TrackBuilder makes."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from videocap.io.framestore import FrameStore, StoredFrames
from videocap.masks import BoxMask
from videocap.results import Track, TrackFrame
from videocap.segment.detections import Detections
from videocap.segment.tracking import TrackBuilder


def frame(i: int) -> TrackFrame:
    mask = np.zeros((48, 64), bool)
    mask[10 + i % 5:30, 5:40 - i % 7] = True
    return TrackFrame(i * 2, i * 0.08, (5.0, 10.25, 40.5, 30.0), 0.5 + i / 100, BoxMask.from_mask(mask))


def test_frames_read_back_exactly():
    frames = StoredFrames(FrameStore())
    made = [frame(i) for i in range(20)]
    for f in made:
        frames.append(f)
    assert len(frames) == 20 and list(frames) == made and frames == made
    assert frames[0] == made[0] and frames[-1] == made[-1] and frames[3:6] == made[3:6]
    assert np.array_equal(frames[7].mask.to_mask(), made[7].mask.to_mask())
    with pytest.raises(IndexError):
        frames[20]
    copy = pickle.loads(pickle.dumps(Track(1, "circle", frames, [0, 19])))
    assert type(copy.frames) is list and copy.frames == made  # another process gets the frames themselves


def test_tracks_from_the_builder_live_on_disk():
    builder = TrackBuilder()
    for i in range(6):
        f = frame(i)
        builder.add(Detections(f.index, f.time, np.array([f.box, f.box]), np.array([f.score, 0.9]),
                               ("circle", "square"), np.array([1, 2]), (f.mask, f.mask)))
    first, second = builder.tracks()
    assert isinstance(first.frames, StoredFrames) and len(first.frames) == len(second.frames) == 6
    assert [f.index for f in first.frames] == [0, 2, 4, 6, 8, 10] and second.frames[5].score == 0.9
    assert Track.from_json(first.to_json(with_captions=False)).frames == list(first.frames)
