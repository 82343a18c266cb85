"""Segmentation + tracking with the real ultralytics model and ByteTrack, on generated videos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from videocap.io.encode import H264Writer
from videocap.pipeline import track_video
from videocap.resources import DEMO_CONFIG
from videocap.results import TrackingResult
from videocap.settings import TrackSettings, load_config
from videocap.synthetic import make_clip
from videocap.testing.track_metrics import iou, score_tracking
from videocap.testing.yolo_loop import YoloTracker

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "shapes.mp4"
DEMO = load_config(DEMO_CONFIG)
SHAPES = ("circle", "square", "triangle", "star")
#: Generated clips for the identity metrics: seeds far from the training seeds (1_000_000+).
EVAL_SEEDS = (101, 102, 103, 104)
MIN_VISIBLE_PIXELS = 60  # slivers at the frame edge or behind another object are not expected to be found


@pytest.fixture(scope="module")
def tracker() -> YoloTracker:
    return YoloTracker(DEMO["model"], SHAPES, imgsz=DEMO["imgsz"], device="cpu")


def settings(**kw) -> TrackSettings:
    return TrackSettings(classes=kw.pop("classes", SHAPES), segmenter_model=DEMO["model"], imgsz=DEMO["imgsz"], device="cpu", **kw)


def hypothesis_boxes(result: TrackingResult) -> dict:
    boxes: dict = {}
    for track in result.tracks:
        for f in track.frames:
            boxes.setdefault(f.index, {})[track.id] = f.box
    return boxes


def truth_boxes(clip) -> dict:
    boxes: dict = {}
    for t, masks in enumerate(clip.masks):
        for object_id, mask in masks.items():
            if mask.sum() >= MIN_VISIBLE_PIXELS:
                ys, xs = np.nonzero(mask)
                boxes.setdefault(t, {})[object_id] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def test_sample_circles_have_stable_ids_and_keyframes(tracker):
    truth = json.loads((REPO / "samples" / "shapes.truth.json").read_text())
    circles = {o["id"]: o for o in truth["objects"] if o["shape"] == "circle"}
    result = track_video(SAMPLE, settings(classes=("circle",)), tracker, progress=False)
    assert len(result.tracks) == len(circles) == 2
    for track in result.tracks:
        assert track.class_name == "circle"
        # Each track follows one circle: its boxes overlap that circle's true boxes.
        matched = {oid for oid, o in circles.items()
                   if np.mean([iou(f.box, o["boxes"][o["frames"].index(f.index)]) for f in track.frames
                               if f.index in o["frames"]]) > 0.7}
        assert len(matched) == 1
        assert len(track.frames) >= 0.85 * len(circles[matched.pop()]["frames"])
        keyframes = track.keyframe_positions
        assert len(keyframes) == 8 and keyframes == sorted(set(keyframes))


def test_identity_metrics_on_generated_clips(tracker, tmp_path):
    """Measured with the bundled model: MOTA 0.90, IDF1 0.94, HOTA 0.83, 7 ID switches on these 4 clips
    (about 900 ground-truth boxes, occlusions included); the thresholds leave a margin of about 5 % below."""
    all_scores = []
    for seed in EVAL_SEEDS:
        clip = make_clip(seed, num_frames=60, num_objects=4)
        path = tmp_path / f"clip{seed}.mp4"
        with H264Writer(path, clip.fps, clip.size, crf=18) as writer:
            for frame in clip.frames:
                writer.write(frame)
        result = track_video(path, settings(min_frames=1), tracker, progress=False)
        all_scores.append(score_tracking(truth_boxes(clip), hypothesis_boxes(result)))
    mota = np.mean([s.mota for s in all_scores])
    idf1 = np.mean([s.idf1 for s in all_scores])
    hota = np.mean([s.hota for s in all_scores])
    switches = sum(s.id_switches for s in all_scores)
    print(f"MOTA {mota:.3f} IDF1 {idf1:.3f} HOTA {hota:.3f} ID switches {switches}")
    assert mota >= 0.85
    assert idf1 >= 0.88
    assert hota >= 0.78
    assert switches <= 10


def test_stride_range_and_reset_between_videos(tracker):
    first = track_video(SAMPLE, settings(start="1s", end="3s", stride=2), tracker, progress=False)
    assert all((f.index - 25) % 2 == 0 and 25 <= f.index < 75 for t in first.tracks for f in t.frames)
    assert first.frame_range.start == 25 and first.frame_range.end == 75
    again = track_video(SAMPLE, settings(start="1s", end="3s", stride=2), tracker, progress=False)
    # A fresh tracker state for each video: the same ids and boxes come back.
    assert [t.id for t in again.tracks] == [t.id for t in first.tracks]
    assert [f.box for t in again.tracks for f in t.frames] == [f.box for t in first.tracks for f in t.frames]












