"""`videocap.subtitles`: SRT, WebVTT and ASS, parsed back with pysubs2, webvtt-py, ffmpeg and libass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysubs2
import pytest
import webvtt
from PIL import Image
from support import SAMPLE, ffmpeg


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
    from videocap.layout import font_path

    frame = out / "libass.png"
    proc = ffmpeg("-y", "-ss", "0.5", "-i", str(SAMPLE), "-vf",
                  f"ass={out / 'captions.ass'}:fontsdir={Path(font_path()).parent}", "-frames:v", "1", str(frame))
    assert proc.returncode == 0, proc.stderr
    plain = ffmpeg("-y", "-ss", "0.5", "-i", str(SAMPLE), "-frames:v", "1", str(out / "plain.png"))
    assert plain.returncode == 0
    assert np.abs(np.asarray(Image.open(frame), float) - np.asarray(Image.open(out / "plain.png"), float)).mean() > 1
