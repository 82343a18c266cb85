"""A captions.json edited by hand (or damaged) and the commands that remake outputs from a run's folder: a folder
is taken for its captions.json, numbers are checked before any drawing, --video must be the captioned video."""

from __future__ import annotations

import json
import shutil

import pytest

from videocap.cli import main


@pytest.fixture
def run_copy(captioned, tmp_path):
    _, out, _ = captioned
    folder = tmp_path / "run"
    shutil.copytree(out, folder)
    return folder


def edit(folder, change) -> None:
    data = json.loads((folder / "captions.json").read_text())
    change(data)
    (folder / "captions.json").write_text(json.dumps(data))


def one_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_render_and_subtitles_take_a_folder(run_copy, capsys):
    (run_copy / "circle-1.srt").unlink()
    assert main(["subtitles", str(run_copy)]) == 0
    assert (run_copy / "circle-1.srt").stat().st_size > 0
    before = json.loads((run_copy / "captions.json").read_text())["run"]
    assert main(["render", str(run_copy), "--quiet"]) == 0
    assert json.loads((run_copy / "captions.json").read_text())["run"] != before


@pytest.mark.parametrize("change, message", [
    (lambda d: d["tracks"][0]["frames"][0].update(box=[float("nan"), 0, 10, 10]), "is not a number inside the"),
    (lambda d: d["tracks"][0]["frames"][0].update(box=[0, 0, 1e12, 10]), "is not a number inside the"),
    (lambda d: d["range"].update(stride=0), "stride 1 or more"),
    (lambda d: d["tracks"][1].update(id=d["tracks"][0]["id"]), "appear more than once"),
])
def test_edited_numbers_are_refused_before_any_drawing(run_copy, change, message, capsys):
    edit(run_copy, change)
    listing = sorted(p.name for p in run_copy.iterdir())
    assert main(["render", str(run_copy / "captions.json"), "--quiet"]) == 2
    assert message in one_line(capsys)
    assert sorted(p.name for p in run_copy.iterdir()) == listing


def test_render_video_must_be_the_captioned_one(run_copy, plain_video, capsys):
    assert main(["render", str(run_copy), "--video", str(plain_video), "--quiet"]) == 2
    assert "is not the video these captions were made from" in one_line(capsys)


def test_a_huge_caption_is_cut_with_a_note_and_renders_bounded(run_copy, capsys):
    """A 1 MB caption (edited in, or from a huge --max-new-tokens) would take minutes and gigabytes to draw: it
    is cut at a word under MAX_CAPTION_CHARS, with one note, and the contact sheet stays a normal size."""
    from PIL import Image

    from videocap.results import MAX_CAPTION_CHARS

    sheet = Image.open(run_copy / "circle-1.png").size
    edit(run_copy, lambda d: d["tracks"][0]["captions"][0].update(text="a red circle " * 80_000))
    assert main(["render", str(run_copy), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("videocap: note: a caption of 1040000 characters was cut to") == 1, err
    text = json.loads((run_copy / "captions.json").read_text())["tracks"][0]["captions"][0]["text"]
    assert len(text) <= MAX_CAPTION_CHARS + 1 and text.endswith("…") and text[:-1].split()[-1] in ("a", "red", "circle")
    width, height = Image.open(run_copy / "circle-1.png").size
    assert width == sheet[0] and height < 4 * sheet[1]
