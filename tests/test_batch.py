"""`videocap batch`: many generated clips and a corrupt file, with the bundled demo models; resuming after an
interrupt; the Ray engine on a local Ray giving what the local engine gives."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import cache_dir_env

from videocap.batch.index import Index
from videocap.batch.runner import (
    BatchSettings,
    is_complete,
    list_videos,
    output_folders,
    plan_batch,
    run_batch,
)
from videocap.cli import main
from videocap.errors import UserError
from videocap.io.encode import H264Writer
from videocap.io.staging import LEDGER_FILE
from videocap.pipeline import caption_video
from videocap.resources import DEMO_CONFIG
from videocap.settings import CaptionSettings, TrackSettings, load_config
from videocap.synthetic import make_clip

DEMO = load_config(DEMO_CONFIG)
SHAPES = ("circle", "square", "triangle", "star")
TOKENS = "24"
CLI_ARGS = ["--demo", "--max-new-tokens", TOKENS, "--no-video", "--quiet"] + [a for s in SHAPES for a in ("--class", s)]


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    """A tracking cache of this module's own: the batches here must track, not find the session's tracks."""
    with cache_dir_env(tmp_path_factory.mktemp("cache")) as folder:
        yield folder


def write_clip(path: Path, seed: int, frames: int = 16) -> Path:
    clip = make_clip(seed, num_frames=frames, num_objects=2, background="plain")
    with H264Writer(path, clip.fps, clip.size, crf=18) as writer:
        for frame in clip.frames:
            writer.write(frame)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """Three short clips and a corrupt 'video'."""
    folder = tmp_path_factory.mktemp("clips")
    for seed in range(3):
        write_clip(folder / f"clip{seed}.mp4", seed)
    (folder / "corrupt.mp4").write_bytes(b"not a video at all\n" * 10)
    return folder


def batch_settings() -> BatchSettings:
    tracking = TrackSettings.from_config(DEMO, classes=SHAPES)
    captioning = CaptionSettings.from_config(DEMO, max_new_tokens=int(TOKENS))
    return BatchSettings(tracking, captioning, render=False)


def index_rows(out: Path) -> list[dict]:
    """The index without what changes from run to run (timings, finishing times)."""
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("timing", None)
        row.pop("finished", None)
    return sorted(rows, key=lambda r: (r["output"], r["kind"] != "video", r.get("id", 0)))


def captions_json(folder: Path) -> dict:
    """A video's captions.json but for what differs between any two runs: timings and the run id."""
    data = json.loads((folder / "captions.json").read_text())
    data.pop("timing")
    data.pop("run")
    return data


@pytest.fixture(scope="module")
def local_batch(clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    code = main(["batch", str(clips), "--out", str(out), *CLI_ARGS])
    return code, out


def test_three_done_one_failed_exit_1(local_batch, capsys):
    code, out = local_batch
    assert code == 1
    videos = [r for r in index_rows(out) if r["kind"] == "video"]
    assert [(r["output"], r["status"]) for r in videos] == [
        ("clip0", "ok"), ("clip1", "ok"), ("clip2", "ok"), ("corrupt", "failed")]
    failed = videos[-1]
    assert "not a readable video" in failed["error"] and "\n" not in failed["error"]
    for row in videos[:3]:
        assert row["error"] is None and row["frames"] == 16 and row["sha256"]
        assert sorted(row["files"]) == sorted(p.name for p in (out / row["output"]).iterdir() if p.name != LEDGER_FILE)
        tracks = [r for r in index_rows(out) if r["kind"] == "track" and r["output"] == row["output"]]
        assert len(tracks) == row["tracks"] and sum(len(t["captions"]) for t in tracks) == row["captions"]
        assert all(c["text"] for t in tracks for c in t["captions"])
    assert (out / "index-videos.parquet").is_file() and (out / "index-tracks.parquet").is_file()


def test_parquet_holds_the_index(local_batch):
    import pyarrow.parquet as pq

    _, out = local_batch
    videos = pq.read_table(out / "index-videos.parquet").to_pylist()
    tracks = pq.read_table(out / "index-tracks.parquet").to_pylist()
    rows = index_rows(out)
    assert [v["output"] for v in videos] == [r["output"] for r in rows if r["kind"] == "video"]
    assert len(tracks) == sum(r["kind"] == "track" for r in rows)


def test_each_folder_is_what_caption_writes(local_batch, clips, tmp_path):
    _, out = local_batch
    settings = batch_settings()
    alone = caption_video(clips / "clip1.mp4", settings.track, settings.caption, tmp_path, progress=False,
                          render=False)
    batched = captions_json(out / "clip1")
    assert batched["tracks"] == json.loads(json.dumps(alone.to_json()["tracks"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (out / "clip1").iterdir())


def test_rerun_skips_the_done_videos(local_batch, clips, capsys):
    _, out = local_batch
    before = {p: p.stat().st_mtime_ns for p in (out / "clip0").iterdir()}
    capsys.readouterr()
    assert main(["batch", str(clips), "--out", str(out), *CLI_ARGS]) == 1  # the corrupt file fails again
    err = capsys.readouterr().err
    assert "0 done, 3 already done (skipped), 1 failed" in err
    assert {p: p.stat().st_mtime_ns for p in (out / "clip0").iterdir()} == before
    assert len([r for r in index_rows(out) if r["kind"] == "video"]) == 4  # compacted: one row per video


def test_lost_index_is_rebuilt_from_the_folders(local_batch, clips, tmp_path):
    _, done = local_batch
    out = tmp_path / "copy"
    shutil.copytree(done, out)
    (out / "index.jsonl").unlink()
    index = Index(out)
    plan = {v.folder: v for v in plan_batch(list_videos([clips]))}
    assert is_complete(out, plan["clip2"], batch_settings(), index)
    assert index.video_row("clip2")["status"] == "ok"
    other = BatchSettings(batch_settings().track, CaptionSettings.from_config(DEMO, max_new_tokens=8), render=False)
    assert not is_complete(out, plan["clip0"], other, Index(tmp_path))  # other settings: redone


def test_resume_after_an_interrupt_runs_only_the_unfinished(clips, tmp_path):
    out = tmp_path / "runs"
    inputs = [clips / "clip0.mp4", clips / "clip1.mp4", clips / "clip2.mp4"]

    def interrupt(row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(inputs, out, batch_settings(), group=1, progress=False, on_video=interrupt)
    assert [r["output"] for r in index_rows(out) if r["kind"] == "video"] == ["clip0"]
    again: list[str] = []
    summary = run_batch(inputs, out, batch_settings(), group=1, progress=False,
                        on_video=lambda row: again.append(row["output"]))
    assert again == ["clip1", "clip2"] and summary.skipped == 1 and summary.ok
    assert [r["output"] for r in index_rows(out) if r["kind"] == "video"] == ["clip0", "clip1", "clip2"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray Data's own deprecated settings
def test_ray_engine_gives_what_the_local_engine_gives(local_batch, clips, tmp_path):
    ray = pytest.importorskip("ray", reason='the Ray engine needs ray[data]: pip install "videocap[ray]"')
    from videocap.batch.on_ray import RayOptions

    _, local = local_batch
    out = tmp_path / "ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_batch([clips], out, batch_settings(), engine="ray", progress=False,
                            ray_options=RayOptions(track_cpus=0.5, caption_cpus=0.5, write_cpus=0.5))
    finally:
        ray.shutdown()
    assert summary.done == 3 and [r["output"] for r in summary.failed] == ["corrupt"]
    assert index_rows(out) == index_rows(local)
    for name in ("clip0", "clip1", "clip2"):
        assert captions_json(out / name) == captions_json(local / name)


# -- planning and bad arguments (no model runs) --

def test_inputs_folders_globs_and_lists(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "deep").mkdir()
    for name in ("a/x.mp4", "a/y.MOV", "a/notes.md", "a/deep/z.mkv", "b.mp4"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "list.txt"
    listing.write_text("# my videos\nb.mp4\n\na/x.mp4\n")
    assert [p.name for p in list_videos([tmp_path / "a"])] == ["x.mp4", "y.MOV"]
    assert [p.name for p in list_videos([tmp_path / "a"], recursive=True)] == ["z.mkv", "x.mp4", "y.MOV"]
    assert [p.name for p in list_videos([str(tmp_path / "**" / "*.m*")])] == ["z.mkv", "x.mp4", "b.mp4"]
    assert [p.name for p in list_videos([listing, tmp_path / "b.mp4"])] == ["b.mp4", "x.mp4"]  # each once
    with pytest.raises(UserError, match="no such file"):
        list_videos([tmp_path / "missing.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no videos in this folder"):
        list_videos([tmp_path / "empty"])


def test_folder_names_from_relative_paths_without_collisions():
    names = output_folders([Path("/v/day1/cam.mp4"), Path("/v/day2/cam.mp4"), Path("/v/day1/cam.mkv"),
                            Path("/v/day1/Cam.mp4"), Path("/v/day1__cam.mp4")])
    assert names == ["day1__cam", "day2__cam", "day1__cam-2", "day1__Cam-3", "day1__cam-4"]


@pytest.mark.parametrize("args, message", [
    (["nowhere/"], "nowhere/: no such file or folder"),
    (["--engine", "spark"], "Invalid value for '--engine'"),
])
def test_bad_arguments_exit_2(args, message, clips, tmp_path, capsys):
    inputs = args if args[0] != "--engine" else [str(clips), *args]
    assert main(["batch", *inputs, "--class", "circle", "--demo", "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_sampled_captions_are_those_of_caption(clips, tmp_path):
    """Seeded sampling: each video is batched alone, so its captions do not depend on the other videos."""
    base = batch_settings()
    sampled = BatchSettings(base.track, CaptionSettings.from_config(DEMO, max_new_tokens=int(TOKENS), temperature=1.5,
                                                                    top_p=1.0, seed=3), render=False)
    run_batch([clips / "clip0.mp4", clips / "clip2.mp4"], tmp_path / "batch", sampled, progress=False)
    for name in ("clip0", "clip2"):
        alone = caption_video(clips / f"{name}.mp4", sampled.track, sampled.caption, tmp_path / name, progress=False,
                              render=False)
        assert captions_json(tmp_path / "batch" / name)["tracks"] == json.loads(json.dumps(alone.to_json()["tracks"]))


def test_only_greedy_or_unseeded_captions_share_batches():
    from videocap.batch.worker import shares_batches

    assert shares_batches(CaptionSettings(temperature=0.0, seed=0))
    assert shares_batches(CaptionSettings(temperature=0.7, seed=None))
    assert not shares_batches(CaptionSettings(temperature=0.7, seed=0))


def test_a_batch_hashes_its_local_dam_folder_once(clips, tmp_path, monkeypatch):
    """The models' provenance (revision: sha256 of a local folder) is worked out once per batch, not per video:
    hashing DAM-3B-Video's 6.6 GB folder costs about 10 s."""
    import hashlib
    import types

    from videocap import checkpoints

    checkpoints._hashed.cache_clear()
    digests = []

    def counting_sha256(*args):
        digests.append(1)
        return hashlib.sha256(*args)

    monkeypatch.setattr(checkpoints, "hashlib", types.SimpleNamespace(sha256=counting_sha256))
    summary = run_batch([clips / f"clip{n}.mp4" for n in range(3)], tmp_path / "b", batch_settings(), group=1,
                        progress=False)
    assert summary.done == 3
    assert len(digests) == 2  # the DAM folder and the YOLO file, once each for the three videos
    revisions = {json.loads((tmp_path / "b" / f"clip{n}" / "captions.json").read_text())["models"]["about"]
                 ["captioning"]["revision"] for n in range(3)}
    assert len(revisions) == 1 and next(iter(revisions)).startswith("sha256:")


def test_the_output_folder_inside_the_inputs_is_never_an_input(clips, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(clips, folder, ignore=shutil.ignore_patterns("corrupt.mp4", "clip1*", "clip2*"))
    out = folder / "runs"
    for _ in range(3):  # reruns used to caption the previous runs' captioned.mp4 files: 2, then 6, then 14 videos
        summary = run_batch([folder], out, batch_settings(), recursive=True, progress=False)
    assert summary.total == 1
    assert list_videos([folder], recursive=True, out=out) == [folder / "clip0.mp4"]


def test_list_files_take_comments(tmp_path):
    for name in ("a.mp4", "b c.mp4"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "videos.txt"
    listing.write_text("# my clips\na.mp4   # the first\n\nb c.mp4\t# the second\n")
    assert list_videos([listing]) == [tmp_path / "a.mp4", tmp_path / "b c.mp4"]
