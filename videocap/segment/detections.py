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


def masks_to_detections(masks: np.ndarray, scores, names: list[str], ids, frame_index: int,
                        time: float) -> Detections:
    """Frame-size boolean masks as ``Detections``: each box is its mask's tight box."""
    compact = [BoxMask.from_mask(m) for m in masks]
    keep = [i for i, m in enumerate(compact) if m.width > 0]
    if not keep:
        return Detections.empty(frame_index, time)
    return Detections(
        frame_index=frame_index, time=time,
        boxes=np.array([compact[i].box for i in keep], np.float32).reshape(-1, 4),
        scores=np.asarray([float(scores[i]) for i in keep], np.float32),
        class_names=tuple(names[i] for i in keep),
        track_ids=np.asarray([int(ids[i]) for i in keep], int),
        masks=tuple(compact[i] for i in keep),
    )
