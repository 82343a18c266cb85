"""One process's share of a batch: a ``BatchWorker`` holds the models (YOLO and DAM, loaded once, reused for
every video) and runs a group of videos through the pipeline's steps: each video tracked, the tracks of the
whole group captioned in shared DAM batches, then each video's folder written (exactly what ``caption``
writes). One video's failure is its own: it is returned with its one-line error and the others go on.
The local engine (``videocap.batch.runner``) runs groups on workers; the Ray engine (``videocap.batch.on_ray``)
calls the three steps in three stages of actors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from videocap import __version__
from videocap.batch.index import track_rows, video_row
from videocap.errors import UserError
from videocap.io.video import Video
from videocap.outputs.registry import check_outputs_free, manifest_names
from videocap.pipeline import (
    CaptionRun,
    caption_runs,
    plan_captions,
    track_for_captions,
    write_run,
)
from videocap.pipeline.video import model_records
from videocap.results import CaptionResult
from videocap.segment.tracking import make_tracker
from videocap.settings import CaptionSettings, TrackSettings

Rows = tuple[dict, list[dict]]  # a finished video's row and its tracks' rows


@dataclass(frozen=True)
class BatchSettings:
    """What every video of a batch is run with (the flags of ``caption``)."""

    track: TrackSettings
    caption: CaptionSettings
    render: bool = True
    use_cache: bool = True

    @property
    def key(self) -> str:
        """Changes whenever the outputs would: a video done under another key is redone."""
        parts = {"track": dataclasses.asdict(self.track), "caption": dataclasses.asdict(self.caption),
                 "render": self.render, "videocap": __version__}
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class BatchVideo:
    """One video of a batch and the folder (relative to the batch's DIR) its outputs go to."""

    path: Path
    folder: str
    sha256: str | None = None  # None when the file cannot be read (it fails when run, with its error)


def output_files(result: CaptionResult) -> list[str]:
    """The files of the video's set, as its captions.json names them."""
    return sorted(manifest_names(result.outputs))


def one_line(exc: BaseException) -> str:
    """A failure as the one line the index and the summary show."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, UserError) else f"{type(exc).__name__}: {text}".rstrip(": ")


def shares_batches(settings: CaptionSettings) -> bool:
    """Whether videos' tracks may share DAM batches without changing any caption.

    Greedy captions do not depend on the batch. Seeded sampling gives each job its own seed
    (``captioning.job_seed``), but a sampled token can still turn on the last bits of logits that
    other videos' rows in the batch change (and a Ray run forms groups in the order videos finish
    tracking): so such a video is still batched alone, as ``caption`` does, and its captions are
    exactly those of ``caption``, on either engine.
    """
    return settings.temperature <= 0 or settings.seed is None


class BatchWorker:
    """The models of one process, loaded at first use and reused for every video after."""

    def __init__(self, settings: BatchSettings, out: Path, device: str | None = None) -> None:
        self.settings, self.out = settings, Path(out)
        self.track_settings, self.caption_settings = settings.track, settings.caption
        if device is not None:  # this worker's GPU; the settings' key stays the batch's
            self.track_settings = dataclasses.replace(settings.track, device=device)
            self.caption_settings = dataclasses.replace(settings.caption, device=device)
        self.tracker = None
        self.model = None
        self.records: dict | None = None  # the models' provenance: the same for every video of the batch

    def track(self, video: BatchVideo) -> CaptionRun:
        started = time.perf_counter()
        opened = Video(video.path)
        if self.tracker is None:
            self.tracker = make_tracker(self.track_settings)
        tracking, sha = track_for_captions(opened, self.track_settings, self.tracker, progress=False,
                                           use_cache=self.settings.use_cache)
        if self.records is None:
            self.records = model_records(self.track_settings, self.caption_settings)
        run = plan_captions(opened, tracking, sha, self.caption_settings, started, self.records)
        check_outputs_free(self.out / video.folder, run.result, self.settings.render)  # before its captions
        return run

    def caption(self, runs: list[CaptionRun]) -> dict[int, str]:
        """Caption the runs' tracks, in shared batches when ``shares_batches``; the errors, by position in
        ``runs``. When a shared batch fails, each video is captioned alone, so that only the bad one fails."""
        if len(runs) <= 1 or shares_batches(self.caption_settings):
            try:
                self.model = caption_runs(runs, self.caption_settings, self.model, progress=False)
                return {}
            except Exception as exc:  # noqa: BLE001 - one video's failure must not stop the batch
                if len(runs) == 1:
                    return {0: one_line(exc)}
            for run in runs:
                for track in run.result.tracks:
                    track.captions.clear()
        return {n: error for n, run in enumerate(runs) for error in self.caption([run]).values()}

    def write(self, video: BatchVideo, run: CaptionRun) -> Rows:
        result = write_run(run, self.out / video.folder, self.settings.render, progress=False)
        return video_row(video, self.settings.key, result, files=output_files(result)), track_rows(video, result)

    def failed(self, video: BatchVideo, error: str) -> Rows:
        return self.failed_rows(self.settings, video, error)

    @staticmethod
    def failed_rows(settings: BatchSettings, video: BatchVideo, error: str) -> Rows:
        return video_row(video, settings.key, error=error), []

    def run_group(self, videos: Sequence[BatchVideo]) -> Iterator[Rows]:
        """Each video's rows: all tracked, their tracks captioned together, then each folder written."""
        runs = []
        for video in videos:
            try:
                runs.append((video, self.track(video)))
            except Exception as exc:  # noqa: BLE001
                yield self.failed(video, one_line(exc))
        errors = self.caption([run for _, run in runs])
        for n, (video, run) in enumerate(runs):
            if n in errors:
                yield self.failed(video, errors[n])
                continue
            try:
                yield self.write(video, run)
            except Exception as exc:  # noqa: BLE001
                yield self.failed(video, one_line(exc))


def groups(videos: Sequence[BatchVideo], size: int, workers: int = 1) -> list[list[BatchVideo]]:
    """Consecutive videos captioned together, ``size`` at most, smaller when that keeps every worker busy."""
    size = max(1, min(size, -(-len(videos) // max(workers, 1))))
    return [list(videos[i:i + size]) for i in range(0, len(videos), size)]
