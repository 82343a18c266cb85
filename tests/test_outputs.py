"""`videocap.outputs.writing`: the files of a caption run, the MKV, and redoing them from captions.json."""

from __future__ import annotations

import html
import json

import pysubs2
import pytest
import webvtt
from support import ffmpeg, hand_made_result, streams

from videocap.cli import main
from videocap.io.video import VideoReader
from videocap.outputs.registry import write_outputs

NASTY = "Un {\\b1}cercle\\N --> rouge\n\n<b>gras</b> & 円形の物体\x07 fin"


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
    wrote = capsys.readouterr().err
    assert "captioned.mp4, captioned.mkv" in wrote and "captions.json" in wrote and "per-track files" in wrote


def test_a_rerun_replaces_the_previous_per_track_files_and_nothing_else(tmp_path):
    first = hand_made_result(track_ids=(1, 2, 3))
    write_outputs(first, tmp_path, None)
    per_track = ("srt", "vtt", "png")  # subtitles and the contact sheet
    assert {p.name for p in tmp_path.glob("circle-*")} == {f"circle-{i}.{s}" for i in (1, 2, 3) for s in per_track}
    (tmp_path / "circle-9.srt").write_text("the user's own file, not named by any captions.json")
    (tmp_path / "notes.txt").write_text("mine")
    second = hand_made_result(track_ids=(2,))
    write_outputs(second, tmp_path, None)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"circle-2.srt", "circle-2.vtt", "circle-9.srt", "notes.txt", "captions.json", "captions.ass"} <= names
    assert not {f"circle-{i}.{s}" for i in (1, 3) for s in per_track} & names
    assert {"circle-2.png", "report.html"} <= names
    data = json.loads((tmp_path / "captions.json").read_text())
    assert data["outputs"]["tracks"] == {"2": {"srt": "circle-2.srt", "vtt": "circle-2.vtt"}}


def test_staging_refuses_a_name_it_would_not_move(tmp_path):
    """Before, a name of a kind outside the hand-kept suffix list was left out of the set without a word."""
    from videocap.io.staging import output_run
    from videocap.outputs.registry import OUTPUT_SUFFIXES

    with pytest.raises(ValueError, match="'captions.csv' .* not a file name of a kind videocap writes"):
        with output_run(tmp_path / "o", OUTPUT_SUFFIXES) as staging:
            (staging.folder / "a.srt").write_text("1\n")
            (staging.folder / "captions.csv").write_text("x\n")
            staging.commit(["a.srt", "captions.csv"])
    assert not (tmp_path / "o").exists()  # nothing moved, and the new folder is gone again
    with pytest.raises(ValueError, match="'missing.srt' .* is not in the staging folder"):
        with output_run(tmp_path / "o", OUTPUT_SUFFIXES) as staging:
            staging.commit(["missing.srt"])


def test_a_new_writer_is_written_committed_and_in_the_manifest(tmp_path, monkeypatch, captioned):
    """Adding an output is one registry entry: the manifest, staging and later runs' clean-up follow."""
    import dataclasses

    from videocap.outputs import registry
    from videocap.results import read_captions

    def write_notes(result, folder, video, progress):
        (folder / "notes.json").write_text(json.dumps({"tracks": len(result.tracks)}))
        return {"notes_seconds": 0.0}

    notes = registry.Writer("notes", ("notes",), (".json",), write_notes, lambda result: {"notes": "notes.json"})
    monkeypatch.setattr(registry, "RUN_WRITERS", (notes, *registry.RUN_WRITERS))
    result = read_captions(captioned[1] / "captions.json")
    result.tracking.tracks = result.tracks[:1]
    out = tmp_path / "o"
    write_outputs(dataclasses.replace(result), out, None, progress=False)
    data = json.loads((out / "captions.json").read_text())
    assert data["outputs"]["notes"] == "notes.json" and json.loads((out / "notes.json").read_text()) == {"tracks": 1}
    assert "notes.json" in registry.manifest_names(data["outputs"])  # so a later set may replace it
