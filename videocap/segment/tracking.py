"""The tracking stage: frames in, per-frame ``Detections`` with track ids out, collected into ``Track``s.

Any segmenter and tracker that follows the ``Tracker`` protocol plugs in here, named in
``videocap.segment.registry`` (YOLO-seg + ByteTrack, SAM 3 with text prompts); the stages above see only
``Detections`` and ``Track``s. A ``BatchTracker`` is given ``batch_size`` frames
at a time (its detector runs on them at once; its tracker still goes frame by frame).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Protocol, runtime_checkable

import numpy as np

from videocap.io.framestore import FrameStore, StoredFrames
from videocap.io.video import Frame, Video
from videocap.prompts import RegionPrompt
from videocap.results import FrameRange, Track, TrackFrame
from videocap.segment.detections import Detections
from videocap.segment.registry import segmenter_entry
from videocap.settings import ImageSettings, TrackSettings


class Tracker(Protocol):
    """Segments and tracks objects one frame at a time, in frame order."""

    def select_classes(self, classes: Iterable[str]) -> None: ...

    def reset(self) -> None: ...

    def update(self, frame: Frame) -> Detections: ...


class PromptTracker(Protocol):
    """Follows prompted objects through a whole range: each prompt (``videocap.prompts.RegionPrompt``, its
    ``frame`` resolved) is one object, propagated forward and backward from its frame. Yields every frame's
    ``Detections`` in frame order; object ids are the prompts' positions plus one."""

    def track_prompts(self, video: Video, frame_range: FrameRange, prompts: Sequence[RegionPrompt]
                      ) -> Iterator[Detections]: ...


@runtime_checkable
class BatchTracker(Tracker, Protocol):
    """A tracker that takes several frames at once (in frame order) and knows which tracks have ended."""

    batch_size: int

    def update_batch(self, frames: Sequence[Frame]) -> list[Detections]: ...

    def live_ids(self) -> set[int]: ...


def make_tracker(settings: TrackSettings) -> Tracker:
    """The tracker the settings name (the one place that builds one)."""
    return segmenter_entry(settings.segmenter).make_tracker(settings)


def make_segmenter(settings: ImageSettings) -> Callable[[np.ndarray], Detections]:
    """The photo segmenter the settings name: an image (RGB) in, its ``Detections`` out."""
    return segmenter_entry(settings.segmenter).make_photo_segmenter(settings)


class TrackBuilder:
    """Collects per-frame detections into tracks, keyed by the tracker's id; the frames go to disk (one
    ``FrameStore`` per video), so a long video's masks do not fill the memory."""

    def __init__(self) -> None:
        self._tracks: dict[int, Track] = {}
        self._store = FrameStore()
        self._ended: set[int] = set()

    def add(self, detections: Detections) -> None:
        for i, track_id in enumerate(detections.track_ids.tolist()):
            track = self._tracks.get(track_id)
            if track is None:
                track = self._tracks[track_id] = Track(track_id, detections.class_names[i], StoredFrames(self._store))
            box = tuple(round(float(v), 2) for v in detections.boxes[i])
            track.frames.append(TrackFrame(detections.frame_index, detections.time, box,
                                           float(detections.scores[i]), detections.masks[i]))

    def tracks(self) -> list[Track]:
        """All tracks so far, by id."""
        return [t for _, t in sorted(self._tracks.items())]

    def ended(self, live: set[int] | None = None) -> list[Track]:
        """Tracks not returned before whose ids are not ``live`` (all of them when None: the video is over),
        by id: they will get no more frames."""
        done = [t for i, t in sorted(self._tracks.items()) if i not in self._ended and (live is None or i not in live)]
        self._ended.update(t.id for t in done)
        return done


def track_frames(frames: Iterable[Frame], tracker: Tracker) -> Iterator[Detections]:
    """Each frame's tracked detections, in order, from a tracker that starts afresh."""
    for batch in track_batches(frames, tracker):
        yield from batch


def track_batches(frames: Iterable[Frame], tracker: Tracker) -> Iterator[list[Detections]]:
    """The frames' tracked detections, a batch of frames at a time (one frame for a plain ``Tracker``), in
    order, from a tracker that starts afresh. Between batches a ``BatchTracker``'s ``live_ids`` are those
    of the batch's last frame."""
    tracker.reset()
    if not isinstance(tracker, BatchTracker):
        for frame in frames:
            yield [tracker.update(frame)]
        return
    frames = iter(frames)
    while chunk := list(islice(frames, tracker.batch_size)):
        yield tracker.update_batch(chunk)


def photo_objects(detections: Detections) -> list[Track]:
    """The photo's objects by descending score, numbered from 1 (empty masks dropped)."""
    order = np.argsort(-detections.scores, kind="stable")
    objects: list[Track] = []
    for i in order:
        mask = detections.masks[i]
        if mask.area == 0:
            continue
        box = tuple(float(v) for v in detections.boxes[i])
        frame = TrackFrame(0, 0.0, box, float(detections.scores[i]), mask)
        objects.append(Track(len(objects) + 1, detections.class_names[i], [frame], [0]))
    return objects
