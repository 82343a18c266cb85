"""`videocap.results`: the records and their JSON files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from support import DEMO, SAMPLE, TOKENS

from videocap.pipeline import track_video
from videocap.results import CaptionResult, TrackingResult
from videocap.settings import TrackSettings


def test_captions_json(captioned):
    result, out, _ = captioned
    data = json.loads((out / "captions.json").read_text())
    assert data["schema"] == "videocap.captions/1"
    assert data["video"]["frame_count"] == 100 and data["video"]["has_audio"] is True
    assert data["models"]["segmentation"].endswith("shapes-yolo11n-seg.pt")
    assert data["models"]["captioning"].endswith("shapes-dam") and data["models"]["prompt_style"] == "dam-3b-video"
    assert data["captioning"]["max_new_tokens"] == TOKENS
    assert data["range"] == {"start_frame": 0, "end_frame": 100, "stride": 1, "frames_processed": 100,
                             "start_time": 0.0, "end_time": 4.0}
    for key in ("track_seconds", "caption_seconds", "render_seconds", "subtitles_seconds", "mkv_seconds",
                "total_seconds"):
        assert data["timing"][key] >= 0
    for track in data["tracks"]:
        assert track["label"] == f"circle #{track['id']}" and re.fullmatch(r"#[0-9a-f]{6}", track["colour"])
        assert len(track["keyframes"]) == 8
        [caption] = track["captions"]
        assert caption["start"] == track["first_time"] and caption["end"] > track["last_time"]
        assert caption["first_frame"] == track["first_frame"] and caption["last_frame"] == track["last_frame"]
        assert caption["keyframes"] == track["keyframes"] and isinstance(caption["text"], str)
        assert len(track["frames"]) == track["num_frames"]
    back = CaptionResult.from_json(data)
    assert [t.id for t in back.tracks] == [t.id for t in result.tracks]
    for back_track, track in zip(back.tracks, result.tracks, strict=True):
        for a, b in zip(back_track.captions, track.captions, strict=True):
            assert (a.text, a.keyframes, a.first_frame, a.last_frame) == (b.text, b.keyframes, b.first_frame, b.last_frame)
            assert (a.start, a.end) == pytest.approx((b.start, b.end), abs=1e-4)


def test_json_round_trip(tracker):
    settings = TrackSettings(classes=("star", "triangle"), segmenter_model=DEMO["model"], imgsz=DEMO["imgsz"], device="cpu")
    result = track_video(SAMPLE, settings, tracker, progress=False)
    data = json.loads(json.dumps(result.to_json()))
    assert data["schema"] == "videocap.tracks/1"
    assert data["settings"]["tracker"]["tracker_type"] == "bytetrack"
    assert data["video"]["frame_count"] == 100
    assert {t["class"] for t in data["tracks"]} == {"star", "triangle"}
    back = TrackingResult.from_json(data)
    assert [t.keyframe_positions for t in back.tracks] == [t.keyframe_positions for t in result.tracks]
    for a, b in zip(back.tracks, result.tracks):
        assert [f.index for f in a.frames] == [f.index for f in b.frames]
        assert all(np.array_equal(x.mask.to_mask(), y.mask.to_mask()) for x, y in zip(a.frames, b.frames))
