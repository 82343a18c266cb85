"""``Detections``: the objects found in one frame, the one record every segmenter and tracker returns.

Aligned arrays, one row per object (as in roboflow/supervision). ``track_ids`` is -1 where no tracker
gave the object an id (photo mode). Adapters from a model's own results live at the edge
(``videocap.segment.yolo``), so the stages above never see a model's types.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from videocap.masks import BoxMask


@dataclass(frozen=True)
class Detections:
    frame_index: int
    time: float
    boxes: np.ndarray  # (N, 4) float32 xyxy in frame pixels
    scores: np.ndarray  # (N,) float32
    class_names: tuple[str, ...]  # (N,)
    track_ids: np.ndarray  # (N,) int; -1 when not tracked
    masks: tuple[BoxMask, ...]  # (N,)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, frame_index: int, time: float) -> Detections:
        return cls(frame_index, time, np.zeros((0, 4), np.float32), np.zeros(0, np.float32), (),
                   np.zeros(0, int), ())
