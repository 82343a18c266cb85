"""Reference and predicted object captions for ``eval captions``, and how they are paired.

References, either format:
- videocap's: ``{"objects": [{"id": 1, "caption": "..." or "captions": [...], "masks": {"<frame>": RLE}}]}``
  (masks optional; COCO RLE as in captions.json);
- VideoRefer-Bench-D (``VideoRefer-Bench-D.json``): a list of ``{"id", "video", "caption", "annotation":
  [{"<object id>": {"segmentation": RLE}}, ...], "frame_idx"?}``; assumed: ``id`` is the question's key
  (what its predictions carry), ``annotation`` holds one entry per annotated frame, in frame order, and its
  frame numbers are not known, so VideoRefer objects are paired by ``id`` only.
Predictions: a videocap run folder or its captions.json (tracks, their captions joined, masks per frame),
VideoRefer-style outputs (a list of ``{"id", "pred"}``), or ``{"<id>": "caption"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from videocap.errors import UserError
from videocap.evaluate.dlc_bench import read_json_file
from videocap.masks import rle_to_mask


@dataclass
class CaptionedObject:
    key: str
    captions: list[str]
    masks: dict[int, dict] = field(default_factory=dict)  # frame number -> COCO RLE

    @property
    def text(self) -> str:
        return " ".join(self.captions)


def read_references(path: Path) -> list[CaptionedObject]:
    data = read_json_file(path, "reference captions")
    if isinstance(data, list):
        return [_videorefer_object(entry, path) for entry in data]
    if isinstance(data, dict) and isinstance(data.get("objects"), list):
        return [_videocap_object(entry, path) for entry in data["objects"]]
    raise UserError(f"{path}: expected VideoRefer-Bench-D's list or an object with \"objects\"")


def _videocap_object(entry: dict, path: Path) -> CaptionedObject:
    try:
        captions = entry["captions"] if "captions" in entry else [entry["caption"]]
        return CaptionedObject(str(entry["id"]), [str(c) for c in captions],
                               {int(frame): rle for frame, rle in entry.get("masks", {}).items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: a reference object needs an id and a caption (or captions): {exc}") from exc


def _videorefer_object(entry: dict, path: Path) -> CaptionedObject:
    if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("caption"), str):
        raise UserError(f"{path}: a VideoRefer-Bench-D entry needs an id and a caption")
    return CaptionedObject(str(entry["id"]), [entry["caption"]])


def read_predictions(path: Path) -> list[CaptionedObject]:
    """Predicted objects from a run folder, a captions.json, or a JSON of id -> caption."""
    if path.is_dir():
        path = path / "captions.json"
    data = read_json_file(path, "predicted captions: a run folder, its captions.json, or id -> caption")
    if isinstance(data, dict) and "tracks" in data:  # a run's captions.json
        return _run_objects(path)
    if isinstance(data, list) and all(isinstance(e, dict) and "id" in e and "pred" in e for e in data):
        return [CaptionedObject(str(e["id"]), [str(e["pred"])]) for e in data]
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return [CaptionedObject(str(k), [v]) for k, v in data.items()]
    raise UserError(f"{path}: not a captions.json, a list of {{id, pred}} or an object of id -> caption")


def _run_objects(path: Path) -> list[CaptionedObject]:
    from videocap.results import read_captions

    result = read_captions(path)
    return [CaptionedObject(str(track.id), [c.text for c in track.captions],
                            {frame.index: frame.mask.to_rle() for frame in track.frames})
            for track in result.tracking.tracks if track.captions]


def video_iou(a: dict[int, dict], b: dict[int, dict]) -> float:
    """Intersection over union of two objects' masks summed over all their frames."""
    inter = union = 0
    for frame in a.keys() | b.keys():
        ma, mb = (rle_to_mask(m[frame]) if frame in m else None for m in (a, b))
        if ma is None or mb is None:
            union += int((ma if mb is None else mb).sum())
            continue
        inter += int(np.logical_and(ma, mb).sum())
        union += int(np.logical_or(ma, mb).sum())
    return inter / union if union else 0.0


def match_objects(predictions: list[CaptionedObject], references: list[CaptionedObject], by: str,
                  min_iou: float = 0.5) -> list[tuple[CaptionedObject, CaptionedObject]]:
    """(prediction, reference) pairs: same id, or one-to-one by mask IoU (at least ``min_iou``)."""
    if by == "id":
        found = {p.key: p for p in predictions}
        return [(found[r.key], r) for r in references if r.key in found]
    if not all(r.masks for r in references):
        raise UserError("matching by mask IoU needs masks for every reference object: use --match id")
    from scipy.optimize import linear_sum_assignment

    ious = np.array([[video_iou(p.masks, r.masks) for r in references] for p in predictions]).reshape(
        len(predictions), len(references))
    rows, cols = linear_sum_assignment(-ious)
    return [(predictions[i], references[j]) for i, j in zip(rows, cols) if ious[i, j] >= min_iou]
