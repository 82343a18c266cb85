"""Containers and codecs a user brings, each made by the bundled ffmpeg (1.2 s, 64x48, with audio):
every frame decodes as itself at its time, a range from the middle starts at the right frame, and the
captioned MP4 keeps the picture's timing and the audio (re-encoded to AAC, which every MP4 player takes).
"""

from __future__ import annotations

import re
import subprocess
import warnings

import numpy as np
import pytest
from clips import ffmpeg_stderr, make_clip, read_code

from videocap.errors import VideoNote
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


OLD_AVIS = {  # what old cameras and archives hold; the first is the one decord gives garbage times for
    "xvid-packed-bframes.avi": ["-c:v", "mpeg4", "-vtag", "xvid", "-bf", "2", "-q:v", "3"],
    "divx-msmpeg4v2.avi": ["-c:v", "msmpeg4v2", "-q:v", "3"],
    "cinepak.avi": ["-c:v", "cinepak"],
    "xvid.avi": ["-c:v", "mpeg4", "-vtag", "xvid", "-q:v", "3"],
}


def _ffmpeg_times(path) -> np.ndarray:
    """The presentation time of every frame as ffmpeg's own decoder gives it."""
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-copyts", "-i", str(path), "-map", "0:v:0", "-vf", "showinfo",
                           "-f", "null", "-"], capture_output=True, text=True, check=True)
    return np.array([float(t) for t in re.findall(r"pts_time:(-?[\d.]+)", done.stderr)])


@pytest.mark.parametrize("name", list(OLD_AVIS))
def test_old_avis_have_ffmpegs_times_ranges_and_frame_counts(name, tmp_path):
    clip = make_clip(tmp_path / name, FRAMES, codec=OLD_AVIS[name], audio=True)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        video = Video(clip)
    notes = [str(w.message) for w in said if issubclass(w.category, VideoNote)]
    assert len(notes) == (1 if "packed" in name else 0) and all("frame number / 25" in n for n in notes), notes
    own = _ffmpeg_times(clip)
    assert video.info.frame_count == len(own) == FRAMES
    assert np.allclose(video.timestamps[:, 0], own - own[0], atol=0.002)  # from 0, as the outputs count
    with video.read() as frames:
        assert [read_code(f.image) for f in frames] == list(range(FRAMES))
    middle = video.resolve_range("0.5s", "1s", stride=2)
    inside = [i for i, t in enumerate(own - own[0]) if 0.5 - 1e-6 <= t < 1 - 1e-6][::2]
    with video.read(middle) as frames:
        assert [(f.index, read_code(f.image)) for f in frames] == [(i, i) for i in inside]

    span = video.resolve_range("0.5s", "1s")
    result = CaptionResult(TrackingResult(video.info, TrackSettings(classes=("x",)), span, []),
                           CaptionSettings(dam=None), video.time_of(span.start), video.end_time(span))
    write_outputs(result, tmp_path, video, progress=False)
    with Video(tmp_path / "captioned.mp4").read() as frames:
        shown = [read_code(f.image) for f in frames]
    # one output frame per 1/25 s of the range: each source frame as long as the file shows it
    assert len(shown) == round((result.end_time - result.start_time) * 25)
    assert sorted(set(shown)) == list(range(span.start, span.end))


def _left_third_white(n, width, height) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 3] = 255
    return image


def test_non_square_pixels_come_out_at_the_displayed_aspect(tmp_path):
    """A 64x48 picture of 128:117 pixels (the SAR of PAL DV-like sources) shows 70x48: frames decode, and the
    captioned MP4 is written, at 70x48 in square pixels, the white third still a third."""
    clip = make_clip(tmp_path / "sar.mp4", 10, setpts="N/25/TB,setsar=128/117", pattern=_left_third_white)
    assert re.search(r"\[SAR (93:85|128:117) ", ffmpeg_stderr(clip))  # x264 stores 128:117 as 93:85
    video = Video(clip)
    assert (video.info.width, video.info.height) == (70, 48)
    with video.read() as frames:
        images = [f.image for f in frames]
    assert len(images) == 10 and images[0].shape == (48, 70, 3)
    white = (images[0][24, :, 0] > 128).sum()
    assert abs(white - 70 / 3) <= 2, white
    result = CaptionResult(TrackingResult(video.info, TrackSettings(classes=("x",)), video.resolve_range(), []),
                           CaptionSettings(dam=None), 0.0, video.end_time(video.resolve_range()))
    write_outputs(result, tmp_path, video, progress=False)
    shown = ffmpeg_stderr(tmp_path / "captioned.mp4")
    assert re.search(r", 70x48[, ]", shown) and not re.search(r"SAR (93:85|128:117)", shown), shown
