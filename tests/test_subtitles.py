"""`videocap.outputs.subtitles`: SRT, WebVTT and ASS, parsed back with pysubs2, webvtt-py, ffmpeg and libass."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pysubs2
import pytest
import webvtt
from PIL import Image
from support import SAMPLE, ffmpeg, hand_made_result

from videocap.outputs.subtitles import (
    ASS_CHUNK_SECONDS,
    AssWriter,
    Cue,
    ass_time,
    srt_document,
    srt_time,
    track_cues,
    vtt_document,
    vtt_time,
)


def test_subtitles_parse_back(captioned):
    result, out, _ = captioned
    for track in result.tracks:
        base = out / f"circle-{track.id}"
        for suffix in (".srt", ".vtt"):
            subs = pysubs2.load(str(base.with_suffix(suffix)))
            [event] = subs.events
            assert event.start == pytest.approx(track.first.time * 1000, abs=2)
            assert event.end == pytest.approx((track.last.time + 0.04) * 1000, abs=2)
            assert ffmpeg("-i", str(base.with_suffix(suffix)), "-f", "ass", "-").returncode == 0
        [cue] = webvtt.read(str(base.with_suffix(".vtt")))
        assert cue.voice == f"circle #{track.id}"
    ass = pysubs2.load(str(out / "captions.ass"))
    assert ass.info["PlayResX"] == "320" and ass.styles["Caption"].fontname == "Noto Sans CJK SC"
    for track in result.tracks:
        events = [e for e in ass.events if e.name == f"circle #{track.id}"]
        assert events, track.id
        assert any("\\move(" in e.text for e in events)  # the caption moves with its object
        assert min(e.start for e in events) == pytest.approx(track.first.time * 1000, abs=10)
    proc = ffmpeg("-i", str(out / "captions.ass"), "-f", "ass", "-")
    assert proc.returncode == 0 and proc.stdout.count("Dialogue:") == len(ass.events)
    # libass draws it (with the bundled font) over the video.
    from videocap.outputs.layout import font_path

    frame = out / "libass.png"
    proc = ffmpeg("-y", "-ss", "0.5", "-i", str(SAMPLE), "-vf",
                  f"ass={out / 'captions.ass'}:fontsdir={Path(font_path()).parent}", "-frames:v", "1", str(frame))
    assert proc.returncode == 0, proc.stderr
    plain = ffmpeg("-y", "-ss", "0.5", "-i", str(SAMPLE), "-frames:v", "1", str(out / "plain.png"))
    assert plain.returncode == 0
    assert np.abs(np.asarray(Image.open(frame), float) - np.asarray(Image.open(out / "plain.png"), float)).mean() > 1


@pytest.mark.parametrize("seconds, srt, vtt, ass", [
    (0.0, "00:00:00,000", "00:00:00.000", "0:00:00.00"),
    (59.9996, "00:01:00,000", "00:01:00.000", "0:01:00.00"),  # rounding carries into the minutes
    (3599.999, "00:59:59,999", "00:59:59.999", "1:00:00.00"),  # ASS has centiseconds: it rolls over
    (3600.0, "01:00:00,000", "01:00:00.000", "1:00:00.00"),
    (36125.5, "10:02:05,500", "10:02:05.500", "10:02:05.50"),
    (-1.0, "00:00:00,000", "00:00:00.000", "0:00:00.00"),
])
def test_time_formats_roll_over_hours(seconds, srt, vtt, ass):
    assert (srt_time(seconds), vtt_time(seconds), ass_time(seconds)) == (srt, vtt, ass)


def test_srt_and_vtt_cues_of_an_hour_long_track_parse_back():
    cues = [Cue(3599.5, 3601.25, "across the hour")]
    srt = pysubs2.SSAFile.from_string(srt_document(cues))
    assert (srt.events[0].start, srt.events[0].end) == (3599500, 3601250)
    assert "01:00:01.250" in vtt_document(cues, "circle #1")


def test_ass_position_is_updated_every_0_4_seconds_as_the_object_moves():
    result = hand_made_result(track_frames=50)  # 2 s at 25 fps, moving 4 px per frame
    ass = pysubs2.SSAFile.from_string(AssWriter(result).document())
    events = sorted(ass.events, key=lambda e: e.start)
    positions = []
    for e in events:
        move = re.search(r"\\move\((\d+),\d+,(\d+),\d+\)", e.text) or re.search(r"\\pos\((\d+),\d+\)()", e.text)
        x0 = int(move.group(1))
        positions.append((e.start, e.end, x0, int(move.group(2) or x0)))
    assert sum("\\move(" in e.text for e in events) == 5  # 0-0.4-0.8-1.2-1.6-1.96 s, then held still
    assert all(end - start <= ASS_CHUNK_SECONDS * 1000 + 10 for start, end, _, _ in positions)
    for start, end, x0, x1 in positions[:-1]:  # 100 px/s: the caption keeps pace with its object
        assert (x1 - x0) / ((end - start) / 1000) == pytest.approx(100, rel=0.03)
    assert all(a[3] == b[2] and a[1] == b[0] for a, b in zip(positions, positions[1:]))  # no jumps, no gaps


def test_cues_are_on_the_output_timeline():
    result = hand_made_result(start_time=10.0)  # a range that starts 10 s into the source
    [cue] = track_cues(result, result.tracks[0])
    assert cue.start == 0.0 and cue.end == pytest.approx(2.0)
    ass = pysubs2.SSAFile.from_string(AssWriter(result).document())
    assert min(e.start for e in ass.events) == 0
