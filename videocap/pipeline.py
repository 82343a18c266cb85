"""The library API: the one place that strings the stages together.

video -> detections -> tracks -> keyframes -> captions -> outputs:

- ``track_video``: a video range's tracks with their keyframes (``tracks.json``);
- ``caption_video``: tracks (from the cache when this video, range, model and settings were tracked
  before), DAM captions per track, and every output file in a folder;
- ``caption_images``: every object of a class in a photo or a folder of photos, captioned;
- ``track_for_captions``, ``plan_captions``, ``caption_runs``, ``write_run``: ``caption_video`` step by step,
  for several videos whose tracks are captioned in shared DAM batches (``videocap.batch.runner``);
- ``render_captions`` / ``write_subtitles``: the outputs again from an edited ``captions.json``.

Each video is opened (and its metadata read) once per call; models may be passed in to be reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from videocap.segment import cache

from videocap import checkpoints
from videocap.caption.jobs import (
    CaptionJob,
    caption_videos,
    check_dam_available,
    describe,
    keyframe_span,
    load_dam,
    make_jobs,
)
from videocap.errors import UserError
from videocap.outputs.exports import FORMATS, write_exports
from videocap.io.files import ensure_writable_dir, write_json
from videocap.outputs.photos import list_photos, output_names, photo_objects, read_photo
from videocap.caption.keyframes import select_keyframes
from videocap.outputs.writing import report_names, subtitle_names, write_outputs, write_photo_outputs
from videocap.outputs.writing import write_subtitles as write_subtitle_files
from videocap.progress import progress_bar
from videocap.outputs.report import write_report as write_report_files
from videocap.results import (
    Caption,
    CaptionResult,
    PhotoResult,
    Track,
    TrackingResult,
    read_captions,
)
from videocap.settings import CaptionSettings, ImageSettings, TrackSettings
from videocap.caption.early import CaptionWorker
from videocap.io.staging import Staging, check_not_in_use, output_run
from videocap.segment.tracking import (
    BatchTracker,
    TrackBuilder,
    Tracker,
    keep_track,
    make_segmenter,
    make_tracker,
    track_batches,
)
from videocap.io.video import Frame, Video

OnCaption = Callable[[Track, Caption], None]
OnEnded = Callable[[list[Track]], None]


def track_video(path: str | Path, settings: TrackSettings, tracker: Tracker | None = None,
                progress: bool = True) -> TrackingResult:
    """Decode, segment and track one video range; pick keyframes for every kept track."""
    return _track(Video(path), settings, tracker, progress)


def write_tracks(path: str | Path, settings: TrackSettings, out_file: str | Path, tracker: Tracker | None = None,
                 progress: bool = True) -> TrackingResult:
    """``track_video`` into the tracks JSON ``out_file``."""
    video = Video(path)
    video.resolve_range(settings.start, settings.end, settings.stride)
    if Path(out_file).is_dir():
        raise UserError(f"--out {out_file} is a folder: give the path of the tracks JSON to write")
    ensure_writable_dir(Path(out_file).parent)
    result = _track(video, settings, tracker, progress)
    write_json(out_file, result.to_json(lazy=True))
    return result


def _track(video: Video, settings: TrackSettings, tracker: Tracker | None, progress: bool,
           on_ended: OnEnded | None = None) -> TrackingResult:
    """Track a video range; ``on_ended`` gets the tracks that have ended, as soon as the tracker tells."""
    started = time.perf_counter()
    frame_range = video.resolve_range(settings.start, settings.end, settings.stride)  # before any model loads
    tracker = tracker or make_tracker(settings)
    tracker.select_classes(settings.classes)
    builder = TrackBuilder()
    with video.read(frame_range) as frames, progress_bar(len(frame_range), "tracking", "frame", progress) as bar:
        for batch in track_batches(frames, tracker):
            for detections in batch:
                builder.add(detections)
            bar.update(len(batch))
            if on_ended is not None and isinstance(tracker, BatchTracker):
                on_ended(builder.ended(tracker.live_ids()))
    if on_ended is not None:
        on_ended(builder.ended())  # the video is over
    elapsed = time.perf_counter() - started
    timing = {"track_seconds": round(elapsed, 3), "frames_per_second": round(len(frame_range) / max(elapsed, 1e-9), 2)}
    return _kept(TrackingResult(video.info, settings, frame_range, builder.tracks(), timing))


def _kept(result: TrackingResult) -> TrackingResult:
    """Only the tracks the settings keep, each with its keyframes."""
    settings = result.settings
    tracks = [t for t in result.tracks if keep_track(t, settings)]
    for track in tracks:
        track.keyframe_positions = select_keyframes(track, settings.keyframe_count, settings.keyframe_method)
    return dataclasses.replace(result, tracks=tracks)


def _track_with_cache(video: Video, settings: TrackSettings, tracker: Tracker | None, progress: bool,
                      use_cache: bool, on_ended: OnEnded | None = None) -> tuple[TrackingResult, str]:
    """Tracks of a video range, from the cache when they were made before; also the video's SHA-256."""
    frame_range = video.resolve_range(settings.start, settings.end, settings.stride)
    video_sha = cache.file_sha256(video.path)
    key = cache.tracking_key(video_sha, frame_range.start, frame_range.end, frame_range.stride, settings.model,
                             settings.classes, settings.conf, settings.imgsz, settings.device, settings.segmenter,
                             settings.sam3)
    # Tracks are cached before the min_frames/min_score filter and keyframe selection, redone every run.
    unfiltered = dataclasses.replace(settings, min_frames=1, min_score=0.0)
    result = _from_cache(key) if use_cache else None
    if result is None:
        result = _track(video, unfiltered, tracker, progress, on_ended)
        if use_cache:
            cache.store(key, result.to_json(lazy=True))
        result.timing["tracking_cached"] = False
    else:
        result.timing = {"track_seconds": 0.0, "tracking_cached": True}
    return _kept(dataclasses.replace(result, video=video.info, settings=settings)), video_sha


def _from_cache(key: str) -> TrackingResult | None:
    raw = cache.load(key)
    try:
        return None if raw is None else TrackingResult.from_json(raw)
    except (KeyError, TypeError, ValueError, UserError):
        return None


def caption_video(path: str | Path, track_settings: TrackSettings, settings: CaptionSettings, out_dir: str | Path,
                  tracker: Tracker | None = None, model=None, progress: bool = True, use_cache: bool = True,
                  on_caption: OnCaption | None = None, render: bool = True, overlap: bool = True) -> CaptionResult:
    """Track, caption and write every output into ``out_dir``; returns what ``captions.json`` holds.

    ``tracker`` and ``model`` (a loaded ``DamModel``) may be passed in to reuse loaded models;
    ``on_caption`` is called with each caption as soon as it is made. With ``overlap``, tracks that have
    ended are captioned while tracking goes on (``videocap.caption.early``), with the same captions. The folder is
    created (and locked) only once the inputs are known good, and changes only when every output is complete
    (``videocap.io.staging``).
    """
    started = time.perf_counter()
    video = Video(path)  # bad video input fails here, before any model loads
    video.resolve_range(track_settings.start, track_settings.end, track_settings.stride)
    check_not_in_use(out_dir)
    if model is None:
        check_dam_available(settings.dam)
    with output_run(out_dir) as staging:  # locked from here: a second run into the folder stops at once
        early = _EarlyCaptions(video, model, settings, track_settings) if overlap else None
        tracking, video_sha = _track_with_cache(video, track_settings, tracker, progress, use_cache,
                                                early.submit if early else None)
        tracker = None  # let YOLO go before DAM loads (when DAM was not loaded during tracking)
        run = plan_captions(video, tracking, video_sha, settings, started)
        if early is not None and early.tracked:  # every track ended during tracking: its jobs are done or queued
            early.finish(run, on_caption)
        else:  # the tracks came from the cache (or no overlap): caption them now
            caption_runs([run], settings, model, progress, on_caption)
        return write_run(run, staging, render, progress)


class _EarlyCaptions:
    """Caption jobs of the tracks that have ended while tracking goes on (loading DAM at the first); ``finish``
    puts the captions into the run as ``caption_runs`` would."""

    def __init__(self, video: Video, model, settings: CaptionSettings, track_settings: TrackSettings) -> None:
        self.frame_range = video.resolve_range(track_settings.start, track_settings.end, track_settings.stride)
        self.hold = self.frame_range.stride / max(video.info.fps, 1e-6)  # as plan_captions
        self.end_time = video.end_time(self.frame_range)
        self.video, self.model, self.settings, self.track_settings = video, model, settings, track_settings
        self.worker: CaptionWorker | None = None
        self.tracked = False  # tracking ran (the tracks did not come from the cache)
        self.load_seconds = 0.0

    def submit(self, ended: list[Track]) -> None:
        """The same kept tracks, keyframes and jobs as ``_kept`` and ``plan_captions`` make at the end."""
        self.tracked = True
        kept = [t for t in ended if keep_track(t, self.track_settings)]
        for track in kept:
            track.keyframe_positions = select_keyframes(track, self.track_settings.keyframe_count,
                                                        self.track_settings.keyframe_method)
        jobs = make_jobs(kept, self.hold, self.end_time, self.settings.segment_seconds, self.track_settings)
        if jobs and self.worker is None:
            loaded = time.perf_counter()
            self.model = self.model or load_dam(self.settings)  # beside the segmenter on the same device
            self.load_seconds = round(time.perf_counter() - loaded, 3)
            self.worker = CaptionWorker(self.model, self.video, self.frame_range, self.settings)
        if jobs:
            self.worker.submit(jobs)

    def finish(self, run: CaptionRun, on_caption: OnCaption | None) -> None:
        """Wait for the last captions and record them in ``run`` (caption_seconds: the wait after tracking)."""
        waited = time.perf_counter()
        made = self.worker.finish() if self.worker else []
        run.result.prompt_style = getattr(self.model, "prompt_style", None)
        for job, caption in made:
            job.track.captions.append(caption)
            if on_caption is not None:
                on_caption(job.track, caption)
        if not made:
            return
        for track in run.result.tracks:
            track.captions.sort(key=lambda c: c.start)
        run.result.timing.update(dam_load_seconds=self.load_seconds, captioned_while_tracking=True,
                                 caption_seconds=round(time.perf_counter() - waited, 3), captions=len(made))


@dataclasses.dataclass
class CaptionRun:
    """One video between its tracking and its outputs: its caption jobs and the result they fill in.

    ``caption_video`` is ``track_for_captions`` + ``plan_captions`` + ``caption_runs`` + ``write_run``;
    ``videocap.batch.runner`` calls them one by one, to caption the tracks of several videos in shared DAM batches.
    """

    video: Video
    result: CaptionResult
    jobs: list[CaptionJob]
    started: float  # time.perf_counter() when the video's run began


def track_for_captions(video: Video, track_settings: TrackSettings, tracker: Tracker | None = None,
                       progress: bool = True, use_cache: bool = True) -> tuple[TrackingResult, str]:
    """The kept tracks (with keyframes) of a video range, from the cache when tracked before, and the video's
    SHA-256: what ``caption_video`` captions."""
    return _track_with_cache(video, track_settings, tracker, progress, use_cache)


def plan_captions(video: Video, tracking: TrackingResult, video_sha: str, settings: CaptionSettings,
                  started: float | None = None) -> CaptionRun:
    """The caption jobs of a tracked video, and its (not yet captioned) result."""
    track_settings = tracking.settings
    start_time, end_time = video.time_of(tracking.frame_range.start), video.end_time(tracking.frame_range)
    hold = tracking.frame_range.stride / max(video.info.fps, 1e-6)  # how long a processed frame is shown
    jobs = make_jobs(tracking.tracks, hold, end_time, settings.segment_seconds, track_settings)
    result = CaptionResult(tracking, settings, start_time, end_time, video_sha, None, dict(tracking.timing))
    result.model_records = model_records(track_settings.model, settings.dam)
    return CaptionRun(video, result, jobs, time.perf_counter() if started is None else started)


def caption_runs(runs: list[CaptionRun], settings: CaptionSettings, model=None, progress: bool = True,
                 on_caption: OnCaption | None = None):
    """Caption the jobs of every run, DAM batches shared across the runs' videos; returns the model (loaded
    here when ``model`` is None and some run has a job, else the one given)."""
    for run in runs:
        run.result.prompt_style = getattr(model, "prompt_style", None)
    pending = [run for run in runs if run.jobs]
    if not pending:
        return model
    loaded = time.perf_counter()
    model = model or load_dam(settings)
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


def model_records(segmentation: str, captioning: str | None) -> dict:
    """What captions.json says about each model: name, local path, revision and licence."""
    dam = checkpoints.local_model_path(captioning) if captioning else None
    return {"segmentation": checkpoints.model_record(segmentation, checkpoints.local_model_path(segmentation)),
            "captioning": checkpoints.model_record(captioning, dam)}


def caption_images(path: str | Path, settings: ImageSettings, captioning: CaptionSettings, out_dir: str | Path,
                   segmenter=None, model=None, progress: bool = True,
                   on_caption: Callable[[Path, Track], None] | None = None) -> list[PhotoResult]:
    """Caption every object of the classes in a photo or a folder of photos; writes and returns each photo's
    result (``<photo>.json`` and ``<photo>.captioned.jpg|png`` in ``out_dir``, put in place together when
    every photo is done)."""
    photos = list_photos(path)
    if len(photos) == 1:
        read_photo(photos[0])  # a bad single photo fails before any model loads
    check_not_in_use(out_dir)
    if model is None:
        check_dam_available(captioning.dam)
    with output_run(out_dir) as staging:
        segmenter = segmenter or make_segmenter(settings)
        names = output_names(photos)
        records = model_records(settings.model, captioning.dam)
        results, written = [], []
        with progress_bar(len(photos), "photos", "photo", progress and len(photos) > 1) as bar:
            for photo in photos:
                bar.update(1)
                try:
                    image = read_photo(photo)
                except UserError as exc:
                    if len(photos) == 1:
                        raise
                    bar.write(f"videocap: skipped {exc}")
                    continue
                result, model = _photo_result(photo, image, segmenter, model, settings, captioning, on_caption)
                result.run_id, result.model_records = staging.run_id, records
                written += write_photo_outputs(result, image, staging.folder, names[photo])
                results.append(result)
        staging.commit(written)
    return results


def _photo_result(photo: Path, image, segmenter, model, settings: ImageSettings, captioning: CaptionSettings,
                  on_caption: Callable[[Path, Track], None] | None) -> tuple[PhotoResult, object]:
    """One photo's objects captioned, and the DAM model (loaded at the first photo with objects)."""
    started = time.perf_counter()
    objects = photo_objects(segmenter(image))
    detected = time.perf_counter()
    if objects and model is None:
        model = load_dam(captioning)
    loaded = time.perf_counter()
    _caption_photo(model, image, objects, captioning, lambda obj: on_caption and on_caption(photo, obj))
    result = PhotoResult(photo, int(image.shape[1]), int(image.shape[0]), hashlib.sha256(photo.read_bytes()).hexdigest(),
                         settings, captioning, objects, getattr(model, "prompt_style", None))
    result.timing = {"segment_seconds": round(detected - started, 3), "dam_load_seconds": round(loaded - detected, 3),
                     "caption_seconds": round(time.perf_counter() - loaded, 3)}
    result.timing["total_seconds"] = round(time.perf_counter() - started, 3)
    return result, model


def _caption_photo(model, image, objects: list[Track], settings: CaptionSettings,
                   on_caption: Callable[[Track], object]) -> None:
    """DAM's single-image captions of a photo's objects, ``batch_size`` at a time."""
    for start in range(0, len(objects), settings.batch_size):
        group = objects[start:start + settings.batch_size]
        seed = None if settings.seed is None else settings.seed + start
        texts = describe(model, [([image], [obj.first.mask.to_mask()]) for obj in group], settings, seed)
        for obj, text in zip(group, texts):
            obj.captions = [Caption(0.0, 0.0, 0, 0, [0], text)]
            on_caption(obj)


def render_captions(captions_json: str | Path, video_path: str | Path | None = None, out_dir: str | Path | None = None,
                    progress: bool = True, overlay: str | None = None) -> CaptionResult:
    """The captioned MP4 and MKV and the subtitles again, from a ``captions.json`` (no model runs), as a new
    set of outputs (a new run id) replacing the folder's previous one.

    ``video_path`` replaces the source path recorded in the JSON (when the video has moved); ``overlay``
    the recorded mask style.
    """
    result = read_captions(captions_json)
    if overlay is not None:
        result.settings = dataclasses.replace(result.settings, overlay=overlay)
    if video_path is not None:
        result.tracking.video = dataclasses.replace(result.video, path=str(video_path))
    video = Video(result.video.path)
    with output_run(out_dir or Path(captions_json).parent) as staging:
        write_outputs(result, staging, video, progress=progress)
    return result


def write_subtitles(captions_json: str | Path, out_dir: str | Path | None = None) -> CaptionResult:
    """The subtitle files (.srt and .vtt per object, and the .ass) again, from a ``captions.json``."""
    result = read_captions(captions_json)
    with output_run(out_dir or Path(captions_json).parent) as staging:
        write_subtitle_files(result, staging.folder)
        staging.commit(subtitle_names(result))
    return result


def _captions_in(folder_or_json: str | Path) -> Path:
    """A run's ``captions.json``: the path itself, or the one in the folder given."""
    path = Path(folder_or_json)
    return path / "captions.json" if path.is_dir() else path


def write_report(folder_or_json: str | Path, video_path: str | Path | None = None) -> CaptionResult:
    """``report.html`` and the contact sheets again, from a run's folder (or its ``captions.json``); the
    keyframes are decoded from the source video (``video_path`` when it has moved)."""
    captions_json = _captions_in(folder_or_json)
    result = read_captions(captions_json)
    video = Video(video_path) if video_path is not None else None
    previous_sheets = list(result.outputs.get("contact_sheets", {}).values())
    with output_run(captions_json.parent) as staging:
        result.timing.update(write_report_files(result, staging.folder, video))
        staging.commit(report_names(result), remove=previous_sheets)
    return result


def export_tracks(folder_or_json: str | Path, formats: tuple[str, ...] = FORMATS,
                  out_dir: str | Path | None = None) -> list[Path]:
    """A run's tracks as MOTChallenge text and/or YouTube-VIS JSON (see ``videocap.outputs.exports``)."""
    captions_json = _captions_in(folder_or_json)
    result = read_captions(captions_json)
    return write_exports(result, ensure_writable_dir(out_dir or captions_json.parent), formats)


def describe_object(media: str | Path, masks: list[Path], settings: CaptionSettings, num_frames: int = 8,
                    prompt_style: str | None = None, stream: bool = False) -> Iterator[str]:
    """DAM's description of one masked object in an image or a video (``videocap describe``), in pieces as
    it is generated when ``stream``, else in one piece. ``settings.query`` may be a question or a full query
    with one ``<image>`` per frame."""
    from videocap.dam.inputs import check_context, load_inputs
    from videocap.dam.preprocess import check_inputs

    folder = len(masks) == 1 and Path(masks[0]).is_dir()
    check_context(settings.dam, prompt_style, num_frames if folder else len(masks), settings.query,
                  "--frames" if folder else "--mask")
    frames, frame_masks = load_inputs(Path(media), tuple(Path(m) for m in masks), num_frames)
    try:
        check_inputs(frames, frame_masks)  # sizes and empty masks: before the weights load
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    model = load_dam(settings, prompt_style)
    query = settings.query
    if query is not None and "<image>" not in query:
        query = model.default_query(len(frames), query)
    options = {"max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
               "top_p": settings.top_p, "seed": settings.seed}
    try:
        if stream:
            yield from model.stream(frames, frame_masks, query, **options)
        else:
            yield model.describe(frames, frame_masks, query, **options)
    except ValueError as exc:  # bad masks or query: the user's to fix
        raise UserError(str(exc)) from exc
