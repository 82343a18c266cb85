"""Caption runs of a video: tracks (from the cache when made before), DAM captions per track, every output.

``caption_video`` is ``track_for_captions`` + ``plan_captions`` + ``caption_runs`` + ``write_run``;
``videocap.batch`` calls them one by one, to caption the tracks of several videos in shared DAM batches.
Each video is opened (and its metadata read) and its frame range resolved once per run; models may be
passed in to be reused.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from videocap import checkpoints
from videocap.caption.early import EarlyCaptions
from videocap.caption.jobs import (
    CaptionJob,
    caption_videos,
    check_dam_available,
    keyframe_span,
    load_dam,
    make_jobs,
)
from videocap.io.staging import Staging, check_input_kept, check_not_in_use, output_run
from videocap.io.video import Frame, Video
from videocap.outputs.registry import OUTPUT_SUFFIXES, check_outputs_free, write_outputs
from videocap.outputs.writing import MKV, VIDEO
from videocap.pipeline.tracks import resolve, tracks_with_cache
from videocap.results import Caption, CaptionResult, Track, TrackingResult
from videocap.segment.registry import segmenter_entry
from videocap.segment.tracking import Tracker
from videocap.settings import CaptionSettings, TrackSettings

OnCaption = Callable[[Track, Caption], None]


def caption_video(path: str | Path, track_settings: TrackSettings, settings: CaptionSettings, out_dir: str | Path,
                  tracker: Tracker | None = None, model=None, progress: bool = True, use_cache: bool = True,
                  on_caption: OnCaption | None = None, render: bool = True, overlap: bool = True) -> CaptionResult:
    """Track, caption and write every output into ``out_dir``; returns what ``captions.json`` holds.

    ``tracker`` and ``model`` (a loaded ``DamModel``) may be passed in to reuse loaded models;
    ``on_caption`` is called with each caption as soon as it is made. With ``overlap``, tracks that have
    ended are captioned while tracking goes on (``videocap.caption.early``), with the same captions. The
    folder is created (and locked) only once the inputs are known good, and changes only when every output
    is complete (``videocap.io.staging``).
    """
    started = time.perf_counter()
    video = Video(path)  # bad video input fails here, before any model loads
    frame_range, track_settings = resolve(video, track_settings)
    overlap = overlap and not track_settings.prompts  # prompted tracks are picked once tracking is over
    check_input_kept(path, out_dir, (VIDEO, MKV))
    check_not_in_use(out_dir)
    check_outputs_free(out_dir, render=render)
    checkpoint = check_dam_available(settings, track_settings.keyframe_count, segmenting=track_settings) \
        if model is None else None
    with output_run(out_dir, OUTPUT_SUFFIXES) as staging:  # locked from here: a second run into the folder stops at once
        early = EarlyCaptions(video, frame_range, model, settings, track_settings, checkpoint) if overlap else None
        tracking, video_sha = tracks_with_cache(video, frame_range, track_settings, tracker, progress, use_cache,
                                                early.submit if early else None)
        tracker = None  # let YOLO go before DAM loads (when DAM was not loaded during tracking)
        records = model_records(track_settings, settings, checkpoint)
        run = plan_captions(video, tracking, video_sha, settings, started, records)
        check_outputs_free(out_dir, run.result, render)  # the tracks' files too, before they are captioned
        if early is not None and early.tracked:  # every track ended during tracking: its jobs are done or queued
            early.finish(run.result, on_caption)
        else:  # the tracks came from the cache (or no overlap): caption them now
            caption_runs([run], settings, model, progress, on_caption, checkpoint)
        return write_run(run, staging, render, progress)


@dataclasses.dataclass
class CaptionRun:
    """One video between its tracking and its outputs: its caption jobs and the result they fill in."""

    video: Video
    result: CaptionResult
    jobs: list[CaptionJob]
    started: float  # time.perf_counter() when the video's run began


def track_for_captions(video: Video, track_settings: TrackSettings, tracker: Tracker | None = None,
                       progress: bool = True, use_cache: bool = True) -> tuple[TrackingResult, str]:
    """The kept tracks (with keyframes) of a video range, from the cache when tracked before, and the video's
    SHA-256: what ``caption_video`` captions."""
    frame_range, track_settings = resolve(video, track_settings)
    return tracks_with_cache(video, frame_range, track_settings, tracker, progress, use_cache)


def plan_captions(video: Video, tracking: TrackingResult, video_sha: str, settings: CaptionSettings,
                  started: float | None = None, records: dict | None = None) -> CaptionRun:
    """The caption jobs of a tracked video, and its (not yet captioned) result; ``records``: the models'
    provenance when the caller has it already (``model_records``)."""
    start_time, end_time = video.time_of(tracking.frame_range.start), video.end_time(tracking.frame_range)
    jobs = make_jobs(tracking.tracks, tracking.hold, end_time, settings.segment_seconds, tracking.settings)
    result = CaptionResult(tracking, settings, start_time, end_time, video_sha, None, dict(tracking.timing))
    result.model_records = records if records is not None else model_records(tracking.settings, settings)
    return CaptionRun(video, result, jobs, time.perf_counter() if started is None else started)


def model_records(segmenting: TrackSettings, captioning: CaptionSettings, dam_checkpoint=None) -> dict:
    """What captions.json says about each model: name, local path, revision and licence (of the DAM folder
    ``dam_checkpoint`` found, when it was opened already)."""
    entry = segmenter_entry(segmenting.segmenter)
    dam = checkpoints.model_record(captioning.dam, dam_checkpoint.root) if dam_checkpoint else \
        checkpoints.provenance(captioning.dam)
    return {"segmentation": entry.model_record(segmenting.segmenter_model), "captioning": dam}


def caption_runs(runs: list[CaptionRun], settings: CaptionSettings, model=None, progress: bool = True,
                 on_caption: OnCaption | None = None, checkpoint=None):
    """Caption the jobs of every run, DAM batches shared across the runs' videos; returns the model (loaded
    here, from ``checkpoint`` when it was opened already, when ``model`` is None and some run has a job, else
    the one given)."""
    for run in runs:
        run.result.prompt_style = getattr(model, "prompt_style", None)
    pending = [run for run in runs if run.jobs]
    if not pending:
        return model
    loaded = time.perf_counter()
    model = model or load_dam(settings, checkpoint=checkpoint)
    load_seconds = round(time.perf_counter() - loaded, 3)
    captioned = time.perf_counter()
    videos = [(run.jobs, _keyframes(run)) for run in pending]
    for _, job, caption in caption_videos(model, videos, settings, progress):
        job.track.captions.append(caption)
        if on_caption is not None:
            on_caption(job.track, caption)
    seconds = round(time.perf_counter() - captioned, 3)  # of the shared batches: the videos' common time
    for run in pending:
        for track in run.result.tracks:
            track.captions.sort(key=lambda c: c.start)
        run.result.prompt_style = model.prompt_style
        run.result.timing.update(dam_load_seconds=load_seconds, caption_seconds=seconds, captions=len(run.jobs))
    return model


def _keyframes(run: CaptionRun) -> Iterator[Frame]:
    """The run's frames over its jobs' keyframe span, opened only when the captioner reaches this video."""
    with run.video.read(keyframe_span(run.jobs, run.result.frame_range)) as frames:
        yield from frames


def write_run(run: CaptionRun, out: Staging | str | Path, render: bool = True, progress: bool = True) -> CaptionResult:
    """Every output of a captioned run into the staging folder ``out`` (or a folder, staged and locked
    there), put in place as one set (``captions.json`` last); returns the result."""
    write_outputs(run.result, out if isinstance(out, Staging) else Path(out), run.video if render else None,
                  progress=progress, started=run.started)
    return run.result
