"""Segmentation and tracking: frames -> per-frame ``Detections`` -> ``Track``s, with Ultralytics.

A YOLO-seg model segments each frame and ByteTrack (``configs/bytetrack.yaml``, always named
explicitly since ultralytics' default tracker changes between releases) links detections over
time. Frames are fed one at a time from videocap's own decoder with ``persist=True``, so the
tracker state carries across frames; a new ``ObjectTracker`` starts with a fresh tracker.

Detections ByteTrack has not given an id yet are dropped by ultralytics itself: a new object's
track starts at the frame where ByteTrack activates it (its first frame at the start of a video,
otherwise usually its second frame).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from videocap.errors import UserError
from videocap.masks import BoxMask
from videocap.video import Frame

REPO_ROOT = Path(__file__).resolve().parents[1]
BYTETRACK_CONFIG = REPO_ROOT / "configs" / "bytetrack.yaml"
DEFAULT_MODEL = "yolo11x-seg.pt"


@dataclass(frozen=True)
class Detections:
    """The tracked objects of one frame (aligned arrays, one row per object)."""

    frame_index: int
    time: float
    boxes: np.ndarray  # (N, 4) float32 xyxy in frame pixels
    scores: np.ndarray  # (N,) float32
    class_ids: np.ndarray  # (N,) int
    track_ids: np.ndarray  # (N,) int
    masks: list[BoxMask]

    def __len__(self) -> int:
        return len(self.track_ids)

    @classmethod
    def empty(cls, frame: Frame) -> "Detections":
        return cls(frame.index, frame.time, np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, int), np.zeros(0, int), [])


def load_yolo(model: str | Path):
    """A YOLO model from a path or an ultralytics name; one clear line when it cannot be had."""
    from ultralytics import YOLO

    path = Path(model)
    if path.suffix not in {".pt", ".yaml", ".onnx", ".engine", ".torchscript"} and not path.is_dir():
        raise UserError(f"--model {model}: expected a YOLO-seg weights file (.pt) or an ultralytics model name")
    if not path.exists() and (path.parent != Path(".") or path.is_absolute()):
        raise UserError(f"--model {model}: no such file")
    try:
        yolo = YOLO(str(model))
    except (ConnectionError, OSError) as exc:
        raise UserError(
            f"YOLO model {model} is not here and cannot be downloaded (offline?): download it where there is "
            f"internet (ultralytics assets releases), then pass --model /path/to/{path.name}") from exc
    if yolo.task != "segment":
        raise UserError(f"--model {model} is a {yolo.task} model; videocap needs a segmentation (-seg) model")
    return yolo


def class_ids_for(names: dict[int, str], wanted: Iterable[str]) -> list[int]:
    """Model class ids for class names (case-insensitive); unknown names list close matches."""
    by_name = {name.lower(): index for index, name in names.items()}
    ids = []
    for name in wanted:
        key = name.strip().lower()
        if key not in by_name:
            close = difflib.get_close_matches(key, list(by_name), n=5, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else f"it knows {len(by_name)} classes, e.g. {', '.join(list(by_name)[:8])}"
            raise UserError(f"unknown class {name!r} for this model: {hint}")
        ids.append(by_name[key])
    return list(dict.fromkeys(ids))


class ObjectTracker:
    """Segments and tracks the chosen classes, one frame at a time."""

    def __init__(self, model: str | Path = DEFAULT_MODEL, classes: Iterable[str] = ("person",), conf: float = 0.1,
                 imgsz: int | None = None, device: str | None = None, tracker_config: Path = BYTETRACK_CONFIG,
                 yolo=None) -> None:
        self.model_name = str(model)
        self.yolo = yolo if yolo is not None else load_yolo(model)
        self.names: dict[int, str] = dict(self.yolo.names)
        self.select_classes(classes)
        # Infer at the size the model was trained at unless told otherwise: other sizes track worse.
        self.imgsz = imgsz or int(self.yolo.overrides.get("imgsz") or 640)
        self.conf = conf
        self.device = device
        self.tracker_config = str(tracker_config)

    def select_classes(self, classes: Iterable[str]) -> None:
        """Track only these class names from now on."""
        self.class_ids = class_ids_for(self.names, classes)

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
        boxes = result.boxes
        if boxes is None or boxes.id is None or result.masks is None or len(boxes) == 0:
            return Detections.empty(frame)
        masks = result.masks.data.cpu().numpy()  # 0/1, frame size; ultralytics zeroes them outside the box
        xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
        return Detections(
            frame_index=frame.index, time=frame.time, boxes=xyxy,
            scores=boxes.conf.cpu().numpy().astype(np.float32),
            class_ids=boxes.cls.cpu().numpy().astype(int),
            track_ids=boxes.id.cpu().numpy().astype(int),
            masks=[BoxMask.from_mask(m, within=tuple(b)) for m, b in zip(masks, xyxy)],
        )


@dataclass(frozen=True, slots=True)  # slots: one per object and frame, so the per-instance dict adds up
class TrackFrame:
    index: int  # frame number in the video
    time: float
    box: tuple[float, float, float, float]  # xyxy, frame pixels
    score: float
    mask: BoxMask


@dataclass
class Track:
    track_id: int
    class_name: str
    frames: list[TrackFrame] = field(default_factory=list)

    @property
    def first(self) -> TrackFrame:
        return self.frames[0]

    @property
    def last(self) -> TrackFrame:
        return self.frames[-1]

    @property
    def mean_score(self) -> float:
        return float(np.mean([f.score for f in self.frames])) if self.frames else 0.0


class TrackBuilder:
    """Collects per-frame detections into tracks, keyed by ByteTrack's id."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names
        self._tracks: dict[int, Track] = {}

    def add(self, detections: Detections) -> None:
        for i, track_id in enumerate(detections.track_ids.tolist()):
            track = self._tracks.get(track_id)
            if track is None:
                track = self._tracks[track_id] = Track(track_id, self.names[int(detections.class_ids[i])])
            box = tuple(round(float(v), 2) for v in detections.boxes[i])
            track.frames.append(TrackFrame(detections.frame_index, detections.time, box,
                                           float(detections.scores[i]), detections.masks[i]))

    def tracks(self) -> list[Track]:
        """All tracks so far, by id."""
        return [t for _, t in sorted(self._tracks.items())]
