"""Where a caption block goes: next to its object, clear of other captions, labels and objects.

The burned-in video (``render.Overlay``) and the ASS subtitles (``subtitles.AssWriter``) both measure
their caption blocks and hand them to :func:`place_captions`, which places each with :func:`place_block`
or in the side panel, so the two follow one set of rules:

- the sides are tried in the order below, above, right, left, the side chosen last time first (a
  caption does not jump from side to side while its first side still fits);
- a block lies wholly inside the frame and never covers its own object or anything in ``occupied``
  (captions placed before it, labels);
- a first pass also keeps it off the other objects; when no side manages that, a second pass allows it;
- when no side fits even then, there is no placement (``None``): the caption goes to the side panel.

The side panel (:func:`stack_panel`) is a column of captions down one side of the frame, the side with
fewer objects (:func:`panel_on_right`), each with its object's label as its first line; when the column
cannot hold them all, a "+N more" block stands for the rest. Captions placed next to their objects keep
clear of the panel, which may send more of them into it: :func:`place_captions` repeats the placement
until no more go to the panel.

A block can also move (an ASS ``\\move``) with its object over a stretch of time, from next to the
object's box at the start to the same side of its box at the end, in a straight line at constant speed;
it must then stay clear all the way of the captions and objects moving over the same stretch (a
:class:`Move` each): :func:`meet` tells whether two such rectangles ever share a pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

SIDES = ("below", "above", "right", "left")


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle in frame pixels; ``x1`` and ``y1`` are exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def of(cls, box: Sequence[float]) -> Rect:
        """The rectangle of an (x0, y0, x1, y1) box of floats, its corners rounded to whole pixels."""
        x0, y0, x1, y1 = (round(v) for v in box)
        return cls(x0, y0, x1, y1)

    @classmethod
    def at(cls, x: int, y: int, size: tuple[int, int]) -> Rect:
        return cls(x, y, x + size[0], y + size[1])

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def union(self, other: Rect) -> Rect:
        """The smallest rectangle holding both."""
        return Rect(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def inside(self, frame_size: tuple[int, int]) -> bool:
        return self.x0 >= 0 and self.y0 >= 0 and self.x1 <= frame_size[0] and self.y1 <= frame_size[1]


def overlaps(a: Rect, b: Rect) -> bool:
    """Whether two rectangles share at least one pixel (touching edges do not count)."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@dataclass(frozen=True, slots=True)
class Move:
    """A rectangle moving over a stretch of time from ``start`` to ``end`` in a straight line, at constant speed."""

    start: Rect
    end: Rect


def as_move(r: Rect | Move) -> Move:
    """``r`` as a :class:`Move`: a still rectangle moves from itself to itself."""
    return r if isinstance(r, Move) else Move(r, r)


def meet(a: Rect | Move, b: Rect | Move) -> bool:
    """Whether two rectangles, still or moving over the same stretch of time, ever share a pixel.

    Each of the four conditions of :func:`overlaps` is linear in the time ``t`` (0 to 1 over the stretch):
    they meet when some ``t`` in [0, 1] meets all four.
    """
    a, b = as_move(a), as_move(b)
    low, high = 0.0, 1.0  # t must lie in [0, 1], strictly above every ``after`` and below every ``before``
    after, before = -math.inf, math.inf
    for first, second in ((a, b), (b, a)):  # first.x0 < second.x1 and first.y0 < second.y1
        for near, far in (("x0", "x1"), ("y0", "y1")):
            p = getattr(second.start, far) - getattr(first.start, near)  # the margin at t = 0 ...
            q = (getattr(second.end, far) - getattr(first.end, near)) - p  # ... grows by q over the stretch
            if q == 0:
                if p <= 0:
                    return False
            elif q > 0:
                after = max(after, -p / q)
            else:
                before = min(before, p / -q)
    return after < before and after < high and before > low


@dataclass(frozen=True, slots=True)
class Placement:
    """Top-left corner of a placed block, the side of its object it is on, and where it ends up when it moves."""

    x: int
    y: int
    side: str
    size: tuple[int, int]
    x_end: int
    y_end: int

    @property
    def rect(self) -> Rect:
        return Rect.at(self.x, self.y, self.size)

    @property
    def end_rect(self) -> Rect:
        return Rect.at(self.x_end, self.y_end, self.size)

    @property
    def move(self) -> Move:
        """The block on its way from ``rect`` to ``end_rect``."""
        return Move(self.rect, self.end_rect)


def _corner(side: str, size: tuple[int, int], box: Rect, frame_size: tuple[int, int], gap: int,
            label_height: int) -> tuple[int, int]:
    width, height = size
    frame_w, frame_h = frame_size
    clamp_x = min(max(box.x0, 0), max(frame_w - width, 0))
    clamp_y = min(max(box.y0, 0), max(frame_h - height, 0))
    if side == "below":
        return clamp_x, box.y1 + gap
    if side == "above":
        return clamp_x, box.y0 - label_height - gap - height
    if side == "right":
        return box.x1 + gap, clamp_y
    return box.x0 - gap - width, clamp_y


def place_block(size: tuple[int, int], box: Rect, frame_size: tuple[int, int], occupied: Iterable[Rect | Move],
                others: Iterable[Rect | Move], gap: int, label_height: int = 0, prefer: str | None = None,
                box_end: Rect | None = None) -> Placement | None:
    """A spot for a block of ``size`` (width, height) next to its object's ``box``, or None where none fits.

    ``occupied``: what the block must never cover (captions placed before it, labels); ``others``: the other
    objects, avoided when possible. ``gap``: pixels between the object and the block. ``label_height``: the
    height of the object's label, drawn just above its box (a block above the object goes above the label).
    ``prefer``: the side chosen last time, tried first. ``box_end``: the object's box at the end of a
    stretch of time over which the block moves with it, on one side; ``occupied`` and ``others`` then hold
    what moves over the same stretch as :class:`Move` (a :class:`Rect` stays still), and the block must keep
    clear of them all the way.
    """
    occupied, others = list(occupied), list(others)
    end_box = box if box_end is None else box_end
    order = ([prefer] if prefer in SIDES else []) + [side for side in SIDES if side != prefer]
    for avoid_objects in (True, False):
        for side in order:
            x, y = _corner(side, size, box, frame_size, gap, label_height)
            x_end, y_end = _corner(side, size, end_box, frame_size, gap, label_height)
            placement = Placement(x, y, side, size, x_end, y_end)
            start, end = placement.rect, placement.end_rect
            if not (start.inside(frame_size) and end.inside(frame_size)):
                continue
            if overlaps(start, box) or overlaps(end, end_box):
                continue
            move = placement.move
            if any(meet(move, r) for r in occupied):
                continue
            if avoid_objects and any(meet(move, r) for r in others):
                continue
            return placement
    return None


def panel_on_right(centres: Iterable[float], frame_width: int) -> bool:
    """Whether the side panel goes on the right: the objects' centres (x) lie on the left half on average,
    or there are none."""
    centres = list(centres)
    return not centres or sum(centres) / len(centres) <= frame_width / 2


@dataclass(frozen=True, slots=True)
class Panel:
    """Where the side panel's blocks go: the first ``len(entries)`` captions, then the "+N more" block."""

    entries: list[Rect]
    more: Rect | None  # standing for the captions after those, when the column cannot hold them all


def stack_panel(sizes: Sequence[tuple[int, int]], frame_size: tuple[int, int], right_side: bool, margin: int,
                more_size: Callable[[int], tuple[int, int]]) -> Panel:
    """Blocks of ``sizes`` stacked top down in a column ``margin`` pixels in from the frame's edges and
    apart, as many as fit with room left for a "+N more" block of ``more_size(N)`` below them.

    The first block is always placed (cut off at the frame's bottom where it is taller than the frame).
    No two blocks of the panel share a pixel.
    """
    frame_w, frame_h = frame_size

    def at(size: tuple[int, int], y: int) -> Rect:
        return Rect.at(max(frame_w - size[0] - margin, 0) if right_side else margin, y, size)

    entries: list[Rect] = []
    y = margin
    for n, size in enumerate(sizes):
        left = len(sizes) - n - 1  # blocks after this one, which may need a "+N more" block below it
        more_height = more_size(left)[1] + margin if left else 0
        if n > 0 and y + size[1] + more_height > frame_h - margin:
            return Panel(entries, at(more_size(len(sizes) - n), y))
        entries.append(at(size, y))
        y += size[1] + margin
    return Panel(entries, None)


@dataclass(frozen=True, slots=True)
class CaptionBlock:
    """A caption to place, as its caller measured it: its object's box (a :class:`Move` over a stretch of
    time, or still), its block's (width, height) next to the object and in the side panel (where it may
    also hold the label), and the object's label height and last side for :func:`place_block`."""

    box: Rect | Move
    near_size: tuple[int, int]
    panel_size: tuple[int, int]
    label_height: int = 0
    prefer: str | None = None


@dataclass(frozen=True, slots=True)
class Layout:
    """Where :func:`place_captions` put each caption, by its position in the list it was given."""

    near: dict[int, Placement]  # next to its object
    panel: dict[int, Rect]  # in the side panel
    hidden: list[int]  # in neither: the panel's "+N more" block stands for them (N = len(hidden))
    more: Rect | None  # where that block goes, when there are hidden captions


def place_captions(captions: Sequence[CaptionBlock], frame_size: tuple[int, int], occupied: Sequence[Rect | Move],
                   bystanders: Sequence[Rect | Move], gap: int, panel_right: bool,
                   more_size: Callable[[int], tuple[int, int]]) -> Layout:
    """Every caption next to its object where one fits (in order, each clear of those before it), the rest in
    the side panel (:func:`stack_panel`, on the right when ``panel_right``), with a "+N more" block of
    ``more_size(N)`` when the panel is full; no two of them share a pixel.

    ``occupied``: what no caption may cover (labels); ``bystanders``: the objects without a caption, avoided
    like the captions' objects when possible. ``gap``: pixels between an object and its block, and around the
    panel's blocks. Each block's ``prefer`` is its side in the frame (or stretch) before: the caller keeps
    the sides in ``near``, not those of a pass that sent more captions to the panel.
    """
    in_panel: list[int] = []
    while True:  # the panel only grows, so this ends
        panel = stack_panel([captions[n].panel_size for n in in_panel], frame_size, panel_right, gap, more_size)
        taken = [*occupied, *panel.entries, *([panel.more] if panel.more else [])]
        near, misfits = _place_near(captions, in_panel, frame_size, taken, bystanders, gap)
        if not misfits:
            return Layout(near, dict(zip(in_panel, panel.entries)), in_panel[len(panel.entries):], panel.more)
        in_panel = sorted(in_panel + misfits)  # a bigger panel may cover spots found this pass: place again


def _place_near(captions: Sequence[CaptionBlock], skip: list[int], frame_size: tuple[int, int],
                occupied: list[Rect | Move], bystanders: Sequence[Rect | Move],
                gap: int) -> tuple[dict[int, Placement], list[int]]:
    """The captions (all but ``skip``) next to their objects, in order, each clear of ``occupied`` and of those
    placed before it; and those that fit nowhere."""
    placed = list(occupied)
    paths = [as_move(caption.box) for caption in captions]
    near: dict[int, Placement] = {}
    misfits: list[int] = []
    for n, caption in enumerate(captions):
        if n in skip:
            continue
        others = [path for i, path in enumerate(paths) if i != n] + list(bystanders)
        spot = place_block(caption.near_size, paths[n].start, frame_size, placed, others, gap,
                           label_height=caption.label_height, prefer=caption.prefer, box_end=paths[n].end)
        if spot is None:
            misfits.append(n)
            continue
        near[n] = spot
        placed.append(spot.move)
    return near, misfits
