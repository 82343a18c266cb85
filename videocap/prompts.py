"""Region prompts: *this* object, given as points, a box or a mask on one frame (``--point``, ``--box``,
``--mask``), in the forms videocap's flags take and in NVIDIA's reference forms.

- ``--point X,Y[;X,Y...][@TIME]``: one object per flag; several points on it separated by ``;``, a
  leading ``-`` marks a background point (``--point 120,80;-200,90@2s``);
- ``--box X1,Y1,X2,Y2[@TIME]``;
- ``--mask FILE.png[@TIME]``: non-zero pixels are the object;
- the reference's forms: ``--points '[[x,y],...]'`` and ``--box '[x1,y1,x2,y2]'``.

TIME takes the forms ``--start`` does (a frame number, ``2.5s``, ``00:01:02.5``); without one, the prompt
is on the first frame of the range. Coordinates are pixels of the frame as displayed (after rotation),
as the report and captions.json show them. A prompt is a record: what the user said, checked for its
form here and against the video (frame size, range) by ``check_prompt`` once the video is open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from videocap.errors import UserError

KINDS = ("points", "box", "mask")
DEFAULT_LABEL = "object"


@dataclass(frozen=True)
class RegionPrompt:
    """One prompted object: where it is on one frame, and what to call it."""

    kind: str  # one of KINDS
    points: tuple[tuple[float, float], ...] = ()  # (x, y) pixels, for "points"
    point_labels: tuple[int, ...] = ()  # per point: 1 on the object, 0 background (SAM's convention)
    box: tuple[float, float, float, float] | None = None  # x1, y1, x2, y2 pixels, for "box"
    mask: str | None = None  # path of a PNG the size of the frame, for "mask"
    time: str | None = None  # as given; None: the first frame of the range
    label: str = DEFAULT_LABEL
    frame: int | None = field(default=None, compare=False)  # set once resolved against the video

    def to_json(self) -> dict:
        data = {"kind": self.kind, "time": self.time, "frame": self.frame, "label": self.label}
        if self.kind == "points":
            data.update(points=[list(p) for p in self.points], point_labels=list(self.point_labels))
        elif self.kind == "box":
            data["box"] = list(self.box)
        else:
            data["mask"] = self.mask
        return data

    @classmethod
    def from_json(cls, data: dict) -> RegionPrompt:
        return cls(data["kind"], tuple(tuple(p) for p in data.get("points", ())), tuple(data.get("point_labels", ())),
                   tuple(data["box"]) if data.get("box") else None, data.get("mask"), data.get("time"),
                   data.get("label", DEFAULT_LABEL), data.get("frame"))

    def with_label(self, label: str) -> RegionPrompt:
        return RegionPrompt(self.kind, self.points, self.point_labels, self.box, self.mask, self.time, label,
                            self.frame)


def _split_time(text: str, flag: str) -> tuple[str, str | None]:
    """``VALUE[@TIME]`` into its value and time (None when absent)."""
    value, at, time = text.strip().rpartition("@") if "@" in text else (text.strip(), "", None)
    if at and not time.strip():
        raise UserError(f"{flag} {text!r}: nothing after '@': give a time such as @2.5s or a frame number")
    return value.strip(), (time.strip() if time else None)


def _numbers(text: str, count: int | None, flag: str, original: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{flag} {original!r}: expected numbers separated by commas, e.g. "
                        f"{'120,80' if count == 2 else '10,20,200,180'}") from None
    if count is not None and len(values) != count:
        raise UserError(f"{flag} {original!r}: expected {count} numbers, got {len(values)}")
    return values


def parse_point(text: str) -> RegionPrompt:
    """``--point X,Y[;X,Y...][@TIME]`` (a leading ``-`` on a point: background)."""
    value, time = _split_time(text, "--point")
    points, labels = [], []
    for part in filter(None, (p.strip() for p in value.split(";"))):
        background = part.startswith("-")
        x, y = _numbers(part[1:] if background else part, 2, "--point", text)
        points.append((x, y))
        labels.append(0 if background else 1)
    if not points:
        raise UserError(f"--point {text!r}: give at least one point X,Y on the object, e.g. --point 120,80@2s")
    if not any(labels):
        raise UserError(f"--point {text!r}: every point is a background point (-X,Y): give one on the object")
    return RegionPrompt("points", tuple(points), tuple(labels), time=time)


def parse_box(text: str) -> RegionPrompt:
    """``--box X1,Y1,X2,Y2[@TIME]``, or the reference's ``[x1,y1,x2,y2]``."""
    value, time = _split_time(text, "--box")
    if value.startswith("["):
        value = _reference_list(value, "--box").strip("[]")
    x1, y1, x2, y2 = _numbers(value, 4, "--box", text)
    if x2 <= x1 or y2 <= y1:
        raise UserError(f"--box {text!r}: give the top-left corner first (X1 < X2 and Y1 < Y2, an area above zero)")
    return RegionPrompt("box", box=(x1, y1, x2, y2), time=time)


def parse_mask(text: str) -> RegionPrompt:
    """``--mask FILE.png[@TIME]``."""
    value, time = _split_time(text, "--mask")
    if not Path(value).is_file():
        raise UserError(f"--mask {value}: no such file (give a PNG the size of the frame, non-zero on the object)")
    return RegionPrompt("mask", mask=str(Path(value).resolve()), time=time)


def parse_reference_points(text: str) -> RegionPrompt:
    """The reference's ``--points '[[x,y],...]'``: one object, every point on it."""
    points = json.loads(_reference_list(text, "--points"))
    if not points or not all(isinstance(p, list) and len(p) == 2 for p in points):
        raise UserError(f"--points {text!r}: expected a list of [x, y] pairs, e.g. '[[1824, 397]]'")
    return parse_point(";".join(f"{x},{y}" for x, y in points))


def _reference_list(text: str, flag: str) -> str:
    try:
        json.loads(text)
    except ValueError:
        raise UserError(f"{flag} {text!r}: not a JSON list") from None
    return text


def parse_prompts(points=(), boxes=(), masks=(), reference_points=(), labels=()) -> tuple[RegionPrompt, ...]:
    """Every prompt of the flags, in flag order by kind (points, boxes, masks), the nth ``--label`` naming the
    nth prompt (the rest are ``object``)."""
    prompts = ([parse_point(p) for p in points] + [parse_reference_points(p) for p in reference_points]
               + [parse_box(b) for b in boxes] + [parse_mask(m) for m in masks])
    if len(labels) > len(prompts):
        raise UserError(f"{len(labels)} --label for {len(prompts)} prompt(s): give one --label per --point, "
                        "--box or --mask, in that order")
    return tuple(p.with_label(labels[n].strip() or DEFAULT_LABEL) if n < len(labels) else p
                 for n, p in enumerate(prompts))


def check_prompt(prompt: RegionPrompt, width: int, height: int) -> None:
    """A prompt's coordinates inside a ``width`` x ``height`` frame (its time is checked with the range)."""
    where = f"{prompt.kind} prompt {prompt.label!r}"
    coords = list(prompt.points) + ([prompt.box[:2], prompt.box[2:]] if prompt.box else [])
    for x, y in coords:
        if not (0 <= x <= width and 0 <= y <= height):
            raise UserError(f"{where}: ({x:g}, {y:g}) is outside the {width}x{height} frame (pixels of the frame "
                            "as displayed, 0,0 at the top left)")
