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
    return finished(track_range(video, resolve(video, settings), settings, tracker, progress))


def write_tracks(path: str | Path, settings: TrackSettings, out_file: str | Path, tracker: Tracker | None = None,
                 progress: bool = True) -> TrackingResult:
    """``track_video`` into the tracks JSON ``out_file``."""
    video = Video(path)
    frame_range = resolve(video, settings)
    if Path(out_file).is_dir():
        raise UserError(f"--out {out_file} is a folder: give the path of the tracks JSON to write")
    ensure_writable_dir(Path(out_file).parent)
    result = finished(track_range(video, frame_range, settings, tracker, progress))
    write_json(out_file, result.to_json(lazy=True))
    return result


def resolve(video: Video, settings: TrackSettings) -> FrameRange:
    """The frame range the settings name (bad ranges fail here, before any model loads)."""
    return video.resolve_range(settings.start, settings.end, settings.stride)


def track_range(video: Video, frame_range: FrameRange, settings: TrackSettings, tracker: Tracker | None,
                progress: bool, on_ended: OnEnded | None = None) -> TrackingResult:
    """Every track of a video range, unfiltered; ``on_ended`` gets the tracks that have ended as soon as the
    tracker tells."""
    started = time.perf_counter()
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
    return TrackingResult(video.info, settings, frame_range, builder.tracks(), timing)


def finished(result: TrackingResult) -> TrackingResult:
    """Only the tracks the settings keep, each with its keyframes."""
    return dataclasses.replace(result, tracks=finish_tracks(result.tracks, result.settings))


def tracks_with_cache(video: Video, frame_range: FrameRange, settings: TrackSettings, tracker: Tracker | None,
                      progress: bool, use_cache: bool, on_ended: OnEnded | None = None) -> tuple[TrackingResult, str]:
    """The kept tracks of a video range, from the cache when they were made before; also the video's SHA-256."""
    video_sha = cache.file_sha256(video.path)
    identity = segmenter_entry(settings.segmenter).cache_identity(settings)
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
