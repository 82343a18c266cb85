"""Ultralytics' own tracking loop, frame by frame (``model.track(persist=True)``): the reference that tests
and benchmarks hold ``videocap.segment.yolo.BatchedYoloTracker``'s ids and speed against."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from videocap.io.video import Frame
from videocap.resources import BYTETRACK_CONFIG
from videocap.segment.detections import Detections
from videocap.segment.registry import SEGMENTERS
from videocap.segment.yolo import YoloModel, to_detections


class YoloTracker(YoloModel):
    """Segments and tracks the chosen classes, one frame at a time (a ``videocap.segment.tracking.Tracker``)."""

    def __init__(self, model: str | Path = SEGMENTERS["yolo"].default_model, classes: Iterable[str] = ("person",), conf: float = 0.1,
                 imgsz: int | None = None, device: str | None = None, tracker_config: Path = BYTETRACK_CONFIG,
                 yolo=None) -> None:
        super().__init__(model, classes, conf, imgsz, device, yolo)
        self.tracker_config = str(tracker_config)

    def reset(self) -> None:
        """Forget all tracks, e.g. before another video (ids start again from 1)."""
        predictor = getattr(self.yolo, "predictor", None)
        for tracker in getattr(predictor, "trackers", None) or []:
            tracker.reset()

    def update(self, frame: Frame) -> Detections:
        """Segment and track one frame (RGB); call in frame order."""
        result = self.yolo.track(
            frame.image[..., ::-1],  # ultralytics takes numpy frames as BGR
            persist=True, tracker=self.tracker_config, classes=self.class_ids, conf=self.conf, imgsz=self.imgsz,
            device=self.device, retina_masks=True, verbose=False,
        )[0]
        return to_detections(result, frame.index, frame.time, tracked=True)
