"""`videocap.outputs.render`: the captioned video: masks, boxes, captions drawn; atomic writing."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from support import SAMPLE, audio_seconds, ffmpeg, streams

from videocap.cli import main
from videocap.errors import UserError
from videocap.io.video import Video, VideoReader
from videocap.masks import BoxMask
from videocap.outputs.render import OUTLINE_TINT_ALPHA, DrawObject, Overlay, draw_mask
from videocap.results import CaptionResult
from videocap.settings import CaptionSettings


def result_colour(track):
    return track.colour


def test_captioned_video_decodes_with_masks_and_audio(captioned, shapes_audio):
    result, out, _ = captioned
    video = out / "captioned.mp4"
    assert "yuv420p" in "\n".join(streams(video)) and "Audio: aac" in "\n".join(streams(video))
    assert audio_seconds(video) == pytest.approx(4.0, abs=0.1)
    # The middle frame of each track: inside its mask the output is the source under a light tint of its colour
    # (the default overlay: an outline in its colour over a light tint).
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
        expected = src * (1 - OUTLINE_TINT_ALPHA) + np.array(result_colour(track)) * OUTLINE_TINT_ALPHA
        got = rendered[index][inside].astype(float)
        assert np.median(np.abs(got - expected)) < 12, f"track {track.id} at frame {index}"
        changed += np.median(np.abs(got - src)) > 3
    assert changed >= 1


def test_render_refuses_another_video(captioned, tmp_path, capsys):
    _, out, _ = captioned
    other = tmp_path / "other.mp4"
    assert ffmpeg("-y", "-f", "lavfi", "-i", "color=gray:s=160x120:d=1:r=25", str(other)).returncode == 0
    assert main(["render", str(out / "captions.json"), "--video", str(other), "--out", str(tmp_path)]) == 2
    assert "not the video these captions were made from" in capsys.readouterr().err
    assert not (tmp_path / "captioned.mp4").exists()


def test_interrupted_render_leaves_no_video(captioned, tmp_path, monkeypatch):
    from videocap.outputs import registry as outputs
    from videocap.outputs import render

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


# -- mask overlay styles: the default outline keeps the object's own colour recognisable --

BLUE, GREEN = (0, 130, 200), (60, 180, 75)  # the object's own colour; its track's colour


def blue_disc() -> tuple[np.ndarray, np.ndarray]:
    image = np.full((120, 160, 3), 128, np.uint8)
    disc = np.zeros((120, 160), np.uint8)
    cv2.circle(disc, (80, 60), 30, 1, -1)
    image[disc > 0] = BLUE
    return image, disc > 0


def interior_and_rim(disc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    kernel = np.ones((3, 3), np.uint8)
    inner = cv2.erode(disc.astype(np.uint8), kernel, iterations=5) > 0
    rim = disc & ~(cv2.erode(disc.astype(np.uint8), kernel, iterations=1) > 0)
    return inner, rim


def test_outline_keeps_the_objects_colour_and_draws_the_track_colour_around_it():
    image, disc = blue_disc()
    out = image.copy()
    draw_mask(out, BoxMask.from_mask(disc), GREEN, "outline", 2)
    inner, rim = interior_and_rim(disc)
    inside = out[inner].astype(float).mean(axis=0)
    assert np.abs(inside - BLUE).max() < 0.15 * 255  # at most a light tint
    assert inside.argmax() == 2  # still blue, not teal
    rim_colour = out[rim].astype(float).mean(axis=0)
    assert np.abs(rim_colour - GREEN).max() < 40  # the outline is the track's colour


def test_tint_and_none():
    image, disc = blue_disc()
    inner, _ = interior_and_rim(disc)
    tinted = image.copy()
    draw_mask(tinted, BoxMask.from_mask(disc), GREEN, "tint", 2)
    inside = tinted[inner].astype(float).mean(axis=0)
    assert np.abs(inside - BLUE).max() > 0.2 * 255 and inside.argmax() != 2  # the strong tint: blue looks teal
    untouched = image.copy()
    draw_mask(untouched, BoxMask.from_mask(disc), GREEN, "none", 2)
    assert np.array_equal(untouched, image)


def test_overlay_draws_in_its_style_and_always_the_box():
    image, disc = blue_disc()
    obj = DrawObject(1, "circle #1", GREEN, (50.0, 30.0, 111.0, 91.0), BoxMask.from_mask(disc), [])
    inner, _ = interior_and_rim(disc)
    for style in ("outline", "tint", "none"):
        out = Overlay((160, 120), overlay=style).draw(image, [obj])
        assert tuple(out[60, 50]) == GREEN  # the box's left edge
        changed = np.abs(out[inner].astype(int) - image[inner]).max()
        assert (changed == 0) == (style == "none")


def test_overlay_setting_is_checked_and_recorded():
    assert CaptionSettings().overlay == "outline"
    assert CaptionSettings.from_config({"overlay": "tint"}).overlay == "tint"
    assert CaptionSettings.from_config({"overlay": "tint"}, overlay="none").overlay == "none"
    with pytest.raises(UserError, match="overlay 'glow': choose from outline, tint, none"):
        CaptionSettings(overlay="glow")


def test_photos_are_drawn_in_the_overlay_style():
    from videocap.outputs.photos import annotate
    from videocap.results import Caption, Track, TrackFrame

    image, disc = blue_disc()
    photo = Track(2, "circle", [TrackFrame(0, 0.0, (50.0, 30.0, 111.0, 91.0), 0.9, BoxMask.from_mask(disc))], [0])
    photo.captions = [Caption(0.0, 0.0, 0, 0, [0], "a blue circle")]
    assert photo.colour == GREEN
    inner, rim = interior_and_rim(disc)
    by_style = {style: annotate(image, [photo], style) for style in ("outline", "tint", "none")}
    assert by_style["outline"][inner].astype(float).mean(axis=0).argmax() == 2
    assert np.abs(by_style["outline"][rim].astype(float).mean(axis=0) - photo.colour).max() < 40
    assert by_style["tint"][inner].astype(float).mean(axis=0).argmax() != 2
    assert np.array_equal(by_style["none"][inner], image[inner])
