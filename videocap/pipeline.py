"""The library API: the one place that strings the stages together.

video -> detections -> tracks -> keyframes -> captions -> outputs:

- ``track_video``: a video range's tracks with their keyframes (``tracks.json``);
- ``caption_video``: tracks (from the cache when this video, range, model and settings were tracked
  before), DAM captions per track, and every output file in a folder;
- ``caption_images``: every object of a class in a photo or a folder of photos, captioned;
- ``render_captions`` / ``write_subtitles``: the outputs again from an edited ``captions.json``.

Each video is opened (and its metadata read) once per call; models may be passed in to be reused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from videocap import cache
from videocap.captioning import (CaptionJob, caption_jobs, check_dam_available, describe, keyframe_span, load_dam,
                                 make_jobs)
from videocap.errors import UserError
from videocap.files import ensure_writable_dir, write_json
from videocap.images import list_photos, output_names, photo_objects, read_photo
from videocap.keyframes import select_keyframes
from videocap.outputs import write_outputs, write_photo_outputs, write_subtitles as write_subtitle_files
from videocap.progress import progress_bar
from videocap.results import (Caption, CaptionResult, PhotoResult, Track, TrackingResult, read_captions)
from videocap.settings import CaptionSettings, ImageSettings, TrackSettings
from videocap.overlap import CaptionWorker
from videocap.tracking import BatchTracker, TrackBuilder, Tracker, keep_track, make_tracker, track_batches
from videocap.video import Video

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
    ensure_writable_dir(Path(out_file).parent)
    result = _track(video, settings, tracker, progress)
    write_json(out_file, result.to_json())
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
        track.keyframes = select_keyframes(track, settings.keyframes, settings.keyframe_method)
    return dataclasses.replace(result, tracks=tracks)


def _track_with_cache(video: Video, settings: TrackSettings, tracker: Tracker | None, progress: bool,
                      use_cache: bool, on_ended: OnEnded | None = None) -> tuple[TrackingResult, str]:
    """Tracks of a video range, from the cache when they were made before; also the video's SHA-256."""
    frame_range = video.resolve_range(settings.start, settings.end, settings.stride)
    video_sha = cache.file_sha256(video.path)
    key = cache.tracking_key(video_sha, frame_range.start, frame_range.end, frame_range.stride, settings.model,
                             settings.classes, settings.conf, settings.imgsz, settings.device)
    # Tracks are cached before the min_frames/min_score filter and keyframe selection, redone every run.
    unfiltered = dataclasses.replace(settings, min_frames=1, min_score=0.0)
    result = _from_cache(key) if use_cache else None
    if result is None:
        result = _track(video, unfiltered, tracker, progress, on_ended)
        if use_cache:
            cache.store(key, result.to_json())
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
    ended are captioned while tracking goes on (``videocap.overlap``), with the same captions.
    """
    started = time.perf_counter()
    video = Video(path)  # bad video input fails here, before any model loads
    out = ensure_writable_dir(out_dir)
    if model is None:
        check_dam_available(settings.dam)
    frame_range = video.resolve_range(track_settings.start, track_settings.end, track_settings.stride)
    start_time, end_time = video.time_of(frame_range.start), video.end_time(frame_range)
    hold = frame_range.stride / max(video.info.fps, 1e-6)  # how long a processed frame is shown
    early = _EarlyCaptions(video, frame_range, model, settings, track_settings, hold, end_time) if overlap else None
    tracking, video_sha = _track_with_cache(video, track_settings, tracker, progress, use_cache,
                                            early.submit if early else None)
    tracker = None  # let YOLO go before DAM loads (when DAM was not loaded during tracking)
    result = CaptionResult(tracking, settings, start_time, end_time, video_sha, getattr(model, "prompt_style", None),
                           dict(tracking.timing))
    captioned = time.perf_counter()
    if early is not None and early.tracked:  # every track ended during tracking: its jobs are done or queued
        made, model = early.finish(), early.model
        if made:
            result.timing["captioned_while_tracking"] = True  # caption_seconds: the wait after tracking
    else:  # the tracks came from the cache (or no overlap): caption them now
        jobs = make_jobs(tracking.tracks, hold, end_time, settings.segment_seconds, track_settings)
        if jobs:
            model = model or load_dam(settings)
            result.timing["dam_load_seconds"] = round(time.perf_counter() - captioned, 3)
            captioned = time.perf_counter()
        made = _caption(video, model, jobs, tracking, settings, progress) if jobs else []
    for job, caption in made:
        job.track.captions.append(caption)
        if on_caption is not None:
            on_caption(job.track, caption)
    if result.caption_count:
        result.timing["caption_seconds"] = round(time.perf_counter() - captioned, 3)
        result.timing["captions"] = result.caption_count
        result.prompt_style = model.prompt_style
    for track in tracking.tracks:
        track.captions.sort(key=lambda c: c.start)
    write_outputs(result, out, video if render else None, progress=progress, started=started)
    return result


class _EarlyCaptions:
    """Caption jobs of the tracks that have ended while tracking goes on (loading DAM at the first)."""

    def __init__(self, video: Video, frame_range, model, settings: CaptionSettings, track_settings: TrackSettings,
                 hold: float, end_time: float) -> None:
        self.video, self.frame_range, self.model = video, frame_range, model
        self.settings, self.track_settings, self.hold, self.end_time = settings, track_settings, hold, end_time
        self.worker: CaptionWorker | None = None
        self.tracked = False  # tracking ran (the tracks did not come from the cache)

    def submit(self, ended: list[Track]) -> None:
        """The same kept tracks, keyframes and jobs as ``_kept`` and ``make_jobs`` make at the end."""
        self.tracked = True
        kept = [t for t in ended if keep_track(t, self.track_settings)]
        for track in kept:
            track.keyframes = select_keyframes(track, self.track_settings.keyframes,
                                               self.track_settings.keyframe_method)
        jobs = make_jobs(kept, self.hold, self.end_time, self.settings.segment_seconds, self.track_settings)
        if jobs and self.worker is None:
            self.model = self.model or load_dam(self.settings)  # beside YOLO on the same device
            self.worker = CaptionWorker(self.model, self.video, self.frame_range, self.settings)
        if jobs:
            self.worker.submit(jobs)

    def finish(self) -> list[tuple[CaptionJob, Caption]]:
        return self.worker.finish() if self.worker else []


def _caption(video: Video, model, jobs: list[CaptionJob], tracking: TrackingResult, settings: CaptionSettings,
             progress: bool) -> Iterator[tuple[CaptionJob, Caption]]:
    with video.read(keyframe_span(jobs, tracking.frame_range)) as frames:
        yield from caption_jobs(model, jobs, frames, settings, progress)


def caption_images(path: str | Path, settings: ImageSettings, captioning: CaptionSettings, out_dir: str | Path,
                   segmenter=None, model=None, progress: bool = True,
                   on_caption: Callable[[Path, Track], None] | None = None) -> list[PhotoResult]:
    """Caption every object of the classes in a photo or a folder of photos; writes and returns each photo's
    result (``<photo>.json`` and ``<photo>.captioned.jpg|png`` in ``out_dir``)."""
    from videocap.yolo import YoloSegmenter

    photos = list_photos(path)
    if len(photos) == 1:
        read_photo(photos[0])  # a bad single photo fails before any model loads
    out = ensure_writable_dir(out_dir)
    if model is None:
        check_dam_available(captioning.dam)
    segmenter = segmenter or YoloSegmenter(settings.model, settings.classes, settings.conf, settings.imgsz,
                                           settings.device)
    names = output_names(photos)
    results = []
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
            started = time.perf_counter()
            objects = photo_objects(segmenter(image))
            detected = time.perf_counter()
            if objects and model is None:
                model = load_dam(captioning)
            loaded = time.perf_counter()
            _caption_photo(model, image, objects, captioning, lambda obj: on_caption and on_caption(photo, obj))
            result = PhotoResult(photo, int(image.shape[1]), int(image.shape[0]),
                                 hashlib.sha256(photo.read_bytes()).hexdigest(), settings, captioning, objects,
                                 getattr(model, "prompt_style", None))
            result.timing = {"segment_seconds": round(detected - started, 3),
                             "dam_load_seconds": round(loaded - detected, 3),
                             "caption_seconds": round(time.perf_counter() - loaded, 3)}
            result.timing["total_seconds"] = round(time.perf_counter() - started, 3)
            write_photo_outputs(result, image, out, names[photo])
            results.append(result)
    return results


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
                    progress: bool = True) -> CaptionResult:
    """The captioned MP4 and MKV and the subtitles again, from a ``captions.json`` (no model runs).

    ``video_path`` replaces the source path recorded in the JSON (when the video has moved).
    """
    result = read_captions(captions_json)
    if video_path is not None:
        result.tracking.video = dataclasses.replace(result.video, path=str(video_path))
    video = Video(result.video.path)
    out = ensure_writable_dir(out_dir or Path(captions_json).parent)
    write_outputs(result, out, video, progress=progress)
    return result


def write_subtitles(captions_json: str | Path, out_dir: str | Path | None = None) -> CaptionResult:
    """The subtitle files (.srt and .vtt per object, and the .ass) again, from a ``captions.json``."""
    result = read_captions(captions_json)
    out = ensure_writable_dir(out_dir or Path(captions_json).parent)
    write_subtitle_files(result, out)
    return result
