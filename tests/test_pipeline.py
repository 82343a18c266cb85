"""`videocap.pipeline`: whole runs of track/caption/image over the real stages (ffmpeg, ultralytics, DAM)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pysubs2
import pytest
from PIL import Image
from support import (
    DEMO,
    SAMPLE,
    audio_seconds,
    caption_settings,
    ffmpeg,
    streams,
    track_settings,
)

from videocap.cli import main
from videocap.io.staging import LEDGER_FILE
from videocap.io.video import VideoReader
from videocap.pipeline import caption_images, caption_video
from videocap.segment.yolo import YoloSegmenter
from videocap.settings import ImageSettings


def test_caption_writes_every_output(captioned):
    result, out, printed = captioned
    names = {p.name for p in out.iterdir()}
    assert {"captions.json", "captioned.mp4", "captioned.mkv", "captions.ass"} <= names
    assert len(result.tracks) >= 2
    for track in result.tracks:
        assert {f"circle-{track.id}.srt", f"circle-{track.id}.vtt"} <= names
    # nothing half-written left; the one hidden file is the folder's ledger of what videocap wrote
    assert [n for n in names if "partial" in n or n.startswith(".")] == [LEDGER_FILE]
    assert len(printed) == len(result.tracks)  # each caption reported as it was made
    # The bundled captioner describes the sample's two circles by their own colour and motion.
    texts = sorted(c.text for t in result.tracks for c in t.captions)
    assert any("red circle" in t and "right" in t for t in texts), texts
    assert any("blue circle" in t and "left" in t for t in texts), texts


def test_tracks_come_from_the_cache_when_only_dam_settings_change(captioned, shapes_audio, dam, dam_checkpoint,
                                                                   tmp_path):
    class NoTracking:
        def __getattr__(self, name):
            raise AssertionError("tracked again instead of using the cache")

    result = caption_video(shapes_audio, track_settings(min_frames=5, keyframe_count=4),
                           caption_settings(dam_checkpoint, max_new_tokens=4, temperature=0.0), tmp_path,
                           tracker=NoTracking(), model=dam, progress=False, render=False)
    assert result.timing["tracking_cached"] is True
    assert [t.id for t in result.tracks] == [t.id for t in captioned[0].tracks
                                                   if len(t.frames) >= 5]
    assert all(len(c.keyframes) == 4 for t in result.tracks for c in t.captions)
    assert not (tmp_path / "captioned.mp4").exists()


def test_range_stride_and_segments(shapes_audio, dam, dam_checkpoint, tracker, tmp_path):
    result = caption_video(shapes_audio, track_settings(start="1s", end="3s", stride=2),
                           caption_settings(dam_checkpoint, segment_seconds=0.6), tmp_path, tracker=tracker, model=dam,
                           progress=False)
    assert (result.frame_range.start, result.frame_range.end) == (25, 75)
    assert (result.start_time, result.end_time) == (1.0, 3.0)
    with VideoReader(tmp_path / "captioned.mp4") as reader:
        assert reader.info.frame_count == 50  # every frame of the range, not every processed one
    assert audio_seconds(tmp_path / "captioned.mp4") == pytest.approx(2.0, abs=0.1)
    long_track = max(result.tracks, key=lambda t: len(t.frames))
    captions = long_track.captions
    assert len(captions) >= 3
    for a, b in zip(captions, captions[1:]):
        assert a.end == b.start and b.start - a.start == pytest.approx(0.64, abs=0.1)  # 0.6 s of stride-2 frames
    assert all(1.0 <= c.start < c.end <= 3.0 for c in captions)
    subs = pysubs2.load(str(tmp_path / f"circle-{long_track.id}.srt"))
    assert len(subs.events) == len(captions)
    assert subs.events[0].start == pytest.approx((captions[0].start - 1.0) * 1000, abs=2)  # the output's timeline
    data = json.loads((tmp_path / "captions.json").read_text())
    track_json = next(t for t in data["tracks"] if t["id"] == long_track.id)
    assert len(track_json["captions"]) == len(captions)
    assert data["captioning"]["segment_seconds"] == 0.6


def test_no_object_gives_empty_but_valid_outputs(plain_video, dam_checkpoint, tmp_path, capsys):
    code = main(["caption", str(plain_video), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "no circle found in" in err and "wrote empty outputs" in err
    data = json.loads((tmp_path / "captions.json").read_text())
    assert data["tracks"] == [] and "caption_seconds" not in data["timing"]
    with VideoReader(tmp_path / "captioned.mp4") as reader:
        assert reader.info.frame_count == 50 and reader.info.has_audio
    assert audio_seconds(tmp_path / "captioned.mp4") == pytest.approx(2.0, abs=0.1)
    lines = streams(tmp_path / "captioned.mkv")
    assert not [line for line in lines if "Subtitle" in line] and any("Audio: aac" in line for line in lines)
    assert pysubs2.load(str(tmp_path / "captions.ass")).events == []
    assert not list(tmp_path.glob("*.srt"))


def test_trailer_with_audio(media_dir, dam_checkpoint, tmp_path, capsys):
    """A cut of a real film with stereo audio: the captioned video keeps it, whatever is found."""
    clip = tmp_path / "bbb.mp4"
    proc = ffmpeg("-y", "-ss", "20", "-t", "2", "-i", str(media_dir / "trailer_bbb.mp4"), "-vf", "scale=320:180",
                  "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(clip))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert main(["caption", str(clip), "--class", "circle", "--demo", "--dam", str(dam_checkpoint), "--max-new-tokens",
                 "4", "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "captions.json").read_text())
    with VideoReader(out / "captioned.mp4") as reader:
        assert reader.info.frame_count == data["video"]["frame_count"] == 48
        assert reader.info.has_audio
    assert audio_seconds(out / "captioned.mp4") == pytest.approx(2.0, abs=0.15)
    assert "stereo" in "\n".join(streams(out / "captioned.mkv"))
    capsys.readouterr()


def test_image_on_a_photo_and_a_folder(dam, dam_checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    frames = {f.index: f.image for f in VideoReader(SAMPLE) if f.index in (10, 80)}
    Image.fromarray(frames[10]).save(photos / "early.png")
    Image.fromarray(frames[80]).save(photos / "late.jpg", quality=95)
    (photos / "notes.txt").write_text("not a photo")
    settings = ImageSettings(classes=("circle",), segmenter_model=DEMO["model"], imgsz=DEMO["imgsz"], device="cpu")
    segmenter = YoloSegmenter(settings.segmenter_model, settings.classes, settings.conf, settings.imgsz, settings.device)
    results = [r.to_json() for r in caption_images(photos, settings, caption_settings(dam_checkpoint), tmp_path / "out",
                                                   segmenter=segmenter, model=dam, progress=False)]
    assert [Path(r["image"]["path"]).name for r in results] == ["early.png", "late.jpg"]
    for result, picture in zip(results, ("early.captioned.png", "late.captioned.jpg")):
        assert result["outputs"]["image"] == picture
        assert json.loads((tmp_path / "out" / result["outputs"]["json"]).read_text()) == result
        assert len(result["objects"]) >= 1
        for obj in result["objects"]:
            assert obj["class"] == "circle" and obj["label"] == f"circle #{obj['id']}" and "caption" in obj
            assert obj["mask"]["size"] == [240, 320]
        annotated = np.asarray(Image.open(tmp_path / "out" / picture))
        assert annotated.shape == (240, 320, 3)

    # The command on one photo: the same JSON, written where --out says.
    code = main(["image", str(photos / "early.png"), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--max-new-tokens", "4", "--out", str(tmp_path / "one")])
    assert code == 0
    one = json.loads((tmp_path / "one" / "early.json").read_text())
    assert len(one["objects"]) == len(results[0]["objects"])
    assert "object(s) captioned in 1 photo(s)" in capsys.readouterr().err
