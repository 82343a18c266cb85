"""Containers and codecs a user brings, each made by the bundled ffmpeg (1.2 s, 64x48, with audio):
every frame decodes as itself at its time, a range from the middle starts at the right frame, and the
captioned MP4 keeps the picture's timing and the audio (re-encoded to AAC, which every MP4 player takes).
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from clips import ffmpeg_stderr, make_clip, read_code

from videocap.io.encode import ffmpeg_exe
from videocap.io.video import Video
from videocap.outputs.registry import write_outputs
from videocap.results import CaptionResult, TrackingResult
from videocap.settings import CaptionSettings, TrackSettings

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


def _beep_clip(path, container_options: list[str], tmp_path) -> None:
    """A coded clip with a 1 kHz beep from 1.00 s to 1.10 s of the video's own timeline (silence elsewhere)."""
    silent = make_clip(tmp_path / "silent.mp4", 50)
    beep = "aevalsrc='if(between(t,1,1.1),sin(2*PI*1000*t),0)':s=48000:d=2"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), "-f", "lavfi", "-i", beep, "-map", "0:v",
                    "-map", "1:a", "-c:v", "copy", "-c:a", "aac", *container_options, str(path)], check=True)


def _beep_at(path) -> float:
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1",
                           "-ar", "8000", "pipe:1"], capture_output=True, check=True)
    return float(np.argmax(np.abs(np.frombuffer(done.stdout, np.int16)) > 3000)) / 8000


@pytest.mark.parametrize("name, options", [("late.mp4", ["-output_ts_offset", "1.5"]), ("late.ts", []),
                                           ("late.mkv", ["-output_ts_offset", "0.7"])])
def test_audio_stays_with_the_picture_in_a_range_of_a_file_starting_late(name, options, tmp_path):
    _beep_clip(tmp_path / name, options, tmp_path)
    video = Video(tmp_path / name)
    middle = video.resolve_range("0.5s", "1.6s")  # from frame 13 (0.52 s)
    start = video.time_of(middle.start)
    result = CaptionResult(TrackingResult(video.info, TrackSettings(classes=("x",)), middle, []),
                           CaptionSettings(dam=None), start, video.end_time(middle))
    write_outputs(result, tmp_path, video, progress=False)
    for output in ("captioned.mp4", "captioned.mkv"):
        assert _beep_at(tmp_path / output) == pytest.approx(1.0 - start, abs=0.005), output
