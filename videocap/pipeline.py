"""The library API behind the CLI: video -> tracks with keyframes (and, later, captions).

``track_video`` decodes a range of a video in a background thread, segments and tracks the
chosen classes frame by frame, and returns a ``TrackingResult`` that serialises to the
documented tracks JSON (see README, "tracks.json").
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml
from tqdm import tqdm

from videocap import __version__
from videocap.keyframes import select_keyframes
from videocap.masks import BoxMask
from videocap.tracking import BYTETRACK_CONFIG, DEFAULT_MODEL, ObjectTracker, Track, TrackBuilder, TrackFrame
from videocap.video import FrameRange, VideoInfo, VideoReader

TRACKS_SCHEMA = "videocap.tracks/1"


@dataclass(frozen=True)
class TrackSettings:
    classes: tuple[str, ...]
    model: str = DEFAULT_MODEL
    start: str | None = None  # as the user gave them: frame number, seconds or a time
    end: str | None = None
    stride: int = 1
    conf: float = 0.1
    imgsz: int | None = None  # None: the size the model was trained at
    device: str | None = None
    min_frames: int = 3  # shorter tracks are dropped
    min_score: float = 0.35  # tracks whose mean detection score is lower are dropped
    keyframes: int = 8
    keyframe_method: str = "uniform"


@dataclass
class TrackingResult:
    video: VideoInfo
    settings: TrackSettings
    frame_range: FrameRange
    tracks: list[Track]
    keyframes: dict[int, list[int]]  # track id -> positions in track.frames
    timing: dict[str, float] = field(default_factory=dict)

    def keyframe_frames(self, track: Track) -> list[TrackFrame]:
        return [track.frames[i] for i in self.keyframes[track.track_id]]

    def to_json(self) -> dict:
        tracker = yaml.safe_load(BYTETRACK_CONFIG.read_text())
        return {
            "schema": TRACKS_SCHEMA,
            "videocap_version": __version__,
            "video": self.video.to_dict(),
            "settings": {**asdict(self.settings), "classes": list(self.settings.classes), "tracker": tracker},
            "range": {"start_frame": self.frame_range.start, "end_frame": self.frame_range.end,
                      "stride": self.frame_range.stride, "frames_processed": len(self.frame_range)},
            "timing": self.timing,
            "tracks": [self._track_json(t) for t in self.tracks],
        }

    def _track_json(self, track: Track) -> dict:
        return {
            "id": track.track_id, "class": track.class_name,
            "first_frame": track.first.index, "last_frame": track.last.index,
            "first_time": round(track.first.time, 4), "last_time": round(track.last.time, 4),
            "num_frames": len(track.frames), "mean_score": round(track.mean_score, 4),
            "keyframes": [track.frames[i].index for i in self.keyframes[track.track_id]],
            "frames": [{"frame": f.index, "time": round(f.time, 4), "box": list(f.box), "score": round(f.score, 4),
                        "mask": f.mask.to_rle()} for f in track.frames],
        }

    @classmethod
    def from_json(cls, data: dict) -> "TrackingResult":
        settings = {k: v for k, v in data["settings"].items() if k != "tracker"}
        settings["classes"] = tuple(settings["classes"])
        r = data["range"]
        tracks, keyframes = [], {}
        for t in data["tracks"]:
            frames = [TrackFrame(f["frame"], f["time"], tuple(f["box"]), f["score"], BoxMask.from_rle(f["mask"]))
                      for f in t["frames"]]
            track = Track(t["id"], t["class"], frames)
            position = {f.index: i for i, f in enumerate(frames)}
            keyframes[track.track_id] = [position[index] for index in t["keyframes"]]
            tracks.append(track)
        return cls(VideoInfo(**data["video"]), TrackSettings(**settings),
                   FrameRange(r["start_frame"], r["end_frame"], r["stride"]), tracks, keyframes, data.get("timing", {}))


def keep_track(track: Track, settings: TrackSettings) -> bool:
    """Short or weakly detected tracks are usually spurious (a passing misdetection, two objects merged)."""
    return len(track.frames) >= settings.min_frames and track.mean_score >= settings.min_score


def track_video(path: str | Path, settings: TrackSettings, tracker: ObjectTracker | None = None,
                progress: bool = True) -> TrackingResult:
    """Decode, segment and track one video range; pick keyframes for every kept track."""
    started = time.perf_counter()
    with VideoReader(path) as reader:  # opened first: a bad video fails before a model loads
        frame_range = reader.resolve_range(settings.start, settings.end, settings.stride)
        tracker = tracker or ObjectTracker(settings.model, settings.classes, settings.conf, settings.imgsz,
                                           settings.device)
        tracker.select_classes(settings.classes)
        tracker.reset()
        builder = TrackBuilder(tracker.names)
        bar = tqdm(total=len(frame_range), unit="frame", desc="tracking", file=sys.stderr, disable=not progress,
                   dynamic_ncols=True)
        with bar:
            for frame in reader:
                builder.add(tracker.update(frame))
                bar.update(1)
    tracks = [t for t in builder.tracks() if keep_track(t, settings)]
    keyframes = {t.track_id: select_keyframes(t, settings.keyframes, settings.keyframe_method) for t in tracks}
    elapsed = time.perf_counter() - started
    timing = {"track_seconds": round(elapsed, 3), "frames_per_second": round(len(frame_range) / max(elapsed, 1e-9), 2)}
    return TrackingResult(reader.info, settings, frame_range, tracks, keyframes, timing)
