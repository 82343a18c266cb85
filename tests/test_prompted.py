"""Pointing at one object (`--point`, `--box`, `--mask`): with YOLO the track under the prompt on its frame is
that object over the whole clip, captioned as such; with SAM 2 the prompt is propagated; bad prompts are one
line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videocap.cli import main
from videocap.testing.sam2_random import save_random_sam2

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "shapes.mp4"
RED_AT_2S = (140, 130, 181, 171)  # the red circle's box on frame 50 (samples/shapes.truth.json), over the square


def run(tmp_path, *args) -> dict:
    out = tmp_path / "o"
    assert main(["caption", str(SAMPLE), "--demo", "--out", str(out), "--quiet", *args]) == 0
    return json.loads((out / "captions.json").read_text())


@pytest.mark.parametrize("prompt", [["--point", "160,150@2s"], ["--box", "140,130,181,171@2s"],
                                    ["--points", "[[100, 150]]", "--start", "25"]])
def test_a_prompt_gives_that_object_over_the_whole_clip(tmp_path, prompt):
    data = run(tmp_path, *prompt, "--label", "ball")
    [track] = data["tracks"]
    assert (track["class"], track["first_frame"], track["last_frame"]) == ("ball", 0 if "--start" not in prompt else 25, 99)
    assert "red circle" in track["captions"][0]["text"]
    assert track["prompt"]["label"] == "ball" and track["prompt"]["frame"] in (25, 50)
    assert data["settings"]["prompts"][0]["kind"] == track["prompt"]["kind"]
    assert (tmp_path / "o" / "ball-{}.srt".format(track["id"])).stat().st_size > 0


def test_a_mask_prompt_and_a_class_combine(tmp_path):
    mask = np.zeros((240, 320), np.uint8)
    x1, y1, x2, y2 = RED_AT_2S
    mask[y1:y2, x1:x2] = 255
    Image.fromarray(mask).save(tmp_path / "red.png")
    data = run(tmp_path, "--mask", f"{tmp_path / 'red.png'}@50", "--class", "circle")
    texts = {t["class"]: t["captions"][0]["text"] for t in data["tracks"]}
    assert "red circle" in texts["object"] and "blue circle" in texts["circle"]
    assert len(data["tracks"]) == 2  # the red circle once: as the prompted object, not also as a circle


def test_two_objects_of_one_class_told_apart_by_points(tmp_path):
    red, blue = run(tmp_path, "--point", "100,150@1s"), None
    blue = run(tmp_path / "b", "--point", "240,70@1s")
    assert "red circle" in red["tracks"][0]["captions"][0]["text"]
    assert "blue circle" in blue["tracks"][0]["captions"][0]["text"]


@pytest.mark.parametrize("prompt, message", [
    (["--point", "400,10"], "is outside the 320x240 frame"),
    (["--point", "160,150@9s"], "is outside the range (frames 0-99)"),
    (["--box", "10,10,5,20"], "X1 < X2"),
    (["--point", "5,5@1s"], "no tracked object under the points prompt 'object' on frame 25 (nearest: star #"),
    (["--mask", "missing.png"], "no such file"),
    (["--label", "a"], "one --label per"),
])
def test_bad_prompts_are_one_line(tmp_path, capsys, prompt, message):
    assert main(["caption", str(SAMPLE), "--demo", *prompt, "--out", str(tmp_path / "o")]) == 2
    lines = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("tracking:")]
    assert len(lines) == 1 and message in lines[0], lines  # (no object under a point: said after tracking)
    assert not (tmp_path / "o").exists()


def test_a_mask_of_another_size_or_empty(tmp_path, capsys):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    Image.fromarray(np.zeros((240, 320), np.uint8)).save(tmp_path / "empty.png")
    for name, message in (("small.png", "10x10 pixels, but the frames are 320x240"), ("empty.png", "the mask is empty")):
        assert main(["caption", str(SAMPLE), "--demo", "--mask", str(tmp_path / name), "--out", str(tmp_path / "o")]) == 2
        assert message in capsys.readouterr().err


def test_sam2_follows_a_point_end_to_end(tmp_path):
    checkpoint = save_random_sam2(tmp_path / "sam2-tiny")
    data = run(tmp_path, "--segmenter", "sam2", "--sam2", str(checkpoint), "--point", "160,150@1s", "--end", "30",
               "--max-new-tokens", "8")
    [track] = data["tracks"]
    assert track["prompt"]["frame"] == 25 and track["first_frame"] == 0 and track["last_frame"] == 29
    assert data["models"]["segmentation"] == str(checkpoint) and track["captions"][0]["text"]


# -- on photos: `image` and `describe` --

@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """Frame 50 of the sample as a PNG: the red circle at (160, 150), the blue one at (200, 70)."""
    from videocap.io.video import Video
    from videocap.results import FrameRange

    path = tmp_path_factory.mktemp("photo") / "frame50.png"
    with Video(SAMPLE).read(FrameRange(50, 51)) as frames:
        Image.fromarray(next(iter(frames)).image).save(path)
    return path


@pytest.mark.parametrize("prompt, colour", [(["--point", "160,150"], "red"), (["--box", "178,48,222,92"], "blue"),
                                            (["--points", "[[200, 70]]"], "blue")])
def test_describe_captions_the_object_under_a_point_or_box(photo, prompt, colour, capsys):
    assert main(["describe", str(photo), *prompt, "--demo"]) == 0
    text = capsys.readouterr().out.strip().lower()
    assert f"{colour} circle" in text, text


def test_image_captions_prompted_objects_with_their_labels(photo, tmp_path, capsys):
    assert main(["image", str(photo), "--point", "160,150", "--label", "ball", "--box", "178,48,222,92",
                 "--demo", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    objects = json.loads((tmp_path / "o" / "frame50.json").read_text())["objects"]
    assert [o["class"] for o in objects] == ["ball", "object"]
    assert "red circle" in objects[0]["caption"] and "blue circle" in objects[1]["caption"]
    x1, y1, x2, y2 = objects[0]["box"]
    assert abs(x1 - RED_AT_2S[0]) <= 3 and abs(x2 - RED_AT_2S[2]) <= 3


@pytest.mark.parametrize("args, message", [
    (["describe", "{photo}", "--point", "5,5", "--demo"], "no object found there"),
    (["describe", "{photo}", "--point", "500,5", "--demo"], "is outside the 320x240 frame"),
    (["describe", "{photo}", "--demo"], "say which object"),
    (["describe", "{photo}", "--point", "160,150", "--box", "1,1,9,9", "--demo"], "say which object"),
    (["describe", str(SAMPLE), "--point", "160,150", "--demo"], "`videocap caption"),
    (["image", "{photo}", "--point", "160,150@2s", "--demo", "--out", "{out}"], "a photo has one frame"),
    (["image", "{photo}", "--demo", "--out", "{out}"], "say what to caption"),
])
def test_bad_photo_prompts_are_one_line(photo, tmp_path, capsys, args, message):
    args = [a.format(photo=photo, out=tmp_path / "o") for a in args]
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_the_report_and_contact_sheet_mark_the_prompt_on_its_frame(tmp_path):
    import re

    data = run(tmp_path, "--point", "160,150@2s", "--label", "ball")
    page = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    report = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)[1])
    [track] = report["tracks"]
    marked = [t for t in track["thumbs"] if t["prompt"]]
    assert [t["frame"] for t in marked] == [50]
    seen = sorted({k for c in data["tracks"][0]["captions"] for k in c["keyframes"]})
    assert [t["frame"] for t in track["thumbs"] if t["seen"]] == seen and marked[0]["seen"] == (50 in seen)
    sheet = np.asarray(Image.open(tmp_path / "o" / f"ball-{track['id']}.png").convert("RGB")).astype(int)
    green = (abs(sheet - (61, 220, 132)).sum(-1) < 30).sum()
    assert green > 20  # the point, drawn on the prompt's tile
