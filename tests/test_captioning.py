"""`videocap caption`, `image`, `render` and `subtitles` end to end: real ffmpeg, ultralytics and DAM code.

DAM runs from the tiny random-weight checkpoint of ../shared (gibberish captions, real plumbing) until
the bundled demo captioner lands; YOLO is the bundled demo model. Captioned videos are decoded back,
subtitles parsed back with ffmpeg, pysubs2 and webvtt-py.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysubs2
import pytest
import webvtt
from PIL import Image

from videocap.captioning import segments
from videocap.pipeline import caption_images, caption_video
from videocap.results import CaptionResult
from videocap.settings import CaptionSettings, ImageSettings, TrackSettings
from videocap.cli import main
from videocap.resources import DEMO_CONFIG
from videocap.settings import load_config
from videocap.encode import ffmpeg_exe
from videocap.render import OUTLINE_TINT_ALPHA
from videocap.yolo import YoloSegmenter, YoloTracker
from videocap.video import Video, VideoReader

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "shapes.mp4"
DEMO = load_config(DEMO_CONFIG)
SHAPES = ("circle", "square", "triangle", "star")
TOKENS = 24  # enough for the demo captioner's one-sentence captions


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """A tracking cache of this module's own (tests never touch ~/.cache)."""
    folder = tmp_path_factory.mktemp("cache")
    old = os.environ.get("VIDEOCAP_CACHE_DIR")
    os.environ["VIDEOCAP_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("VIDEOCAP_CACHE_DIR", None)
    else:
        os.environ["VIDEOCAP_CACHE_DIR"] = old


@pytest.fixture(scope="module", autouse=True)
def pil_open_restored():
    """ultralytics replaces PIL's Image.open on import (its opener pip-installs a HEIF plugin for any file
    Pillow cannot identify); give the modules tested after this one Pillow's own again."""
    from PIL import Image

    original = Image.open
    yield
    Image.open = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", original)


@pytest.fixture(scope="module")
def dam(dam_checkpoint):
    import torch

    from videocap.dam import DamModel

    torch.set_num_threads(1)
    return DamModel.from_pretrained(dam_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def tracker():
    return YoloTracker(DEMO["model"], SHAPES, imgsz=DEMO["imgsz"], device="cpu")


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
    return TrackSettings(classes=kw.pop("classes", ("circle",)), model=DEMO["model"], imgsz=DEMO["imgsz"],
                         device="cpu", **kw)


def caption_settings(dam_checkpoint, **kw) -> CaptionSettings:
    return CaptionSettings(dam=str(dam_checkpoint), max_new_tokens=kw.pop("max_new_tokens", TOKENS), device="cpu", **kw)


@pytest.fixture(scope="module")
def shapes_audio(tmp_path_factory) -> Path:
    return with_tone(SAMPLE, tmp_path_factory.mktemp("media") / "shapes-audio.mp4")


@pytest.fixture(scope="module")
def captioned(shapes_audio, dam, dam_checkpoint, tracker, tmp_path_factory):
    out = tmp_path_factory.mktemp("captioned")
    printed = []
    result = caption_video(shapes_audio, track_settings(), caption_settings(dam_checkpoint), out, tracker=tracker,
                           model=dam, progress=False, on_caption=lambda job, text: printed.append((job, text)))
    return result, out, printed


def test_caption_writes_every_output(captioned):
    result, out, printed = captioned
    names = {p.name for p in out.iterdir()}
    assert {"captions.json", "captioned.mp4", "captioned.mkv", "captions.ass"} <= names
    assert len(result.tracks) >= 2
    for track in result.tracks:
        assert {f"circle-{track.id}.srt", f"circle-{track.id}.vtt"} <= names
    assert not [n for n in names if "partial" in n or n.startswith(".")]  # nothing half-written left
    assert len(printed) == len(result.tracks)  # each caption reported as it was made
    # The bundled captioner describes the sample's two circles by their own colour and motion.
    texts = sorted(c.text for t in result.tracks for c in t.captions)
    assert any("red circle" in t and "right" in t for t in texts), texts
    assert any("blue circle" in t and "left" in t for t in texts), texts


def test_captions_json(captioned):
    result, out, _ = captioned
    data = json.loads((out / "captions.json").read_text())
    assert data["schema"] == "videocap.captions/1"
    assert data["video"]["frame_count"] == 100 and data["video"]["has_audio"] is True
    assert data["models"]["segmentation"].endswith("shapes-yolo11n-seg.pt")
    assert data["models"]["captioning"].endswith("shapes-dam") and data["models"]["prompt_style"] == "dam-3b-video"
    assert data["captioning"]["max_new_tokens"] == TOKENS
    assert data["range"] == {"start_frame": 0, "end_frame": 100, "stride": 1, "frames_processed": 100,
                             "start_time": 0.0, "end_time": 4.0}
    for key in ("track_seconds", "caption_seconds", "render_seconds", "subtitles_seconds", "mkv_seconds",
                "total_seconds"):
        assert data["timing"][key] >= 0
    for track in data["tracks"]:
        assert track["label"] == f"circle #{track['id']}" and re.fullmatch(r"#[0-9a-f]{6}", track["colour"])
        assert len(track["keyframes"]) == 8
        [caption] = track["captions"]
        assert caption["start"] == track["first_time"] and caption["end"] > track["last_time"]
        assert caption["first_frame"] == track["first_frame"] and caption["last_frame"] == track["last_frame"]
        assert caption["keyframes"] == track["keyframes"] and isinstance(caption["text"], str)
        assert len(track["frames"]) == track["num_frames"]
    back = CaptionResult.from_json(data)
    assert [t.id for t in back.tracks] == [t.id for t in result.tracks]
    for back_track, track in zip(back.tracks, result.tracks, strict=True):
        for a, b in zip(back_track.captions, track.captions, strict=True):
            assert (a.text, a.keyframes, a.first_frame, a.last_frame) == (b.text, b.keyframes, b.first_frame, b.last_frame)
            assert (a.start, a.end) == pytest.approx((b.start, b.end), abs=1e-4)


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


def result_colour(track):
    return track.colour


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


def test_mkv_has_a_titled_subtitle_stream_per_object(captioned):
    result, out, _ = captioned
    lines = streams(out / "captioned.mkv")
    subtitle_streams = [line for line in lines if "Subtitle: ass" in line]
    assert len(subtitle_streams) == len(result.tracks)
    assert all("(eng)" in line for line in subtitle_streams)
    titles = [line.split(":", 1)[1].strip() for line in lines if line.startswith("title")]
    assert titles == [f"circle #{t.id}" for t in result.tracks]
    assert any("Audio: aac" in line for line in lines) and any("Video: h264" in line for line in lines)
    # Each stream holds its object's caption events.
    proc = ffmpeg("-i", str(out / "captioned.mkv"), "-map", "0:s:0", "-f", "srt", "-")
    assert proc.returncode == 0 and "-->" in proc.stdout


def test_tracks_come_from_the_cache_when_only_dam_settings_change(captioned, shapes_audio, dam, dam_checkpoint,
                                                                   tmp_path):
    class NoTracking:
        def __getattr__(self, name):
            raise AssertionError("tracked again instead of using the cache")

    result = caption_video(shapes_audio, track_settings(min_frames=5, keyframes=4),
                           caption_settings(dam_checkpoint, max_new_tokens=4, temperature=0.0), tmp_path,
                           tracker=NoTracking(), model=dam, progress=False, render=False)
    assert result.timing["tracking_cached"] is True
    assert [t.id for t in result.tracks] == [t.id for t in captioned[0].tracks
                                                   if len(t.frames) >= 5]
    assert all(len(c.keyframes) == 4 for t in result.tracks for c in t.captions)
    assert not (tmp_path / "captioned.mp4").exists()


def test_range_stride_and_segments(shapes_audio, dam, dam_checkpoint, tracker, tmp_path):
    result = caption_video(shapes_audio, track_settings(start="1s", end="3s", stride=2),
                           caption_settings(dam_checkpoint, segment_seconds=0.6), tmp_path, tracker=tracker, model=dam,
                           progress=False)
    assert (result.frame_range.start, result.frame_range.end) == (25, 75)
    assert (result.start_time, result.end_time) == (1.0, 3.0)
    with VideoReader(tmp_path / "captioned.mp4") as reader:
        assert reader.info.frame_count == 50  # every frame of the range, not every processed one
    assert audio_seconds(tmp_path / "captioned.mp4") == pytest.approx(2.0, abs=0.1)
    long_track = max(result.tracks, key=lambda t: len(t.frames))
    captions = long_track.captions
    assert len(captions) >= 3
    for a, b in zip(captions, captions[1:]):
        assert a.end == b.start and b.start - a.start == pytest.approx(0.64, abs=0.1)  # 0.6 s of stride-2 frames
    assert all(1.0 <= c.start < c.end <= 3.0 for c in captions)
    subs = pysubs2.load(str(tmp_path / f"circle-{long_track.id}.srt"))
    assert len(subs.events) == len(captions)
    assert subs.events[0].start == pytest.approx((captions[0].start - 1.0) * 1000, abs=2)  # the output's timeline
    data = json.loads((tmp_path / "captions.json").read_text())
    track_json = next(t for t in data["tracks"] if t["id"] == long_track.id)
    assert len(track_json["captions"]) == len(captions)
    assert data["captioning"]["segment_seconds"] == 0.6


def test_segments_join_a_short_tail():
    from videocap.results import Track, TrackFrame

    frames = [TrackFrame(i, i / 10, (0, 0, 1, 1), 1.0, None) for i in range(22)]
    pieces = segments(Track(1, "circle", frames), 1.0, min_frames=3)
    assert [len(p) for p in pieces] == [10, 12]  # a 2-frame tail joins the piece before
    assert [len(p) for p in segments(Track(1, "circle", frames), None)] == [22]


NASTY = "Un {\\b1}cercle\\N --> rouge\n\n<b>gras</b> & 円形の物体\x07 fin"


def test_render_and_subtitles_from_saved_json(captioned, tmp_path, capsys):
    _, out, _ = captioned
    data = json.loads((out / "captions.json").read_text())
    for track in data["tracks"]:
        track["captions"][0]["text"] = NASTY
    saved = tmp_path / "captions.json"
    saved.write_text(json.dumps(data, ensure_ascii=False))
    assert main(["subtitles", str(saved)]) == 0
    track_id = data["tracks"][0]["id"]
    srt = (tmp_path / f"circle-{track_id}.srt").read_text()
    assert "cercle\\N -> rouge <b>" not in srt and srt.count("-->") == 1 and "\n\n\n" not in srt
    assert "‹b>gras‹/b>" in srt and "円形の物体 fin" in srt and "\x07" not in srt
    [cue] = webvtt.read(str(tmp_path / f"circle-{track_id}.vtt"))
    assert cue.voice == f"circle #{track_id}"
    assert html.unescape(cue.text) == "Un {\\b1}cercle\\N --> rouge <b>gras</b> & 円形の物体 fin"
    vtt = (tmp_path / f"circle-{track_id}.vtt").read_text()
    assert "--&gt; rouge &lt;b&gt;gras&lt;/b&gt; &amp; 円形" in vtt
    ass = pysubs2.load(str(tmp_path / "captions.ass"))
    texts = [e.text for e in ass.events if e.name == f"circle #{track_id}"]
    assert texts and all("{\\b1}" not in t and "｛＼b1｝" in "".join(texts) for t in texts)
    assert all(t.count("{") == 3 for t in texts)  # only videocap's own: position, label colour, text colour
    assert ffmpeg("-i", str(tmp_path / "captions.ass"), "-f", "ass", "-").returncode == 0

    assert main(["render", str(saved), "--quiet"]) == 0
    with VideoReader(tmp_path / "captioned.mp4") as reader:
        assert reader.info.frame_count == 100 and reader.info.has_audio
    assert len([line for line in streams(tmp_path / "captioned.mkv") if "Subtitle: ass" in line]) == len(data["tracks"])
    assert "wrote captions.json, captioned.mp4, captioned.mkv" in capsys.readouterr().err


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


def test_image_on_a_photo_and_a_folder(dam, dam_checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    frames = {f.index: f.image for f in VideoReader(SAMPLE) if f.index in (10, 80)}
    Image.fromarray(frames[10]).save(photos / "early.png")
    Image.fromarray(frames[80]).save(photos / "late.jpg", quality=95)
    (photos / "notes.txt").write_text("not a photo")
    settings = ImageSettings(classes=("circle",), model=DEMO["model"], imgsz=DEMO["imgsz"], device="cpu")
    segmenter = YoloSegmenter(settings.model, settings.classes, settings.conf, settings.imgsz, settings.device)
    results = [r.to_json() for r in caption_images(photos, settings, caption_settings(dam_checkpoint), tmp_path / "out",
                                                   segmenter=segmenter, model=dam, progress=False)]
    assert [Path(r["image"]["path"]).name for r in results] == ["early.png", "late.jpg"]
    for result, picture in zip(results, ("early.captioned.png", "late.captioned.jpg")):
        assert result["outputs"]["image"] == picture
        assert json.loads((tmp_path / "out" / result["outputs"]["json"]).read_text()) == result
        assert len(result["objects"]) >= 1
        for obj in result["objects"]:
            assert obj["class"] == "circle" and obj["label"] == f"circle #{obj['id']}" and "caption" in obj
            assert obj["mask"]["size"] == [240, 320]
        annotated = np.asarray(Image.open(tmp_path / "out" / picture))
        assert annotated.shape == (240, 320, 3)

    # The command on one photo: the same JSON, written where --out says.
    code = main(["image", str(photos / "early.png"), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--max-new-tokens", "4", "--out", str(tmp_path / "one")])
    assert code == 0
    one = json.loads((tmp_path / "one" / "early.json").read_text())
    assert len(one["objects"]) == len(results[0]["objects"])
    assert "object(s) captioned in 1 photo(s)" in capsys.readouterr().err


def test_cli_caption_end_to_end(shapes_audio, dam_checkpoint, tmp_path):
    """The real console entry: captions on stdout as they come, progress and summary on stderr."""
    proc = subprocess.run([sys.executable, "-m", "videocap", "caption", str(shapes_audio), "--class", "circle",
                           "--demo", "--dam", str(dam_checkpoint), "--max-new-tokens", "6", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(re.match(r"circle #\d+ \d+\.\d\d-\d+\.\d\ds: ", line) for line in lines)
    assert "caption(s) in 100 frame(s)" in proc.stderr
    assert "tracks from the cache" in proc.stderr  # tracked before in this module, with the same settings
    assert (tmp_path / "captioned.mkv").is_file()


@pytest.fixture(scope="module")
def plain_video(tmp_path_factory) -> Path:
    """2 s of an empty grey picture with a tone: nothing to find."""
    path = tmp_path_factory.mktemp("plain") / "plain.mp4"
    proc = ffmpeg("-y", "-f", "lavfi", "-i", "color=c=gray:s=320x240:d=2:r=25", "-f", "lavfi", "-i",
                  "sine=frequency=300:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                  "-shortest", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


def test_no_object_gives_empty_but_valid_outputs(plain_video, dam_checkpoint, tmp_path, capsys):
    code = main(["caption", str(plain_video), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--out", str(tmp_path), "--quiet"])
    assert code == 0
    err = capsys.readouterr().err
    assert "no circle found in" in err and "wrote empty outputs" in err
    data = json.loads((tmp_path / "captions.json").read_text())
    assert data["tracks"] == [] and "caption_seconds" not in data["timing"]
    with VideoReader(tmp_path / "captioned.mp4") as reader:
        assert reader.info.frame_count == 50 and reader.info.has_audio
    assert audio_seconds(tmp_path / "captioned.mp4") == pytest.approx(2.0, abs=0.1)
    lines = streams(tmp_path / "captioned.mkv")
    assert not [line for line in lines if "Subtitle" in line] and any("Audio: aac" in line for line in lines)
    assert pysubs2.load(str(tmp_path / "captions.ass")).events == []
    assert not list(tmp_path.glob("*.srt"))


def test_trailer_with_audio(media_dir, dam_checkpoint, tmp_path, capsys):
    """A cut of a real film with stereo audio: the captioned video keeps it, whatever is found."""
    clip = tmp_path / "bbb.mp4"
    proc = ffmpeg("-y", "-ss", "20", "-t", "2", "-i", str(media_dir / "trailer_bbb.mp4"), "-vf", "scale=320:180",
                  "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "copy", str(clip))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert main(["caption", str(clip), "--class", "circle", "--demo", "--dam", str(dam_checkpoint), "--max-new-tokens",
                 "4", "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "captions.json").read_text())
    with VideoReader(out / "captioned.mp4") as reader:
        assert reader.info.frame_count == data["video"]["frame_count"] == 48
        assert reader.info.has_audio
    assert audio_seconds(out / "captioned.mp4") == pytest.approx(2.0, abs=0.15)
    assert "stereo" in "\n".join(streams(out / "captioned.mkv"))
    capsys.readouterr()


@pytest.mark.parametrize("args, message", [
    ([str(SAMPLE), "--class", "circel"], "unknown class 'circel'"),
    ([str(SAMPLE), "--class", "circle", "--dam", "/nowhere/dam"], "DAM checkpoint folder not found"),
    ([str(SAMPLE), "--class", "circle", "--model", "nowhere/model.pt"], "no such file"),
    (["missing.mp4", "--class", "circle"], "no such file"),
    ([str(REPO / "README.md"), "--class", "circle"], "not a readable video"),
])
def test_caption_bad_input_is_one_line_exit_2(args, message, dam_checkpoint, tmp_path, capsys):
    dam = [] if "--dam" in args else ["--dam", str(dam_checkpoint)]
    assert main(["caption", *args, "--demo", *dam, "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out" / "captioned.mp4").exists()


def test_demo_without_a_dam_and_hub_offline(tmp_path, capsys, monkeypatch):
    if "dam" not in DEMO:
        assert main(["caption", str(SAMPLE), "--class", "circle", "--demo", "--out", str(tmp_path)]) == 2
        assert "sets no `dam:`" in capsys.readouterr().err
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    assert main(["caption", str(SAMPLE), "--class", "circle", "--demo", "--dam", "nvidia/DAM-3B-Video",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "hub is offline" in err and "--dam DIR" in err and len(err.strip().splitlines()) == 1


def test_unwritable_output_folder(dam_checkpoint, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["caption", str(SAMPLE), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--out", str(blocker / "out")]) == 2
    assert "cannot create output folder" in capsys.readouterr().err
    assert main(["image", str(SAMPLE), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--out", str(tmp_path / "x")]) == 2
    assert "not a readable image" in capsys.readouterr().err
    assert main(["render", str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "other.json").write_text('{"schema": "videocap.tracks/1"}')
    assert main(["subtitles", str(tmp_path / "other.json")]) == 2
    assert "not a videocap captions file" in capsys.readouterr().err


@pytest.fixture
def small_disk(tmp_path):
    """A 48 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs",
                                                        str(mount_point)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root) to fill a disk")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


def test_full_disk_is_one_line_exit_2(small_disk, plain_video, dam_checkpoint, capsys):
    code = main(["caption", str(plain_video), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--out", str(small_disk / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no space left on the device" in err and len(err.strip().splitlines()) == 1
    left = [p.name for p in (small_disk / "out").iterdir()]
    assert "captioned.mkv" not in left and not [n for n in left if "partial" in n or n.startswith(".")]


@pytest.mark.parametrize("command", [[], ["caption"], ["image"], ["render"], ["subtitles"], ["track"]])
def test_help_ends_with_examples(command, capsys):
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out.rstrip()
    examples = text.rsplit("Examples:", 1)
    assert len(examples) == 2 and all(line.strip().startswith("videocap") for line in examples[1].strip().splitlines())
