"""Captions made while tracking goes on (videocap.caption.early) equal the sequential order's."""

from __future__ import annotations

import pytest

from videocap.pipeline import caption_video
from videocap.resources import DEMO_CONFIG, SAMPLE_VIDEO
from videocap.segment.yolo import BatchedYoloTracker
from videocap.settings import CaptionSettings, TrackSettings, load_config

DEMO = load_config(DEMO_CONFIG)
SHAPES = ("circle", "square", "triangle", "star")


@pytest.fixture(scope="module")
def dam(dam_checkpoint):
    import torch

    from videocap.dam import DamModel

    torch.set_num_threads(1)
    return DamModel.from_pretrained(dam_checkpoint, device="cpu")


def captions(result) -> dict:
    return {t.id: [(c.start, c.end, c.first_frame, c.last_frame, c.keyframes, c.text) for c in t.captions]
            for t in result.tracks}


@pytest.mark.parametrize("sampling", [{"temperature": 0.0}, {"temperature": 0.7, "seed": 3}])
def test_overlapped_captions_equal_sequential(dam, dam_checkpoint, tmp_path, sampling) -> None:
    """Greedy, and seeded sampling (each job has its own seed): the same captions, whatever the order."""
    track = TrackSettings(classes=SHAPES, segmenter_model=DEMO["model"], imgsz=DEMO["imgsz"], device="cpu", min_score=0.75)
    # Batches of 3 over several tracks: the overlapped batches are not the sequential ones.
    settings = CaptionSettings(dam=str(dam_checkpoint), max_new_tokens=12, device="cpu", batch_size=3, **sampling)
    tracker = BatchedYoloTracker(DEMO["model"], SHAPES, imgsz=DEMO["imgsz"], device="cpu")
    seen: list[int] = []
    kwargs = dict(tracker=tracker, model=dam, progress=False, use_cache=False, render=False)
    sequential = caption_video(SAMPLE_VIDEO, track, settings, tmp_path / "seq", overlap=False, **kwargs)
    overlapped = caption_video(SAMPLE_VIDEO, track, settings, tmp_path / "ovl", overlap=True,
                               on_caption=lambda t, c: seen.append(t.id), **kwargs)
    assert len(sequential.tracks) >= 4 and sequential.caption_count == len(sequential.tracks)
    assert captions(overlapped) == captions(sequential)
    assert sorted(seen) == sorted(t.id for t in overlapped.tracks)
    assert overlapped.timing["captioned_while_tracking"] and "captioned_while_tracking" not in sequential.timing
    assert (tmp_path / "ovl" / "captions.json").read_text().count('"text"') == overlapped.caption_count
