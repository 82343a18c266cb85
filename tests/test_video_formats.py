"""Containers and codecs a user brings, each made by the bundled ffmpeg (1.2 s, 64x48, with audio):
every frame decodes as itself at its time, a range from the middle starts at the right frame, and the
captioned MP4 keeps the picture's timing and the audio (re-encoded to AAC, which every MP4 player takes).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from clips import ffmpeg_stderr, make_clip, read_code

from videocap.encode import ffmpeg_exe
from videocap.outputs import write_outputs
from videocap.results import CaptionResult, TrackingResult
from videocap.settings import CaptionSettings, TrackSettings
from videocap.video import Video

FRAMES = 30  # 1.2 s at 25 frames/s
X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10"]
AAC = ["-c:a", "aac", "-b:a", "64k"]

FORMATS = {
    "h264-bframes.mp4": ["-c:v", "libx264", "-preset", "medium", "-bf", "3", "-pix_fmt", "yuv420p", "-g", "12",
                         *AAC],
    "hevc.mp4": ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-tag:v", "hvc1",
                 "-x265-params", "log-level=error:bframes=2", *AAC],
    "vp9.webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-pix_fmt", "yuv420p",
                 "-c:a", "libopus", "-b:a", "48k"],
    "h264.mov": [*X264, *AAC],
    "h264.mkv": [*X264, "-bf", "2", "-c:a", "libopus", "-b:a", "48k"],
    "h264.ts": [*X264, "-bf", "2", "-c:a", "mp2", "-b:a", "64k"],
}


def _audio_seconds(path) -> float:
    """Seconds of decoded audio in a file (0 when it has none)."""
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0?", "-f", "s16le", "-ac", "1",
                           "-ar", "8000", "pipe:1"], capture_output=True)
    return len(done.stdout) / 2 / 8000


@pytest.mark.parametrize("name", list(FORMATS))
def test_decodes_with_correct_timestamps_and_keeps_the_audio(name, tmp_path):
    clip = make_clip(tmp_path / name, FRAMES, codec=FORMATS[name], audio=True)
    video = Video(clip)
    assert video.info.frame_count == FRAMES and video.info.has_audio
    assert np.allclose(video.timestamps[:, 0], np.arange(FRAMES) / 25, atol=0.002), video.timestamps[:, 0]
    with video.read() as frames:
        assert [read_code(f.image) for f in frames] == list(range(FRAMES))
    middle = video.resolve_range("0.5s", "1s")
    with video.read(middle) as frames:
        assert [(f.index, read_code(f.image)) for f in frames] == [(i, i) for i in range(13, 25)]

    result = CaptionResult(TrackingResult(video.info, TrackSettings(classes=("x",)), middle, []),
                           CaptionSettings(dam=None), video.time_of(middle.start), video.end_time(middle))
    write_outputs(result, tmp_path, video, progress=False)
    shown = Video(tmp_path / "captioned.mp4")
    with shown.read() as frames:
        assert [read_code(f.image) for f in frames] == list(range(13, 25))
    assert shown.info.has_audio and "Audio: aac" in ffmpeg_stderr(tmp_path / "captioned.mp4")
    assert _audio_seconds(tmp_path / "captioned.mp4") == pytest.approx(0.48, abs=0.05)
