"""`videocap.render`: the captioned video: masks, boxes, captions drawn; atomic writing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from support import SAMPLE, audio_seconds, ffmpeg, streams

from videocap.cli import main
from videocap.render import MASK_ALPHA
from videocap.results import CaptionResult
from videocap.video import Video, VideoReader


def result_colour(track):
    return track.colour


def test_captioned_video_decodes_with_masks_and_audio(captioned, shapes_audio):
    result, out, _ = captioned
    video = out / "captioned.mp4"
    assert "yuv420p" in "\n".join(streams(video)) and "Audio: aac" in "\n".join(streams(video))
    assert audio_seconds(video) == pytest.approx(4.0, abs=0.1)
    # The middle frame of each track: inside its mask the output is the source blended with its colour.
    wanted = {t.frames[len(t.frames) // 2].index: t for t in result.tracks}
    source = {f.index: f.image for f in VideoReader(SAMPLE) if f.index in wanted}
    with VideoReader(video) as reader:
        assert reader.info.frame_count == 100 and reader.info.fps == pytest.approx(25.0)
        assert (reader.info.width, reader.info.height) == (320, 240)
        rendered = {f.index: f.image for f in reader if f.index in wanted}
    changed = 0
    for index, track in wanted.items():
        frame = next(f for f in track.frames if f.index == index)
        inside = frame.mask.to_mask()
        src = source[index][inside].astype(float)
        expected = src * (1 - MASK_ALPHA) + np.array(result_colour(track)) * MASK_ALPHA
        got = rendered[index][inside].astype(float)
        assert np.median(np.abs(got - expected)) < 12, f"track {track.id} at frame {index}"
        changed += np.median(np.abs(got - src)) > 20
    assert changed >= 1


def test_render_refuses_another_video(captioned, tmp_path, capsys):
    _, out, _ = captioned
    other = tmp_path / "other.mp4"
    assert ffmpeg("-y", "-f", "lavfi", "-i", "color=gray:s=160x120:d=1:r=25", str(other)).returncode == 0
    assert main(["render", str(out / "captions.json"), "--video", str(other), "--out", str(tmp_path)]) == 2
    assert "not the video these captions were made from" in capsys.readouterr().err
    assert not (tmp_path / "captioned.mp4").exists()


def test_interrupted_render_leaves_no_video(captioned, tmp_path, monkeypatch):
    from videocap import outputs, render

    result = CaptionResult.from_json(json.loads((captioned[1] / "captions.json").read_text()))
    calls = []

    def broken(self, image, objects):
        calls.append(1)
        if len(calls) == 30:
            raise KeyboardInterrupt
        return image

    monkeypatch.setattr(render.Overlay, "draw", broken)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_outputs(result, tmp_path, Video(result.video.path), progress=False)
    assert not (tmp_path / "captioned.mp4").exists() and not (tmp_path / "captioned.mkv").exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]
