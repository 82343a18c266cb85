"""Orientation as a player shows it, and odd frame sizes.

Clips get a display matrix (``ffmpeg -display_rotation``, counter-clockwise degrees) without being
re-encoded: frames must come out turned, at the displayed size; tracking must give boxes in displayed
coordinates; the captioned video must have the displayed size. A 641x359 source keeps its size
everywhere but in the H.264 outputs, which are padded to 642x360 with copies of the last column and row.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from clips import ffmpeg_stderr, make_clip, read_code

from videocap.io.encode import ffmpeg_exe
from videocap.io.video import Video
from videocap.outputs.registry import write_outputs
from videocap.resources import DEMO_YOLO, SAMPLE_VIDEO
from videocap.results import CaptionResult, TrackingResult
from videocap.settings import CaptionSettings, TrackSettings


def _asymmetric(number: int, width: int, height: int) -> np.ndarray:
    """A frame no rotation maps onto itself: a bright block at the top left, a mid one at the bottom."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 3, : width // 4] = 250
    image[-height // 4:, width // 3: 2 * width // 3] = 120
    return image


def _rotated(source: Path, degrees: int, out: Path) -> Path:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-display_rotation", str(degrees), "-i", str(source),
                    "-c", "copy", str(out)], check=True)
    return out


@pytest.fixture(scope="module")
def upright(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("rot") / "upright.mp4", 10, size=(64, 48), pattern=_asymmetric)


def _frames(video: Video) -> list[np.ndarray]:
    with video.read() as frames:
        return [f.image for f in frames]


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_frames_come_turned_at_the_displayed_size(upright, degrees, tmp_path):
    video = Video(_rotated(upright, degrees, tmp_path / f"rot{degrees}.mp4"))
    expected_size = (48, 64) if degrees % 180 else (64, 48)
    assert (video.info.width, video.info.height) == expected_size and video.info.rotation == degrees
    plain = _frames(Video(upright))
    for turned, original in zip(_frames(video), plain, strict=True):
        want = np.rot90(original, k=degrees // 90)  # counter-clockwise, as the display matrix says
        assert np.abs(turned.astype(int) - want).mean() < 4

    result = CaptionResult(TrackingResult(video.info, TrackSettings(classes=("x",)), video.resolve_range(), []),
                           CaptionSettings(dam=None), 0.0, video.info.duration)
    write_outputs(result, tmp_path, video, progress=False)
    shown = Video(tmp_path / "captioned.mp4")
    assert (shown.info.width, shown.info.height) == expected_size and shown.info.rotation == 0
    assert np.abs(_frames(shown)[3].astype(int) - np.rot90(plain[3], k=degrees // 90)).mean() < 6


def test_tracking_boxes_are_in_displayed_coordinates(tmp_path):
    """The demo shapes tracked in the sample and in the sample turned 90 degrees: boxes turn with the picture."""
    from videocap.pipeline import track_video

    clip = tmp_path / "short.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(SAMPLE_VIDEO), "-t", "0.6", "-an", "-c", "copy",
                    str(clip)], check=True)
    turned = _rotated(clip, 90, tmp_path / "turned.mp4")
    settings = TrackSettings(classes=("circle",), segmenter_model=str(DEMO_YOLO), imgsz=256, device="cpu", min_frames=1,
                             min_score=0.5)
    plain, rotated = track_video(clip, settings, progress=False), track_video(turned, settings, progress=False)
    width = plain.video.width
    assert (rotated.video.width, rotated.video.height) == (plain.video.height, plain.video.width)
    expected = sorted(tuple(round(v) for v in (y0, width - x1, y1, width - x0))  # (x, y) -> (y, W - x)
                      for t in plain.tracks for (x0, y0, x1, y1) in [t.frames[2].box])
    got = sorted(tuple(round(v) for v in t.frames[2].box) for t in rotated.tracks)
    assert len(got) == len(expected) >= 1
    for a, b in zip(got, expected):
        assert np.abs(np.subtract(a, b)).max() <= 4, (got, expected)
    for t in rotated.tracks:
        assert t.frames[2].mask.frame_size == (rotated.video.width, rotated.video.height)


def test_an_odd_size_is_kept_and_padded_only_where_h264_needs_it(tmp_path):
    clip = make_clip(tmp_path / "odd.mkv", 8, size=(641, 359), codec=["-c:v", "ffv1"])
    video = Video(clip)
    assert (video.info.width, video.info.height) == (641, 359)
    source = _frames(video)
    assert source[0].shape == (359, 641, 3)
    result = CaptionResult(TrackingResult(video.info, TrackSettings(classes=("x",)), video.resolve_range(), []),
                           CaptionSettings(dam=None), 0.0, video.info.duration)
    write_outputs(result, tmp_path, video, progress=False)
    assert result.outputs["video_size"] == [642, 360]
    assert "642x360" in ffmpeg_stderr(tmp_path / "captioned.mp4")
    out = _frames(Video(tmp_path / "captioned.mp4"))
    for n, (got, want) in enumerate(zip(out, source, strict=True)):
        assert read_code(got[:359, :641]) == n
        assert np.abs(got[:359, :641].astype(int) - want).mean() < 3
        # the extra column and row repeat the last ones (no black line)
        assert np.abs(got[:359, 641].astype(int) - want[:, 640]).mean() < 8
        assert np.abs(got[359, :641].astype(int) - want[358, :]).mean() < 8
