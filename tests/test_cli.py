"""`videocap.cli`: the console entry: exit codes, one-line errors, help, stdout/stderr."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import DEMO, REPO, SAMPLE

from videocap.cli import main


def test_cli_caption_end_to_end(captioned, shapes_audio, dam_checkpoint, tmp_path):
    """The real console entry: captions on stdout as they come, progress and summary on stderr."""
    proc = subprocess.run([sys.executable, "-m", "videocap", "caption", str(shapes_audio), "--class", "circle",
                           "--demo", "--dam", str(dam_checkpoint), "--max-new-tokens", "6", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines and all(re.match(r"circle #\d+ \d+\.\d\d-\d+\.\d\ds: ", line) for line in lines)
    assert "caption(s) in 100 frame(s)" in proc.stderr
    assert "tracks from the cache" in proc.stderr  # tracked by the `captioned` run, with the same settings
    assert (tmp_path / "captioned.mkv").is_file()


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


def test_full_disk_is_one_line_exit_2(small_disk, plain_video, dam_checkpoint, capsys):
    code = main(["caption", str(plain_video), "--class", "circle", "--demo", "--dam", str(dam_checkpoint),
                 "--out", str(small_disk / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no space left on the device" in err and len(err.strip().splitlines()) == 1
    out = small_disk / "out"
    left = [p.name for p in out.iterdir()] if out.exists() else []  # a failed first run leaves no folder
    assert "captioned.mkv" not in left and not [n for n in left if "partial" in n or n.startswith(".")]


@pytest.mark.parametrize("command", [[], ["caption"], ["image"], ["render"], ["subtitles"], ["track"]])
def test_help_ends_with_examples(command, capsys):
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out.rstrip()
    examples = text.rsplit("Examples:", 1)
    assert len(examples) == 2 and all(line.strip().startswith("videocap") for line in examples[1].strip().splitlines())


def run_cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videocap", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_cli_track_writes_json_and_summary(tmp_path):
    out = tmp_path / "t.json"
    proc = run_cli("track", str(SAMPLE), "--class", "circle", "--demo", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert len(data["tracks"]) == 2 and all(len(t["keyframes"]) == 8 for t in data["tracks"])
    assert "2 track(s) in 100 frame(s)" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["missing.mp4", "--class", "circle"], "no such file"),
    ([".", "--class", "circle"], "is a directory"),
    (["README.md", "--class", "circle"], "not a readable video"),
    ([str(SAMPLE), "--class", "circel"], "unknown class 'circel'"),
    ([str(SAMPLE), "--class", "circle", "--start", "50", "--end", "10"], "empty range"),
    ([str(SAMPLE), "--class", "circle", "--start", "200"], "past the end"),
    ([str(SAMPLE), "--class", "circle", "--start", "soon"], "bad position"),
    ([str(SAMPLE), "--class", "circle", "--model", "nowhere/model.pt"], "no such file"),
])
def test_cli_bad_input_is_one_line_exit_2(args, message, tmp_path):
    demo = [] if "--model" in args else ["--demo"]
    proc = run_cli("track", *args, *demo, "--out", str(tmp_path / "unused.json"))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_debug_shows_the_traceback():
    proc = run_cli("--debug", "track", "missing.mp4", "--class", "circle", "--demo")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_an_xvid_avi_with_packed_bframes_captions_a_range_at_the_right_times(tmp_path):
    """decord's times for such files are -3.7e17 s: videocap notices, says so once, and counts frames."""
    from videocap.io.encode import ffmpeg_exe

    avi = tmp_path / "old camera.avi"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(SAMPLE), "-c:v", "mpeg4", "-vtag", "xvid", "-bf", "2",
                    "-q:v", "3", str(avi)], check=True)
    proc = subprocess.run([sys.executable, "-m", "videocap", "caption", str(avi), "--class", "circle", "--demo",
                           "--start", "1s", "--end", "3s", "--max-new-tokens", "6", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    notes = [line for line in proc.stderr.splitlines() if line.startswith("videocap: note:")]
    assert len(notes) == 1 and "frame number / 25 frames/s" in notes[0], proc.stderr
    data = json.loads((tmp_path / "out" / "captions.json").read_text())
    assert (data["range"]["start_time"], data["range"]["end_time"]) == (pytest.approx(1.0), pytest.approx(3.0))
    assert data["tracks"] and all(25 <= t["first_frame"] <= t["last_frame"] < 75 for t in data["tracks"])
    for track in data["tracks"]:
        assert track["first_time"] == pytest.approx(track["first_frame"] / 25)
        keyframes = [k if isinstance(k, int) else k["frame"] for k in track["keyframes"]]
        assert len(set(keyframes)) > 1 and all(25 <= k < 75 for k in keyframes)
    cues = (tmp_path / "out" / f"circle-{data['tracks'][0]['id']}.srt").read_text()
    assert re.search(r"00:00:0[01],\d{3} --> 00:00:0[12],\d{3}", cues), cues
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "out" / "captioned.mp4"), "-f", "null",
                           "-"], capture_output=True, text=True)
    assert re.findall(r"frame= *(\d+)", done.stderr)[-1] == "50"


@pytest.mark.parametrize("name", ["two\nlines.mp4", "-tab\there %03d 'q' [x]:y 中.mp4"])
def test_any_character_in_a_file_name_captions(name, tmp_path, capsys):
    """A newline, a tab, a leading '-', ffmpeg's pattern and filter characters: drawn as spaces in the contact
    sheets, passed to ffmpeg as they are."""
    video = tmp_path / name
    video.write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out"
    assert main(["caption", str(video), "--class", "circle", "--demo", "--end", "10", "--max-new-tokens", "6",
                 "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "captions.json").read_text())
    assert data["video"]["path"] == str(video) and len(data["tracks"]) == 2
    assert all((out / f"circle-{n}.png").stat().st_size > 0 for n in (1, 2))


def test_the_clones_samples_are_the_packaged_sample():
    """samples/ holds real copies (so `videocap serve --root samples/` serves them); scripts/make_sample.py
    writes both."""
    for name in ("shapes.mp4", "shapes.truth.json"):
        assert (REPO / "samples" / name).read_bytes() == (REPO / "videocap" / "data" / "sample" / name).read_bytes()
        assert not (REPO / "samples" / name).is_symlink()
