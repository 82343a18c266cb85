"""Region prompts on a segmenter that takes none (YOLO): each prompt picks, among the tracks of every class
the model knows, the one under it on its frame; that track is then the prompted object over the whole clip.

- points: the tracks whose mask holds every object point and none of the background points; of those, the
  smallest (the one in front, when objects overlap);
- a box or a mask: the track whose mask has the best IoU with it (at least ``MIN_IOU``).

``resolve_prompts`` turns each prompt's time into a frame of the range and checks its coordinates, once,
when the video is open and before any model loads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from videocap.errors import UserError
from videocap.io.files import open_image
from videocap.io.video import Video
from videocap.masks import BoxMask
from videocap.prompts import RegionPrompt, check_prompt
from videocap.results import FrameRange, Track, TrackFrame
from videocap.segment.detections import Detections
from videocap.segment.tracking import make_segmenter

MIN_IOU = 0.1  # below it a box or mask prompt names no tracked object


def resolve_prompts(video: Video, frame_range: FrameRange, prompts: Sequence[RegionPrompt]) -> tuple[RegionPrompt, ...]:
    """Each prompt with its frame (the processed frame at or nearest after its time), checked against the
    frame size and the range; one-line errors."""
    info = video.info
    resolved = []
    for prompt in prompts:
        check_prompt(prompt, info.width, info.height)
        index = frame_range.start if prompt.time is None else video.frame_at(prompt.time)
        if not frame_range.start <= index < frame_range.end:
            raise UserError(f"{prompt.kind} prompt {prompt.label!r} at {prompt.time}: frame {index} is outside the "
                            f"range (frames {frame_range.start}-{frame_range.end - 1}); give a time inside it")
        index = min(frame_range.indices, key=lambda i: (abs(i - index), i))  # a processed frame
        if prompt.kind == "mask":
            _prompt_mask(prompt, info.width, info.height)  # its size and content, now
        resolved.append(dataclasses.replace(prompt, frame=index))
    return tuple(resolved)


def select_prompted(tracks: Sequence[Track], prompts: Sequence[RegionPrompt], classes: Sequence[str]) -> list[Track]:
    """The tracks of the asked ``classes``, and for each prompt the track under it, named by the prompt's
    label and recording it; a one-line error naming the nearest tracks when nothing is under a prompt."""
    wanted = {c.strip().lower() for c in classes}
    kept = {t.id: t for t in tracks if t.class_name.lower() in wanted}
    for prompt in prompts:
        track = _track_under(tracks, prompt)
        track.class_name, track.prompt = prompt.label, prompt
        kept[track.id] = track
    return [kept[i] for i in sorted(kept)]


def _track_under(tracks: Sequence[Track], prompt: RegionPrompt) -> Track:
    seen = [(t, f) for t in tracks for f in t.frames if f.index == prompt.frame]
    if prompt.kind == "points":
        inside = [(t, f) for t, f in seen if _holds(f, prompt)]
        if inside:
            return min(inside, key=lambda tf: tf[1].mask.area)[0]
    else:
        target = _prompt_area(prompt, seen[0][1].mask.frame_size if seen else None)
        scored = [(_iou(f.mask.to_mask(), target), t) for t, f in seen] if target is not None else []
        best = max(scored, key=lambda st: st[0], default=(0.0, None))
        if best[0] >= MIN_IOU:
            return best[1]
    raise UserError(_nothing_under(prompt, seen))


def mask_under(detections: Detections, prompt: RegionPrompt) -> np.ndarray | None:
    """The frame-size mask of the detected object under a point or box ``prompt`` on a photo (the rules
    above), or None when no object is under it."""
    masks = [m.to_mask() for m in detections.masks]
    if prompt.kind == "points":
        return min((m for m in masks if _mask_holds(m, prompt)), key=np.count_nonzero, default=None)
    if not masks:
        return None
    target = _prompt_area(prompt, masks[0].shape[::-1])
    iou, best = max(((_iou(m, target), n) for n, m in enumerate(masks)), key=lambda s: s[0])
    return masks[best] if iou >= MIN_IOU else None


def photo_region(segmenter, image: np.ndarray, prompt: RegionPrompt) -> np.ndarray | None:
    """The mask of ``prompt`` on an RGB ``image``: a promptable photo segmenter (``segment_prompts``) segments
    what is under it; any other is run over every class it knows and the detection under it is taken."""
    if hasattr(segmenter, "segment_prompts"):
        found = segmenter.segment_prompts(image, [prompt])
        return found.masks[0].to_mask() if len(found) else None
    return mask_under(segmenter(image), prompt)


def prompt_segmenter(settings):
    """A photo segmenter for region prompts (``settings``: ImageSettings): a promptable one segments what is
    under each prompt itself; any other looks at every class its model knows."""
    segmenter = make_segmenter(dataclasses.replace(settings, classes=()))
    if hasattr(segmenter, "names") and not hasattr(segmenter, "segment_prompts"):
        segmenter.select_classes(list(segmenter.names.values()))
    return segmenter


def prompted_objects(segmenter, image: np.ndarray, prompts: Sequence[RegionPrompt], first_id: int = 1) -> list[Track]:
    """The objects the prompts select on a photo, one each, named by the prompt's label and numbered from
    ``first_id``; a prompt that selects nothing is a one-line error."""
    height, width = image.shape[:2]
    objects = []
    for prompt in prompts:
        check_prompt(prompt, width, height)
        if prompt.time not in (None, "0"):
            raise UserError(f"{prompt.kind} prompt {prompt.label!r}: a photo has one frame: drop @{prompt.time}")
        mask = _prompt_mask(prompt, width, height) if prompt.kind == "mask" else photo_region(segmenter, image, prompt)
        if mask is None or not mask.any():
            raise UserError(f"{prompt.kind} prompt {prompt.label!r}: no object found there: point inside an object, "
                            "draw a box around it, or give its --mask")
        compact = BoxMask.from_mask(mask)
        frame = TrackFrame(0, 0.0, tuple(float(v) for v in compact.box), 1.0, compact)
        objects.append(Track(first_id + len(objects), prompt.label, [frame], [0]))
    return objects


def _holds(frame: TrackFrame, prompt: RegionPrompt) -> bool:
    return _mask_holds(frame.mask.to_mask(), prompt)


def _mask_holds(mask: np.ndarray, prompt: RegionPrompt) -> bool:
    height, width = mask.shape
    def at(x: float, y: float) -> bool:
        return bool(mask[min(int(y), height - 1), min(int(x), width - 1)])
    return all(at(x, y) == bool(label) for (x, y), label in zip(prompt.points, prompt.point_labels))


def _prompt_area(prompt: RegionPrompt, size: tuple[int, int] | None) -> np.ndarray | None:
    if size is None:
        return None
    if prompt.kind == "mask":
        return _prompt_mask(prompt, *size)
    area = np.zeros((size[1], size[0]), dtype=bool)
    x1, y1, x2, y2 = (int(round(v)) for v in prompt.box)
    area[y1:y2, x1:x2] = True
    return area


def _prompt_mask(prompt: RegionPrompt, width: int, height: int) -> np.ndarray:
    with open_image(prompt.mask) as img:
        mask = np.asarray(img.convert("L") if img.mode not in ("1", "L") else img) > 0
    if mask.shape != (height, width):
        raise UserError(f"--mask {prompt.mask}: {mask.shape[1]}x{mask.shape[0]} pixels, but the frames are "
                        f"{width}x{height}: give a mask the size of the frame")
    if not mask.any():
        raise UserError(f"--mask {prompt.mask}: the mask is empty (all zero): mark the object with non-zero pixels")
    return mask


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def _nothing_under(prompt: RegionPrompt, seen: list[tuple[Track, TrackFrame]]) -> str:
    x, y = prompt.points[0] if prompt.points else ((prompt.box[0] + prompt.box[2]) / 2, (prompt.box[1] + prompt.box[3]) / 2) \
        if prompt.box else (math.nan, math.nan)
    def distance(frame: TrackFrame) -> float:
        x1, y1, x2, y2 = frame.box
        return math.hypot(max(x1 - x, 0, x - x2), max(y1 - y, 0, y - y2))
    nearest = sorted(seen, key=lambda tf: distance(tf[1]))[:3]
    named = ", ".join(f"{t.class_name} #{t.id} {distance(f):.0f} px away" for t, f in nearest) or "no object at all"
    return (f"no tracked object under the {prompt.kind} prompt {prompt.label!r} on frame {prompt.frame} (nearest: "
            f"{named}); point inside an object, or use --segmenter sam2, which segments whatever is pointed at")

