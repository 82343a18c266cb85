"""Fault injection: an output folder holds the previous complete set or the new one, never a mix, and a
user's own files are never touched (videocap.io.staging, videocap.outputs.writing).

Real ``python -m videocap caption --demo`` runs are interrupted at each stage with SIGINT, SIGTERM and
SIGKILL through the test hook ``VIDEOCAP_FAULT=<stage>:<signal>`` (videocap.progress.fault_point). The
interrupted runs go concurrently, each into its own copy of one complete first run's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from videocap.io.encode import ffmpeg_exe
from videocap.io.staging import LEDGER_FILE
from videocap.outputs.registry import manifest_names

REPO = Path(__file__).resolve().parents[1]
STAGES = ("tracking", "captioning", "rendering", "muxing")
SIGNALS = {"SIGINT": 130, "SIGTERM": 143, "SIGKILL": -signal.SIGKILL}
USER_FILE = "my notes.txt"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Subprocess environment: this checkout's videocap and a tracking cache of the module's own."""
    return {**os.environ, "PYTHONPATH": str(REPO), "VIDEOCAP_CACHE_DIR": str(tmp_path_factory.mktemp("cache"))}


def videocap(env, *args, fault: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    run_env = {**env, "VIDEOCAP_FAULT": fault} if fault else env
    return subprocess.run([sys.executable, "-m", "videocap", *map(str, args)], capture_output=True, text=True,
                          env=run_env, timeout=timeout)


def caption(env, out: Path, *args, fault: str | None = None) -> subprocess.CompletedProcess:
    return videocap(env, "caption", "--demo", "--class", "circle", "--out", out, *args, fault=fault)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) and its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def video_run(path: Path) -> str | None:
    """The run id a captioned MP4/MKV records in its metadata."""
    meta = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"],
                          capture_output=True, text=True).stdout
    found = re.search(r"^comment=videocap-run:(\S+)$", meta, re.M | re.I)
    return found.group(1) if found else None


def check_set(folder: Path, extra: set[str] = frozenset({USER_FILE})) -> dict:
    """The folder holds one complete set (what its captions.json names, the videos made by the same run)
    and nothing else but ``extra`` and the ledger of what videocap wrote: no staging folder, no lock, no
    partial file."""
    data = json.loads((folder / "captions.json").read_text())
    outputs = data["outputs"]
    names = manifest_names(outputs)
    assert sorted(p.name for p in folder.iterdir()) == sorted(names | set(extra) | {LEDGER_FILE})
    assert names <= set(json.loads((folder / LEDGER_FILE).read_text())["names"])
    for key in ("video", "mkv"):
        if key in outputs:
            assert video_run(folder / outputs[key]) == data["run"]
    return data


@pytest.fixture(scope="module")
def first_run(env, tmp_path_factory):
    """A complete caption run's folder, with a user's own file beside the outputs."""
    out = tmp_path_factory.mktemp("first") / "out"
    proc = caption(env, out)
    assert proc.returncode == 0, proc.stderr
    (out / USER_FILE).write_text("mine, not videocap's\n")
    return out, proc


def test_a_run_records_its_id_everywhere_and_logs_plain_lines(first_run):
    out, proc = first_run
    data = check_set(out)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", data["run"])
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr and all(line.strip() for line in lines)  # stderr is a pipe: no bars
    assert len(lines) < 20
    assert proc.stdout.count("circle #") == 2 and "captioning" not in proc.stdout


@pytest.fixture(scope="module")
def interrupted(env, first_run, tmp_path_factory):
    """Every (stage, signal) pair: a run into a copy of the first run's folder, interrupted there."""
    out, _ = first_run
    base = tmp_path_factory.mktemp("interrupted")

    def one(case):
        stage, name = case
        folder = base / f"{stage}-{name}"
        shutil.copytree(out, folder)
        args = ("--no-cache",) if stage == "tracking" else ()
        return case, folder, caption(env, folder, *args, fault=f"{stage}:{name}")

    cases = [(stage, name) for stage in STAGES for name in SIGNALS]
    with ThreadPoolExecutor(4) as pool:
        return {case: (folder, proc) for case, folder, proc in pool.map(one, cases)}


@pytest.mark.parametrize("name", list(SIGNALS))
@pytest.mark.parametrize("stage", STAGES)
def test_an_interrupted_run_leaves_the_previous_set(first_run, interrupted, stage, name):
    folder, proc = interrupted[stage, name]
    assert proc.returncode == SIGNALS[name], proc.stderr
    before = snapshot(first_run[0])
    if name == "SIGKILL":  # no clean-up possible: at most this run's staging folder, and the lock file
        left = (".videocap.lock", ".videocap-staging-")
        assert {k: v for k, v in snapshot(folder).items() if not k.startswith(left)} == before
        hidden = {p.name for p in folder.iterdir() if p.name.startswith(left)}
        assert len(hidden - {".videocap.lock"}) <= 1
        assert all(n == ".videocap.lock" or n.startswith(".videocap-staging-") for n in hidden)
    else:
        assert snapshot(folder) == before
        assert proc.stderr.strip().splitlines()[-1] == ("videocap: interrupted" if name == "SIGINT"
                                                        else "videocap: terminated")


def test_the_next_run_removes_what_a_killed_run_left(env, interrupted):
    folder, _ = interrupted["rendering", "SIGKILL"]
    assert list(folder.glob(".videocap-staging-*"))
    proc = videocap(env, "subtitles", folder / "captions.json")  # a quick command into the same folder
    assert proc.returncode == 0, proc.stderr
    check_set(folder)


def test_a_commit_cut_short_is_finished_by_the_next_run(env, first_run, tmp_path):
    """A staging folder with a commit list (killed while moving files into place) is moved into place."""
    folder = tmp_path / "out"
    shutil.copytree(first_run[0], folder)
    staging = folder / ".videocap-staging-20990101T000000Z-abcdef"
    staging.mkdir()
    data = json.loads((folder / "captions.json").read_text())
    data["run"] = "20990101T000000Z-abcdef"
    (staging / "captions.json").write_text(json.dumps(data))
    (staging / "commit.json").write_text(json.dumps({"run": data["run"], "names": ["captions.json"],
                                                     "remove": [USER_FILE, "../x", "captioned.mp4"]}))
    proc = videocap(env, "subtitles", folder / "captions.json", "--out", tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    assert (folder / ".videocap-staging-20990101T000000Z-abcdef").exists()  # another folder's run: not touched
    proc = videocap(env, "subtitles", folder / "captions.json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((folder / "captions.json").read_text())["run"] == "20990101T000000Z-abcdef"
    assert not (folder / "captioned.mp4").exists()  # named by the previous set's manifest: removed
    assert (folder / USER_FILE).exists()  # a user's file: never, even when a commit list names it


def test_a_rerun_with_other_settings_replaces_the_whole_set(env, first_run, tmp_path):
    folder = tmp_path / "out"
    shutil.copytree(first_run[0], folder)
    before = snapshot(folder)
    square = ("caption", "--demo", "--class", "square", "--out", folder)
    proc = videocap(env, *square, fault="rendering:SIGINT")
    assert proc.returncode == 130 and snapshot(folder) == before  # interrupted while rendering: old set intact
    proc = videocap(env, *square, "--no-video")
    assert proc.returncode == 0, proc.stderr
    data = check_set(folder)
    assert {t["class"] for t in data["tracks"]} == {"square"}  # no circle subtitles, no old videos left


def test_a_second_run_into_a_folder_in_use_stops_at_once(env, first_run, tmp_path):
    folder = tmp_path / "out"
    shutil.copytree(first_run[0], folder)
    holder = subprocess.Popen([sys.executable, "-m", "videocap", "caption", "--demo", "--class", "circle", "--out",
                               str(folder), "--quiet"], env={**env, "VIDEOCAP_FAULT": "captioning:SIGSTOP"},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not _stopped(holder.pid):
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        started = time.monotonic()
        second = caption(env, folder)
        assert time.monotonic() - started < 20  # at once: before the DAM check, no model, no tracking
        assert second.returncode == 2
        line, = second.stderr.strip().splitlines()
        assert f"in use by another videocap run (pid {holder.pid}" in line and "started 20" in line
    finally:
        holder.send_signal(signal.SIGCONT)
    out, err = holder.communicate(timeout=240)
    assert holder.returncode == 0 and err == ""  # --quiet: the captions only
    assert out.count("circle #") == 2
    check_set(folder)


def _stopped(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def test_a_lock_left_by_a_dead_process_is_taken_over(env, first_run, tmp_path):
    folder = tmp_path / "out"
    shutil.copytree(first_run[0], folder)
    (folder / ".videocap.lock").write_text(json.dumps({"pid": 999999, "started": "2020-01-01T00:00:00+00:00",
                                                       "host": "gone", "run": "x"}))
    proc = videocap(env, "subtitles", folder / "captions.json")
    assert proc.returncode == 0, proc.stderr
    check_set(folder)


@pytest.fixture
def tmpfs(tmp_path):
    """A tiny filesystem of its own (needs root): a read-only folder or a full disk, for real."""
    mount = tmp_path / "fs"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_read_only_folder_is_one_line_before_any_model(env, first_run, tmpfs):
    folder = tmpfs / "out"
    shutil.copytree(first_run[0], folder)
    before = snapshot(folder)
    assert subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)]).returncode == 0
    proc = caption(env, folder)
    assert proc.returncode == 2
    line, = proc.stderr.strip().splitlines()
    assert "not writable" in line and str(folder) in line
    assert snapshot(folder) == before


def test_a_full_disk_is_one_line_and_leaves_the_previous_set(env, first_run, tmpfs):
    folder = tmpfs / "out"
    shutil.copytree(first_run[0], folder)
    free = shutil.disk_usage(tmpfs).free
    (tmpfs / "filler").write_bytes(b"\0" * (free - 120_000))  # room for the MP4, not for the MKV too
    before = snapshot(folder)
    proc = videocap(env, "render", folder / "captions.json", "--quiet")
    assert proc.returncode == 2, proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert "no space left on the device" in line
    assert snapshot(folder) == before


def edited(first_run, tmp_path, edit) -> Path:
    """A copy of the first run's captions.json, changed by ``edit(data)``."""
    data = json.loads((first_run[0] / "captions.json").read_text())
    edit(data)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


@pytest.mark.parametrize("damage, says", [
    (lambda d: d["tracks"][0]["frames"][3]["mask"].update(counts="!!!!"), "damaged"),
    (lambda d: d["tracks"][0]["frames"][3]["mask"].update(counts=d["tracks"][0]["frames"][3]["mask"]["counts"][:6]),
     "damaged"),
    (lambda d: d["video"].update(width=640), "a mask of 320x240 in a 640x240 video"),
])
def test_render_of_a_damaged_captions_file_is_one_line(env, first_run, tmp_path, damage, says):
    proc = videocap(env, "render", edited(first_run, tmp_path, damage), "--out", tmp_path / "out")
    assert proc.returncode == 2
    line, = proc.stderr.strip().splitlines()
    assert says in line
    assert not (tmp_path / "out").exists()


def test_render_draws_every_script_and_no_none(env, first_run, tmp_path):
    def texts(data):
        data["tracks"][0]["captions"][0]["text"] = None
        data["tracks"][1]["captions"][0]["text"] = "دائرة زرقاء \u202eעיגול 😀"

    proc = videocap(env, "render", edited(first_run, tmp_path, texts), "--out", tmp_path / "out", "--quiet")
    assert proc.returncode == 0, proc.stderr
    data = check_set(tmp_path / "out", extra=set())
    assert [t["captions"][0]["text"] for t in data["tracks"]][0] == ""
    ass = (tmp_path / "out" / "captions.ass").read_text()
    assert "None" not in ass and "\u202e" not in ass
    assert "{\\fnNoto Sans Arabic}دائرة زرقاء {\\fnNoto Sans CJK SC}" in ass and "{\\fnNoto Emoji}😀" in ass
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "out" / "captioned.mkv")],
                          capture_output=True, text=True).stderr
    assert info.count("Attachment: ttf") == 3  # Arabic, Hebrew, emoji


def _refused(proc: subprocess.CompletedProcess, *says: str) -> None:
    assert proc.returncode == 2, proc.stderr
    line, = proc.stderr.strip().splitlines()
    assert "Traceback" not in line and all(part in line for part in says), line


@pytest.mark.parametrize("name", ["captions.json", "report.html", "captioned.mp4", "captions.ass"])
def test_a_users_file_of_an_output_name_is_never_replaced(env, tmp_path, name):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text("the user's own\n")
    before = snapshot(folder)
    _refused(caption(env, folder), f"{folder / name} exists and videocap did not write it")
    assert snapshot(folder) == before


def test_a_users_file_named_like_a_tracks_file_stops_the_run_before_its_captions(env, first_run, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "circle-1.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nmy own subtitles\n")
    before = snapshot(folder)
    proc = caption(env, folder, fault="captioning:SIGKILL")  # would die if it got as far as the captions
    _refused(proc, "circle-1.srt exists and videocap did not write it")
    assert snapshot(folder) == before


def test_the_input_is_never_an_output_and_an_empty_out_is_refused(env, first_run, tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(first_run[0] / "captioned.mp4", folder / "captioned.mp4")
    before = snapshot(folder)
    _refused(videocap(env, "caption", folder / "captioned.mp4", "--demo", "--class", "circle", "--out", folder),
             "would write its captioned.mp4 over its own input")
    assert snapshot(folder) == before
    _refused(videocap(env, "caption", "--demo", "--class", "circle", "--out", ""), "--out ''")
    _refused(videocap(env, "render", first_run[0] / "captions.json", "--out", ""), "--out ''")


def test_render_into_a_users_folder_keeps_their_files(env, first_run, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "report.html").write_text("<p>my report</p>")
    before = snapshot(folder)
    _refused(videocap(env, "render", first_run[0] / "captions.json", "--out", folder),
             "report.html exists and videocap did not write it")
    assert snapshot(folder) == before
    (folder / "report.html").unlink()
    proc = videocap(env, "render", first_run[0] / "captions.json", "--out", folder, "--quiet")
    assert proc.returncode == 0, proc.stderr
    again = videocap(env, "render", first_run[0] / "captions.json", "--out", folder, "--quiet")  # its own set
    assert again.returncode == 0, again.stderr
    check_set(folder, extra=set())


def test_subtitles_into_another_folder_can_be_made_again(env, first_run, tmp_path):
    folder = tmp_path / "subs"
    for _ in range(2):  # the second time they are videocap's own files (the folder's ledger names them)
        proc = videocap(env, "subtitles", first_run[0] / "captions.json", "--out", folder)
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [LEDGER_FILE, "captions.ass"] + [f"circle-{n}.{kind}" for n in (1, 2) for kind in ("srt", "vtt")])
