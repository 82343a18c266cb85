"""BatchedYoloTracker (videocap.segment.yolo): a batched detector that tracks as frame-by-frame tracking does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from videocap.io.encode import H264Writer
from videocap.io.video import Video
from videocap.masks import BoxMask
from videocap.resources import DEMO_CONFIG, SAMPLE_VIDEO
from videocap.segment.detections import Detections
from videocap.segment.tracking import BatchTracker, track_frames
from videocap.segment.yolo import BatchedYoloTracker, box_masks
from videocap.settings import load_config
from videocap.synthetic import make_clip
from videocap.testing.yolo_loop import YoloTracker

DEMO = load_config(DEMO_CONFIG)
SHAPES = ("circle", "square", "triangle", "star")


def frames_of(path: Path) -> list:
    video = Video(path)
    with video.read(video.resolve_range(None, None, 1)) as frames:
        return list(frames)


def tracked(tracker, frames) -> list[Detections]:
    return list(track_frames(frames, tracker))


def assert_same(got: list[Detections], want: list[Detections], box_atol: float = 0.0) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.frame_index == w.frame_index
        assert g.track_ids.tolist() == w.track_ids.tolist(), f"frame {w.frame_index}"
        assert g.masks == w.masks, f"frame {w.frame_index}"
        assert g.class_names == w.class_names
        np.testing.assert_allclose(g.boxes, w.boxes, rtol=0, atol=box_atol)
        np.testing.assert_allclose(g.scores, w.scores, rtol=0, atol=1e-5 if box_atol else 0)


@pytest.fixture(scope="module")
def trackers() -> tuple[YoloTracker, BatchedYoloTracker]:
    return (YoloTracker(DEMO["model"], SHAPES, imgsz=DEMO["imgsz"], device="cpu"),
            BatchedYoloTracker(DEMO["model"], SHAPES, imgsz=DEMO["imgsz"], device="cpu", batch_size=8))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    clip = make_clip(205, num_frames=48, num_objects=5)
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with H264Writer(path, clip.fps, clip.size, crf=18) as writer:
        for frame in clip.frames:
            writer.write(frame)
    return path


@pytest.mark.parametrize("source", ["sample", "generated"])
def test_batched_detector_tracks_as_frame_by_frame(trackers, generated, source) -> None:
    """Ids and masks are exactly those of ultralytics' own per-frame ``track``; boxes too at batch 1, and
    to 1e-3 px at batch 8 (the batched convolutions round differently in the last bits, about 1e-5 px)."""
    frames = frames_of(SAMPLE_VIDEO if source == "sample" else generated)
    per_frame, batched = trackers
    assert isinstance(batched, BatchTracker) and not isinstance(per_frame, BatchTracker)
    want = tracked(per_frame, frames)
    assert sum(len(d) for d in want) > 3 * len(frames)  # the clip has objects to track
    assert_same(tracked(batched, frames), want, box_atol=1e-3)
    batched.batch_size = 1
    try:
        assert_same(tracked(batched, frames), want)  # the tracking itself is ultralytics' to the bit
    finally:
        batched.batch_size = 8
    # A batch that ends mid-video (5 does not divide the frames) changes nothing either.
    batched.batch_size = 5
    try:
        assert_same(tracked(batched, frames), want, box_atol=1e-3)
    finally:
        batched.batch_size = 8


def test_live_ids_end_when_bytetrack_drops_a_track(trackers) -> None:
    """``live_ids`` after a batch: an id that is not in it has ended for good (it is never seen again)."""
    _, batched = trackers
    frames = frames_of(SAMPLE_VIDEO)
    seen: set[int] = set()
    ended: set[int] = set()
    batched.reset()
    for start in range(0, len(frames), batched.batch_size):
        for detections in batched.update_batch(frames[start:start + batched.batch_size]):
            ids = set(detections.track_ids.tolist())
            assert not ids & ended
            seen |= ids
        ended |= seen - batched.live_ids()
    assert ended  # the sample's objects leave and others come: some tracks end before the last frame


def test_box_masks_equal_the_frame_masks_cut() -> None:
    rng = np.random.default_rng(3)
    masks = np.zeros((3, 40, 60), np.float32)
    boxes = np.array([[5.2, 3.7, 20.1, 18.9], [0, 0, 60, 40], [30, 30, 31, 31]], np.float32)
    for m, (x0, y0, x1, y1) in zip(masks, boxes):
        m[int(y0):int(np.ceil(y1)), int(x0):int(np.ceil(x1))] = rng.random((int(np.ceil(y1)) - int(y0),
                                                                             int(np.ceil(x1)) - int(x0)))
    masks[2] = 0  # an empty mask
    import torch

    got = box_masks(torch.from_numpy(masks), boxes)
    assert got == tuple(BoxMask.from_mask(m, within=tuple(b)) for m, b in zip(masks, boxes))
    assert box_masks(torch.zeros(0, 40, 60), np.zeros((0, 4), np.float32)) == ()
