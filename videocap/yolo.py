"""Ultralytics YOLO-seg at the edge: loading, class names, and its results as ``Detections``.

``YoloTracker`` segments and tracks (ByteTrack, ``bytetrack.yaml`` named explicitly since
ultralytics' default tracker changes between releases) one frame at a time, fed from videocap's own
decoder with ``persist=True`` so the tracker state carries across frames. ``YoloSegmenter`` segments
single photos. Both turn ultralytics' results into ``Detections`` with ``to_detections``.

Detections ByteTrack has not given an id yet are dropped by ultralytics itself: a new object's
track starts at the frame where ByteTrack activates it (its first frame at the start of a video,
otherwise usually its second frame).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from videocap import models
from videocap.detections import Detections
from videocap.errors import UserError
from videocap.masks import BoxMask
from videocap.resources import BYTETRACK_CONFIG
from videocap.settings import DEFAULT_MODEL
from videocap.video import Frame

WEIGHT_SUFFIXES = {".pt", ".yaml", ".onnx", ".engine", ".torchscript"}


def load_yolo(model: str | Path):
    """A YOLO-seg model from a path or an ultralytics asset name; one clear line when it cannot be had."""
    ref = models.classify(model)
    path = ref.path or Path(ref.text)
    if path.suffix not in WEIGHT_SUFFIXES and not path.is_dir():
        hint = ("it reads as a hub id: YOLO weights are not loaded from the Hugging Face hub, download the .pt and "
                "pass --model /path/to/it" if ref.kind == models.HUB else
                "expected a YOLO-seg weights file (.pt) or an ultralytics model name such as yolo11x-seg.pt")
        raise UserError(f"--model {model}: {hint}")
    if ref.kind == models.PATH and not path.exists():
        raise UserError(f"--model {model}: no such file ({path})")
    if ref.kind == models.ASSET:
        path = models.find_asset(ref.text) or path
        if not path.exists() and models.asset_offline():
            raise UserError(f"YOLO model {model} is not here and downloads are off (YOLO_OFFLINE/HF_HUB_OFFLINE): "
                            f"{models.asset_hint(ref.text)}")
    from ultralytics import YOLO

    try:
        yolo = YOLO(str(path))
    except (ConnectionError, OSError) as exc:
        raise UserError(f"YOLO model {model} is not here and cannot be downloaded (offline?): "
                        f"{models.asset_hint(path.name)}") from exc
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
            hint = (f"did you mean {', '.join(close)}?" if close
                    else f"it knows {len(by_name)} classes, e.g. {', '.join(list(by_name)[:8])}")
            raise UserError(f"unknown class {name!r} for this model: {hint}")
        ids.append(by_name[key])
    return list(dict.fromkeys(ids))


def to_detections(result, frame_index: int, time: float, tracked: bool) -> Detections:
    """One ultralytics ``Results`` as ``Detections`` (masks cropped to their boxes, compressed)."""
    boxes = result.boxes
    if boxes is None or result.masks is None or len(boxes) == 0 or (tracked and boxes.id is None):
        return Detections.empty(frame_index, time)
    masks = result.masks.data.cpu().numpy()  # 0/1, frame size; ultralytics zeroes them outside the box
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
    names = result.names
    ids = boxes.id.cpu().numpy().astype(int) if tracked else np.full(len(boxes), -1)
    return Detections(
        frame_index=frame_index, time=time, boxes=xyxy,
        scores=boxes.conf.cpu().numpy().astype(np.float32),
        class_names=tuple(names[int(c)] for c in boxes.cls.cpu().numpy()),
        track_ids=ids,
        masks=tuple(BoxMask.from_mask(m, within=tuple(b)) for m, b in zip(masks, xyxy)),
    )


class _Yolo:
    """A loaded YOLO-seg model with the classes to keep and the inference size."""

    def __init__(self, model: str | Path, classes: Iterable[str], conf: float, imgsz: int | None,
                 device: str | None, yolo=None) -> None:
        self.model_name = str(model)
        self.yolo = yolo if yolo is not None else load_yolo(model)
        self.names: dict[int, str] = dict(self.yolo.names)
        self.select_classes(classes)
        # Infer at the size the model was trained at unless told otherwise: other sizes track worse.
        self.imgsz = imgsz or int(self.yolo.overrides.get("imgsz") or 640)
        self.conf = conf
        self.device = device

    def select_classes(self, classes: Iterable[str]) -> None:
        """Keep only these class names from now on."""
        self.class_ids = class_ids_for(self.names, classes)


class YoloTracker(_Yolo):
    """Segments and tracks the chosen classes, one frame at a time (a ``videocap.tracking.Tracker``)."""

    def __init__(self, model: str | Path = DEFAULT_MODEL, classes: Iterable[str] = ("person",), conf: float = 0.1,
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


class YoloSegmenter(_Yolo):
    """YOLO-seg on single photos (no tracking): objects by descending score."""

    def __call__(self, image: np.ndarray) -> Detections:
        result = self.yolo.predict(image[..., ::-1], classes=self.class_ids, conf=self.conf, imgsz=self.imgsz,
                                   device=self.device, retina_masks=True, verbose=False)[0]
        return to_detections(result, 0, 0.0, tracked=False)
