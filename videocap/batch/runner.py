"""Many videos in one run (``videocap batch``): one output folder per video, an index of everything.

- ``list_videos`` turns the inputs (video files, folders, globs, text files listing paths) into videos;
  ``plan_batch`` gives each its output folder under DIR (named from its path relative to the videos'
  common folder, ``day1/cam2.mp4`` -> ``day1__cam2``; a name taken twice gets ``-2``, ``-3``...) and
  its content hash; ``is_complete`` tells whether its outputs are already there for that content and
  these settings.
- ``run_batch`` runs the pending videos on the local engine (``jobs`` worker processes, each a
  ``videocap.batch.worker.BatchWorker`` with its models loaded once) or on Ray (``videocap.batch.on_ray``),
  and records each finished video in the index (``videocap.batch.index``) as it finishes.

A rerun skips the videos whose outputs are complete for the same content (SHA-256) and settings, and
redoes failed, changed or unfinished ones; an interrupt loses only the videos in flight.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from videocap.batch.index import Index, track_rows, video_row
from videocap.batch.worker import (
    BatchSettings,
    BatchVideo,
    BatchWorker,
    Rows,
    groups,
    one_line,
    output_files,
)
from videocap.caption.jobs import check_dam_available
from videocap.errors import UserError
from videocap.io.files import ensure_writable_dir, safe_name
from videocap.io.video import VIDEO_SUFFIXES
from videocap.outputs.writing import CAPTIONS_JSON
from videocap.progress import progress_bar
from videocap.results import read_captions
from videocap.segment import cache

LIST_SUFFIXES = {".txt", ".list", ".lst"}
ENGINES = ("local", "ray")


@dataclass
class BatchSummary:
    """What a batch run did: videos in all, skipped as already done, done now, failed."""

    total: int
    skipped: int = 0
    done: int = 0
    failed: list[dict] = field(default_factory=list)  # the failed videos' index rows
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


# -- planning --

def list_videos(inputs: Iterable[str | Path], recursive: bool = False, out: Path | None = None) -> list[Path]:
    """The videos the inputs name, in order, each once, none inside the batch's own output folder ``out`` (its
    captioned videos are outputs, not inputs); a one-line error for an input that names nothing."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            videos = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not videos:
                raise UserError(f"{path}: no videos in this folder{'' if recursive else ' (--recursive looks deeper)'}")
            found += videos
        elif path.is_file():
            found += _listed(path) if path.suffix.lower() in LIST_SUFFIXES else [path]
        elif glob.has_magic(str(item)):
            matches = sorted(Path(p) for p in glob.glob(os.path.expanduser(str(item)), recursive=True))
            videos = [p for p in matches if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES]
            if not videos:
                raise UserError(f"{item}: no videos match this pattern")
            found += videos
        else:
            raise UserError(f"{item}: no such file or folder")
    seen, videos = set(), []
    outputs = Path(os.path.abspath(out)) if out is not None else None
    for path in found:
        if outputs is not None and Path(os.path.abspath(path)).is_relative_to(outputs):
            continue
        if (key := os.path.abspath(path)) not in seen:
            seen.add(key)
            videos.append(path)
    return videos


def _listed(list_file: Path) -> list[Path]:
    """The paths a text file lists, one a line ('#' comments; relative to the file's folder)."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{list_file}: cannot read the list of videos ({exc})") from exc
    entries = [line.split(" #")[0].split("\t#")[0].strip() for line in lines]  # a '#' after a blank: a comment
    paths = [list_file.parent / Path(entry).expanduser() for entry in entries if entry and not entry.startswith("#")]
    if not paths:
        raise UserError(f"{list_file}: lists no videos")
    return paths


def output_folders(videos: Sequence[Path]) -> list[str]:
    """A folder name per video from its path relative to the videos' common folder; each name used once."""
    absolute = [Path(os.path.abspath(v)) for v in videos]
    root = Path(os.path.commonpath([p.parent for p in absolute]))
    names, used = [], set()
    for path in absolute:
        relative = path.relative_to(root)
        base = "__".join([safe_name(part, "folder") for part in relative.parent.parts] + [safe_name(path.stem, "video")])
        name, n = base, 2
        while name.lower() in used:  # case-insensitive file systems would merge 'A' and 'a'
            name, n = f"{base}-{n}", n + 1
        used.add(name.lower())
        names.append(name)
    return names


def plan_batch(videos: Sequence[Path]) -> list[BatchVideo]:
    """Each video (by its absolute path: Ray's workers may run elsewhere) with its folder and content hash."""
    return [BatchVideo(Path(os.path.abspath(path)), folder, _sha(path))
            for path, folder in zip(videos, output_folders(videos))]


def _sha(path: Path) -> str | None:
    try:
        return cache.file_sha256(path)
    except OSError:
        return None


def is_complete(out: Path, video: BatchVideo, settings: BatchSettings, index: Index) -> bool:
    """Whether the video's folder holds complete outputs for the same content and settings.

    The index row says so cheaply; without one (index deleted), the folder's captions.json is checked, and
    its rows are put back in the index.
    """
    folder = out / video.folder
    if video.sha256 is None or not (folder / CAPTIONS_JSON).is_file():
        return False
    row = index.video_row(video.folder)
    if row is not None:
        return (row.get("status") == "ok" and row.get("sha256") == video.sha256
                and row.get("settings_key") == settings.key and _outputs_present(folder, row.get("files", [])))
    try:
        result = read_captions(folder / CAPTIONS_JSON)
    except UserError:
        return False
    same = (result.video_sha256 == video.sha256 and result.tracking.settings == settings.track
            and result.settings == settings.caption and ("video" in result.outputs) == settings.render)
    if same and _outputs_present(folder, output_files(result)):
        index.record(video_row(video, settings.key, result, files=output_files(result)), track_rows(video, result))
        return True
    return False


def _outputs_present(folder: Path, files: Sequence[str]) -> bool:
    return all((folder / name).is_file() for name in files)




# -- running --

def run_batch(inputs: Iterable[str | Path], out: str | Path, settings: BatchSettings, engine: str = "local",
              jobs: int | None = None, group: int = 4, recursive: bool = False, progress: bool = True,
              ray_options=None, on_video: Callable[[dict], None] | None = None) -> BatchSummary:
    """Caption every video the inputs name into its own folder under ``out``, skipping those already done;
    every finished video is recorded in ``out/index.jsonl`` (and passed to ``on_video``) as it finishes.

    ``engine``: "local" (``jobs`` worker processes; default one per GPU, one on CPU) or "ray"
    (``ray_options``: a ``videocap.batch.on_ray.RayOptions``). ``group``: videos whose tracks share DAM batches.
    """
    if engine not in ENGINES:
        raise UserError(f"--engine {engine}: choose from {', '.join(ENGINES)}")
    videos = list_videos(inputs, recursive, Path(out))
    if not videos:
        raise UserError(f"the inputs name no video outside the output folder {out}")
    # bad arguments fail before any model loads
    check_dam_available(settings.caption, settings.track.keyframe_count, segmenting=settings.track)
    out = ensure_writable_dir(out)
    if engine == "ray":
        from videocap.batch.on_ray import check_ray

        check_ray(ray_options.address if ray_options else None)
    index = Index(out)
    plan = plan_batch(videos)
    pending = [video for video in plan if not is_complete(out, video, settings, index)]
    summary = BatchSummary(len(plan), skipped=len(plan) - len(pending))
    started = time.perf_counter()
    try:
        with progress_bar(len(pending), "videos", "video", progress and bool(pending)) as bar:
            def record(row: dict, tracks: list[dict]) -> None:
                index.record(row, tracks)
                if row["status"] == "ok":
                    summary.done += 1
                else:
                    summary.failed.append(row)
                bar.update(1)
                bar.set_postfix(failed=len(summary.failed), refresh=False)
                if on_video is not None:
                    on_video(row)

            if engine == "ray" and pending:
                from videocap.batch.on_ray import RayOptions, run_ray

                run_ray(out.absolute(), pending, settings, ray_options or RayOptions(), group, record)
            elif pending:
                run_local(out, pending, settings, jobs or default_jobs(settings), group, record)
    finally:
        index.compact([video.folder for video in plan])
        summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def default_jobs(settings: BatchSettings) -> int:
    """One worker per GPU (when no device is set), one on CPU."""
    if settings.track.device not in (None, "") or settings.caption.device not in (None, ""):
        return 1
    import torch

    return max(1, torch.cuda.device_count())


def run_local(out: Path, videos: Sequence[BatchVideo], settings: BatchSettings, jobs: int, group: int,
              record: Callable[[dict, list[dict]], None]) -> None:
    """The videos on ``jobs`` worker processes (in this process for one), each with its models loaded once."""
    if jobs <= 1:
        worker = BatchWorker(settings, out)
        for part in groups(videos, group):
            for rows in worker.run_group(part):
                record(*rows)
        return
    context = multiprocessing.get_context("spawn")  # CUDA and forked threads do not mix
    counter = context.Value("i", 0)
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker,
                             initargs=(settings, str(out), jobs, counter)) as pool:
        futures = {pool.submit(_run_group, part): part for part in groups(videos, group, jobs)}
        try:
            for future in as_completed(futures):
                try:
                    results = future.result()
                except Exception as exc:  # noqa: BLE001 - a worker died: its videos failed, the rest go on
                    results = [BatchWorker.failed_rows(settings, video, one_line(exc)) for video in futures[future]]
                for rows in results:
                    record(*rows)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


_WORKER: BatchWorker | None = None


def _start_worker(settings: BatchSettings, out: str, jobs: int, counter) -> None:
    """A worker process: its own share of the CPU threads, and a GPU of its own when there are GPUs."""
    global _WORKER
    import torch

    with counter.get_lock():
        number = counter.value
        counter.value += 1
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))
    gpus = torch.cuda.device_count()
    device = str(number % gpus) if gpus and settings.track.device is None else None
    _WORKER = BatchWorker(settings, Path(out), device)


def _run_group(videos: list[BatchVideo]) -> list[Rows]:
    return list(_WORKER.run_group(videos))
