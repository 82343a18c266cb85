"""Helpers the end-to-end tests share: ffmpeg calls, demo-model settings."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from pathlib import Path

import numpy as np

from videocap.io.encode import ffmpeg_exe
from videocap.masks import BoxMask
from videocap.resources import DEMO_CONFIG
from videocap.results import (
    Caption,
    CaptionResult,
    FrameRange,
    Track,
    TrackFrame,
    TrackingResult,
    VideoInfo,
)
from videocap.settings import CaptionSettings, TrackSettings, load_config

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "shapes.mp4"
DEMO = load_config(DEMO_CONFIG)
SHAPES = ("circle", "square", "triangle", "star")
TOKENS = 24  # enough for the demo captioner's one-sentence captions


def ffmpeg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", *args], capture_output=True, text=True, timeout=120)


def streams(path: Path) -> list[str]:
    """The stream lines (and their metadata lines) that ``ffmpeg -i`` prints."""
    return [line.strip() for line in ffmpeg("-i", str(path)).stderr.splitlines()]


def audio_seconds(path: Path) -> float:
    """Length of the decoded audio, from ffmpeg's last progress time."""
    out = ffmpeg("-i", str(path), "-map", "0:a:0", "-f", "null", "-").stderr
    h, m, s = re.findall(r"time=(\d+):(\d+):([\d.]+)", out)[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def with_tone(video: Path, out: Path, seconds: float | None = None) -> Path:
    """``video`` with a 440 Hz tone as its audio track (the video stream copied)."""
    cut = ["-t", str(seconds)] if seconds else []
    proc = ffmpeg("-y", "-i", str(video), "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", *cut,
                  "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def track_settings(**kw) -> TrackSettings:
    return TrackSettings(classes=kw.pop("classes", ("circle",)), segmenter_model=DEMO["model"], imgsz=DEMO["imgsz"],
                         device="cpu", **kw)


def caption_settings(dam_checkpoint, **kw) -> CaptionSettings:
    return CaptionSettings(dam=str(dam_checkpoint), max_new_tokens=kw.pop("max_new_tokens", TOKENS), device="cpu", **kw)


def hand_made_result(track_frames: int = 50, fps: float = 25.0, caption: str = "a red circle", start_time: float = 0.0,
                     track_ids: tuple[int, ...] = (1,)):
    """A CaptionResult of tracks moving right across a 320x240 video, built by hand (no model runs)."""
    frames = []
    for i in range(track_frames):
        mask = np.zeros((240, 320), bool)
        mask[100:140, 10 + 4 * i:50 + 4 * i] = True
        frames.append(TrackFrame(i, start_time + i / fps, (10 + 4 * i, 100, 50 + 4 * i, 140), 0.9,
                                 BoxMask.from_mask(mask)))
    end = start_time + track_frames / fps
    tracks = [Track(i, "circle", frames, [0], [Caption(start_time, end, 0, track_frames - 1, [0], caption)])
              for i in track_ids]
    info = VideoInfo("v.mp4", fps, track_frames, 320, 240, track_frames / fps, False, "h264")
    tracking = TrackingResult(info, TrackSettings(classes=("circle",)), FrameRange(0, track_frames), tracks)
    return CaptionResult(tracking, CaptionSettings(dam="x"), start_time, end)


@contextlib.contextmanager
def cache_dir_env(folder: Path):
    """VIDEOCAP_CACHE_DIR set to ``folder`` for the block (the previous value back afterwards)."""
    old = os.environ.get("VIDEOCAP_CACHE_DIR")
    os.environ["VIDEOCAP_CACHE_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop("VIDEOCAP_CACHE_DIR", None)
        else:
            os.environ["VIDEOCAP_CACHE_DIR"] = old
