"""The captioned video, the subtitles, the ASS file and the MKV's streams on the source's timeline.

Each test clip's frames carry their own number (tests/clips.py), so a decoded output frame says which
source frame it shows. Cases: two rates (25 then 12.5 frames/s), a 0.56 s gap, a 1.5 s start time, a
range cut from the middle across the rate change, display rotation, and an odd size.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pysubs2
import pytest
from clips import make_clip, read_code

from videocap.caption.jobs import make_jobs
from videocap.io.encode import ffmpeg_exe
from videocap.io.video import Video
from videocap.masks import BoxMask
from videocap.outputs.registry import write_outputs
from videocap.results import CaptionResult, Track, TrackFrame, TrackingResult
from videocap.settings import CaptionSettings, TrackSettings

SIZE = (160, 120)
VFR = "'if(lt(N,50),N/25,2+(N-50)/12.5)/TB'"  # 50 frames at 25/s, then 12.5/s: frame 50 at 2.00 s
GAP = "'if(lt(N,30),N/25,N/25+0.56)/TB'"  # 0.56 s without a frame after frame 29
MP4_MS = ["-video_track_timescale", "1000"]


def _result(video: Video, start=None, end=None, visible=(5, 25)) -> CaptionResult:
    """Captions of one made-up object (a small square, bottom right) seen in frames ``visible`` of the range."""
    settings = TrackSettings(classes=("dot",), start=start, end=end, keyframe_count=2)
    frame_range = video.resolve_range(start, end)
    width, height = video.info.width, video.info.height
    box = (width - 40.0, height - 20.0, width - 24.0, height - 6.0)
    mask = np.zeros((height, width), bool)
    mask[int(box[1]):int(box[3]), int(box[0]):int(box[2])] = True
    first, last = frame_range.start + visible[0], frame_range.start + visible[1]
    frames = [TrackFrame(i, video.time_of(i), box, 0.9, BoxMask.from_mask(mask, within=box))
              for i in range(first, last + 1)]
    track = Track(1, "dot", frames, [0, len(frames) - 1])
    start_time, end_time = video.time_of(frame_range.start), video.end_time(frame_range)
    for job in make_jobs([track], 1 / video.info.fps, end_time, None, settings):
        track.captions.append(job.caption("a dot"))
    return CaptionResult(TrackingResult(video.info, settings, frame_range, [track]), CaptionSettings(dam=None),
                         start_time, end_time)


def _shown_at(video: Video, time_: float) -> int:
    """The source frame a player shows at source time ``time_``."""
    return max(int(np.searchsorted(video.timestamps[:, 0], time_ + 1e-6, side="right")) - 1, 0)


def _check_picture(out_file: Path, video: Video, result: CaptionResult) -> None:
    """Every output frame at output time t is the source frame shown at start + t, within one frame."""
    output = Video(out_file)
    period = 1 / output.info.fps
    exact = 0
    with output.read() as frames:
        for frame in frames:
            t = result.start_time + frame.time
            code = read_code(frame.image)
            near = range(_shown_at(video, t - period - 1e-3), _shown_at(video, t + period + 1e-3) + 1)
            assert code in near, f"output {frame.time:.3f}s shows frame {code}, expected one of {list(near)}"
            exact += code == _shown_at(video, t)
    assert exact >= 0.95 * output.info.frame_count
    assert output.info.duration == pytest.approx(result.end_time - result.start_time, abs=period + 1e-3)


def _check_cues(out: Path, video: Video, result: CaptionResult) -> None:
    """The SRT cue, the ASS events and the MKV's subtitle stream cover the frames the object is visible in."""
    track = result.tracks[0]
    first = track.first.time - result.start_time
    last_end = (video.timestamps[track.last.index, 1]) - result.start_time  # the last frame's display ends
    frame = 1 / video.info.fps
    files = {"srt": out / "dot-1.srt", "ass": out / "captions.ass", "mkv": out / "from-mkv.ass"}
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(out / "captioned.mkv"), "-map", "0:s:0",
                    str(files["mkv"])], check=True)
    for name, path in files.items():
        events = pysubs2.load(str(path)).events
        start, end = min(e.start for e in events) / 1000, max(e.end for e in events) / 1000
        assert start == pytest.approx(first, abs=0.011), name
        assert end >= last_end - frame - 0.011 and end <= last_end + frame, name


def _case(tmp_path: Path, setpts: str, start=None, end=None, extra=None, frames=75) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames, setpts, SIZE, extra=extra)
    video = Video(clip)
    result = _result(video, start, end)
    out = tmp_path / "out"
    out.mkdir()
    write_outputs(result, out, video, progress=False)
    _check_picture(out / "captioned.mp4", video, result)
    _check_picture(out / "captioned.mkv", video, result)
    _check_cues(out, video, result)


def test_two_rates(tmp_path):
    _case(tmp_path, VFR, extra=MP4_MS)


def test_a_gap(tmp_path):
    _case(tmp_path, GAP, frames=60, extra=MP4_MS)


def test_a_start_time_that_is_not_zero(tmp_path):
    _case(tmp_path, "N/25/TB", extra=["-output_ts_offset", "1.5"], frames=50)


def test_a_range_from_the_middle_across_the_rate_change(tmp_path):
    _case(tmp_path, VFR, start="1.2s", end="3.6s", extra=MP4_MS)


def test_a_range_from_the_middle_of_a_clip_starting_late(tmp_path):
    _case(tmp_path, "N/25/TB", start="20", end="45", extra=["-output_ts_offset", "1.5"], frames=50)
