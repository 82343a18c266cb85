"""Tracking runs: a video range decoded, segmented and tracked, the kept tracks given their keyframes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from videocap.caption.keyframes import finish_tracks
from videocap.errors import UserError
from videocap.io.files import ensure_writable_dir, write_json
from videocap.io.video import Video
from videocap.progress import progress_bar
from videocap.results import FrameRange, Track, TrackingResult
from videocap.segment import cache
from videocap.segment.prompted import resolve_prompts, select_prompted
from videocap.segment.registry import segmenter_entry
from videocap.segment.tracking import (
    BatchTracker,
    TrackBuilder,
    Tracker,
    make_tracker,
    track_batches,
)
from videocap.settings import TrackSettings

OnEnded = Callable[[list[Track]], None]


def track_video(path: str | Path, settings: TrackSettings, tracker: Tracker | None = None,
                progress: bool = True) -> TrackingResult:
    """Decode, segment and track one video range; pick keyframes for every kept track."""
    video = Video(path)
    frame_range, settings = resolve(video, settings)
    return finished(track_range(video, frame_range, settings, tracker, progress))


def write_tracks(path: str | Path, settings: TrackSettings, out_file: str | Path, tracker: Tracker | None = None,
                 progress: bool = True) -> TrackingResult:
    """``track_video`` into the tracks JSON ``out_file``."""
    video = Video(path)
    frame_range, settings = resolve(video, settings)
    if Path(out_file).is_dir():
        raise UserError(f"--out {out_file} is a folder: give the path of the tracks JSON to write")
    ensure_writable_dir(Path(out_file).parent)
    result = finished(track_range(video, frame_range, settings, tracker, progress))
    write_json(out_file, result.to_json(lazy=True))
    return result


def resolve(video: Video, settings: TrackSettings) -> tuple[FrameRange, TrackSettings]:
    """The frame range the settings name, and the settings with each region prompt's frame (bad ranges and
    prompts fail here, before any model loads)."""
    frame_range = video.resolve_range(settings.start, settings.end, settings.stride)
    prompts = resolve_prompts(video, frame_range, settings.prompts)
    return frame_range, dataclasses.replace(settings, prompts=prompts)


def track_range(video: Video, frame_range: FrameRange, settings: TrackSettings, tracker: Tracker | None,
                progress: bool, on_ended: OnEnded | None = None) -> TrackingResult:
    """Every track of a video range, unfiltered; ``on_ended`` gets the tracks that have ended as soon as the
    tracker tells."""
    started = time.perf_counter()
    entry = segmenter_entry(settings.segmenter)
    if settings.prompts and entry.make_prompt_tracker is not None:
        return _track_prompted(video, frame_range, settings, entry, progress, started)
    tracker = tracker or make_tracker(settings)
    prompted = bool(settings.prompts)  # picked from the tracks of every class the model knows
    tracker.select_classes(list(tracker.names.values()) if prompted else settings.classes)
    on_ended = None if prompted else on_ended  # which tracks are kept is known only at the end
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
    tracks = builder.tracks()
    if prompted:
        tracks = select_prompted(tracks, settings.prompts, settings.classes)
    return TrackingResult(video.info, settings, frame_range, tracks, _timing(started, frame_range))


def _timing(started: float, frame_range: FrameRange) -> dict:
    elapsed = time.perf_counter() - started
    return {"track_seconds": round(elapsed, 3), "frames_per_second": round(len(frame_range) / max(elapsed, 1e-9), 2)}


def _track_prompted(video: Video, frame_range: FrameRange, settings: TrackSettings, entry, progress: bool,
                    started: float) -> TrackingResult:
    """The prompted objects followed by the segmenter's own prompt tracker, then (after them, with ids after
    theirs) the objects of the classes, if any."""
    builder = TrackBuilder()
    prompt_tracker = entry.make_prompt_tracker(settings)
    with progress_bar(len(frame_range), "tracking prompts", "frame", progress) as bar:
        for detections in prompt_tracker.track_prompts(video, frame_range, settings.prompts):
            builder.add(detections)
            bar.update(1)
    tracks = builder.tracks()
    for track in tracks:
        track.prompt = settings.prompts[track.id - 1]
    if settings.classes:
        classes = track_range(video, frame_range, dataclasses.replace(settings, prompts=()), None, progress)
        for track in classes.tracks:
            track.id += len(settings.prompts)
        tracks += classes.tracks
    return TrackingResult(video.info, settings, frame_range, tracks, _timing(started, frame_range))


def finished(result: TrackingResult) -> TrackingResult:
    """Only the tracks the settings keep, each with its keyframes."""
    return dataclasses.replace(result, tracks=finish_tracks(result.tracks, result.settings))


def tracks_with_cache(video: Video, frame_range: FrameRange, settings: TrackSettings, tracker: Tracker | None,
                      progress: bool, use_cache: bool, on_ended: OnEnded | None = None) -> tuple[TrackingResult, str]:
    """The kept tracks of a video range, from the cache when they were made before; also the video's SHA-256."""
    video_sha = cache.file_sha256(video.path)
    identity = segmenter_entry(settings.segmenter).cache_identity(settings)
    if settings.prompts:
        identity.setdefault("prompts", [p.to_json() for p in settings.prompts])
    key = cache.tracking_key(video_sha, frame_range, identity)
    # Tracks are cached before the min_frames/min_score filter and keyframe selection, redone every run.
    unfiltered = dataclasses.replace(settings, min_frames=1, min_score=0.0)
    result = _from_cache(key) if use_cache else None
    if result is None:
        result = track_range(video, frame_range, unfiltered, tracker, progress, on_ended)
        if use_cache:
            cache.store(key, result.to_json(lazy=True))
        result.timing["tracking_cached"] = False
    else:
        result.timing = {"track_seconds": 0.0, "tracking_cached": True}
    return finished(dataclasses.replace(result, video=video.info, settings=settings)), video_sha


def _from_cache(key: str) -> TrackingResult | None:
    raw = cache.load(key)
    try:
        return None if raw is None else TrackingResult.from_json(raw)
    except (KeyError, TypeError, ValueError, UserError):
        return None
