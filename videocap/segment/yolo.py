"""Ultralytics YOLO-seg at the edge: loading, class names, and its results as ``Detections``.

ByteTrack is named explicitly (``bytetrack.yaml``) since ultralytics' default tracker changes between
releases. ``BatchedYoloTracker`` runs
the detector over several frames at once and feeds its results to its own ByteTrack one frame at a
time, in order, as ultralytics' ``track()`` does (its tracking callback): the same ids as frame by
frame, which ultralytics' own batched ``track()`` does not give. ``YoloSegmenter`` segments single
photos. All turn ultralytics' results into ``Detections`` with ``to_detections``.

Detections ByteTrack has not given an id yet are dropped by ultralytics itself: a new object's
track starts at the frame where ByteTrack activates it (its first frame at the start of a video,
otherwise usually its second frame).
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from videocap import checkpoints
from videocap.errors import UserError
from videocap.io.video import Frame
from videocap.masks import BoxMask
from videocap.resources import BYTETRACK_CONFIG
from videocap.segment.detections import Detections
from videocap.segment.registry import SEGMENTERS, Segmenter

WEIGHT_SUFFIXES = {".pt", ".yaml", ".onnx", ".engine", ".torchscript"}


def load_yolo(model: str | Path):
    """A YOLO-seg model from a path or an ultralytics asset name; one clear line when it cannot be had."""
    ref = checkpoints.classify(model)
    path = ref.path or Path(ref.text)
    if path.suffix not in WEIGHT_SUFFIXES and not path.is_dir():
        hint = ("it reads as a hub id: YOLO weights are not loaded from the Hugging Face hub, download the .pt and "
                "pass --model /path/to/it" if ref.kind == checkpoints.HUB else
                "expected a YOLO-seg weights file (.pt) or an ultralytics model name such as yolo11x-seg.pt")
        raise UserError(f"--model {model}: {hint}")
    if ref.kind == checkpoints.PATH and not path.exists():
        raise UserError(f"--model {model}: no such file ({path})")
    if ref.kind == checkpoints.ASSET:
        path = checkpoints.find_asset(ref.text) or path
        if not path.exists() and checkpoints.asset_offline():
            raise UserError(f"YOLO model {model} is not here and downloads are off (YOLO_OFFLINE/HF_HUB_OFFLINE): "
                            f"{checkpoints.asset_hint(ref.text)}")
    from ultralytics import YOLO

    try:
        yolo = YOLO(str(path))
    except (ConnectionError, OSError) as exc:
        raise UserError(f"YOLO model {model} is not here and cannot be downloaded (offline?): "
                        f"{checkpoints.asset_hint(path.name)}") from exc
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
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
    names = result.names
    ids = boxes.id.cpu().numpy().astype(int) if tracked else np.full(len(boxes), -1)
    return Detections(
        frame_index=frame_index, time=time, boxes=xyxy,
        scores=boxes.conf.cpu().numpy().astype(np.float32),
        class_names=tuple(names[int(c)] for c in boxes.cls.cpu().numpy()),
        track_ids=ids,
        masks=box_masks(result.masks.data, xyxy),
    )


def box_masks(masks, boxes: np.ndarray) -> tuple[BoxMask, ...]:
    """Frame-size masks ``[N, H, W]`` (on any device) as ``BoxMask``s.

    Ultralytics zeroes a mask outside its box, so each is cut to its box (and a pixel around it) and
    thresholded where it lies: only these crops, one byte a pixel, are copied to the host, at once.
    """
    height, width = masks.shape[1:]
    windows, crops = [], []
    for mask, (x0, y0, x1, y1) in zip(masks, boxes):
        left, top = max(int(x0) - 1, 0), max(int(y0) - 1, 0)
        right, bottom = min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height)
        windows.append((left, top, max(right - left, 0), max(bottom - top, 0)))
        crops.append(mask[top:bottom, left:right].reshape(-1) > 0.5)
    if not crops:
        return ()
    import torch

    flat = torch.cat(crops).cpu().numpy()
    out, start = [], 0
    for left, top, w, h in windows:
        box = BoxMask.from_mask(flat[start:start + w * h].reshape(h, w))
        start += w * h
        shift = {"x0": box.x0 + left, "y0": box.y0 + top} if box.width else {}
        out.append(dataclasses.replace(box, frame_size=(width, height), **shift))
    return tuple(out)


class YoloModel:
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


class BatchedYoloTracker(YoloModel):
    """Segments ``batch_size`` frames per detector call (half precision on a GPU), then tracks them with
    ByteTrack one frame at a time, in order (a ``videocap.segment.tracking.BatchTracker``).

    Only the detector is batched: each frame's detections reach the tracker as ultralytics' tracking
    callback passes them, so the ids are those of frame-by-frame tracking (``videocap.testing.yolo_loop.YoloTracker``).
    """

    def __init__(self, model: str | Path = SEGMENTERS["yolo"].default_model, classes: Iterable[str] = ("person",), conf: float = 0.1,
                 imgsz: int | None = None, device: str | None = None, tracker_config: Path = BYTETRACK_CONFIG,
                 yolo=None, batch_size: int | None = None, half: bool | None = None) -> None:
        super().__init__(model, classes, conf, imgsz, device, yolo)
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import YAML, IterableSimpleNamespace

        self.tracker = BYTETracker(IterableSimpleNamespace(**YAML.load(str(tracker_config))))
        self.half = _on_gpu(device) if half is None else half
        # On a CPU most of the gain is had by 8 frames a call; a GPU wants more to fill it.
        self.batch_size = batch_size or (32 if self.half else 8)

    def reset(self) -> None:
        """Forget all tracks, e.g. before another video (ids start again from 1)."""
        self.tracker.reset()

    def update(self, frame: Frame) -> Detections:
        return self.update_batch([frame])[0]

    def update_batch(self, frames: Sequence[Frame]) -> list[Detections]:
        """Segment the frames (RGB, in frame order) in one call, then track them one by one."""
        results = self.yolo.predict(
            [frame.image[..., ::-1] for frame in frames],  # ultralytics takes numpy frames as BGR
            classes=self.class_ids, conf=self.conf, imgsz=self.imgsz, device=self.device, retina_masks=True,
            verbose=False, batch=len(frames), **({"quantize": 16} if self.half else {}),
        )
        return [self._track(result, frame) for result, frame in zip(results, frames, strict=True)]

    def live_ids(self) -> set[int]:
        """Ids ByteTrack still follows or may find again; any other id given so far has ended for good."""
        return {t.track_id for t in self.tracker.tracked_stracks + self.tracker.lost_stracks if t.is_activated}

    def _track(self, result, frame: Frame) -> Detections:
        # What ultralytics' on_predict_postprocess_end does with one frame's result.
        tracks = self.tracker.update(result.boxes.cpu().numpy(), result.orig_img)
        if len(tracks) == 0:
            return Detections.empty(frame.index, frame.time)
        import torch

        result = result[tracks[:, -1].astype(int)]
        result.update(boxes=torch.as_tensor(tracks[:, :-1], device=result.boxes.data.device))
        return to_detections(result, frame.index, frame.time, tracked=True)


def _on_gpu(device: str | None) -> bool:
    import torch

    return torch.cuda.is_available() and (device is None or str(device).lower() not in ("cpu", "mps"))


class YoloSegmenter(YoloModel):
    """YOLO-seg on single photos (no tracking): objects by descending score."""

    def __call__(self, image: np.ndarray) -> Detections:
        result = self.yolo.predict(image[..., ::-1], classes=self.class_ids, conf=self.conf, imgsz=self.imgsz,
                                   device=self.device, retina_masks=True, verbose=False)[0]
        return to_detections(result, 0, 0.0, tracked=False)


# -- the registry entry (``videocap.segment.registry``) --

def _tracker(settings) -> BatchedYoloTracker:
    return BatchedYoloTracker(settings.segmenter_model, settings.classes, settings.conf, settings.imgsz,
                              settings.device)


def _photo_segmenter(settings) -> YoloSegmenter:
    return YoloSegmenter(settings.segmenter_model, settings.classes, settings.conf, settings.imgsz, settings.device)


def _cache_identity(settings) -> dict:
    from videocap.segment.cache import model_identity

    return {"segmenter": "yolo", "model": model_identity(settings.segmenter_model),
            "classes": sorted({c.strip().lower() for c in settings.classes}), "conf": settings.conf,
            "imgsz": settings.imgsz, "device": settings.device, "tracker": BYTETRACK_CONFIG.read_text()}


def _tracker_record() -> dict:
    import yaml

    return yaml.safe_load(BYTETRACK_CONFIG.read_text(encoding="utf-8"))


SEGMENTER = Segmenter("yolo", _tracker, _photo_segmenter, _cache_identity, checkpoints.provenance, _tracker_record)
