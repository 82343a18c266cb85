"""Synthetic videos of moving coloured shapes, with ground truth.

No pretrained weights can be fetched where videocap is developed and tested, so the bundled
models (a YOLO-seg detector and a small DAM captioner) are trained on clips from this generator.
Every clip records each object's shape, colour, size and motion, and per frame its visible
mask (after occlusion by the objects drawn in front of it), so that tracking can be scored
against identities and captions can be derived from the truth.

Objects move in straight lines, may start outside the frame and enter, may leave, and may pass
in front of or behind each other. Backgrounds are plain, textured, or crops of bundled photos.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from videocap.resources import BACKGROUNDS_DIR

SHAPES = ("circle", "square", "triangle", "star")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 170, 60),
    "blue": (40, 70, 215),
    "yellow": (235, 210, 40),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
BACKGROUNDS = ("plain", "texture", "photo")
PHOTO_DIR = BACKGROUNDS_DIR


@dataclass(frozen=True)
class ShapeObject:
    """One object of a clip: what it looks like and how it moves (in frame pixels)."""

    object_id: int
    shape: str
    colour: str
    radius: float  # half the object's extent, in pixels
    start: tuple[float, float]  # centre (x, y) at the first frame
    velocity: tuple[float, float]  # pixels per frame
    angle: float  # rotation in degrees (fixed: the shapes do not spin)

    def centre(self, frame: int) -> tuple[float, float]:
        return (self.start[0] + self.velocity[0] * frame, self.start[1] + self.velocity[1] * frame)

    @property
    def size(self) -> str:
        """'small', 'medium' or 'large', the words captions use."""
        if self.radius < 16:
            return "small"
        return "medium" if self.radius < 26 else "large"

    @property
    def motion(self) -> str:
        """The direction of motion in caption words: 'still', 'left', 'up', 'down and to the right'..."""
        return motion_words(self.velocity)


def motion_words(velocity: tuple[float, float]) -> str:
    vx, vy = velocity
    speed = math.hypot(vx, vy)
    if speed < 0.3:
        return "still"
    # A component counts when it carries a fair share of the motion (diagonals within ~22.5°).
    horizontal = "" if abs(vx) < 0.38 * speed else ("right" if vx > 0 else "left")
    vertical = "" if abs(vy) < 0.38 * speed else ("down" if vy > 0 else "up")
    if horizontal and vertical:
        return f"{vertical} and to the {horizontal}"
    return horizontal or vertical


@dataclass
class SyntheticClip:
    """Frames (RGB uint8) with, per frame, the visible mask of each object in view."""

    frames: list[np.ndarray]
    masks: list[dict[int, np.ndarray]]  # frame -> object_id -> HxW bool (visible part only)
    objects: list[ShapeObject]  # in drawing order: later objects pass in front
    fps: float
    background: str
    meta: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        height, width = self.frames[0].shape[:2]
        return width, height


def shape_polygon(shape: str, centre: tuple[float, float], radius: float, angle: float) -> np.ndarray:
    """Outline of a shape as an (N, 2) float array of (x, y) points."""
    if shape == "circle":
        ts = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        radii = np.full_like(ts, radius)
    elif shape == "square":
        ts = np.deg2rad(np.array([45, 135, 225, 315]) + angle)
        radii = np.full_like(ts, radius * math.sqrt(2) * 0.85)
    elif shape == "triangle":
        ts = np.deg2rad(np.array([-90, 30, 150]) + angle)
        radii = np.full_like(ts, radius * 1.15)
    elif shape == "star":
        ts = np.deg2rad(np.arange(10) * 36 - 90 + angle)
        radii = np.where(np.arange(10) % 2 == 0, radius * 1.15, radius * 0.48)
    else:
        raise ValueError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    return np.stack([centre[0] + radii * np.cos(ts), centre[1] + radii * np.sin(ts)], axis=1)


def draw_mask(shape: str, centre: tuple[float, float], radius: float, angle: float, size: tuple[int, int]) -> np.ndarray:
    """Full (unoccluded) mask of a shape at frame size ``(width, height)``, clipped to the frame."""
    width, height = size
    mask = np.zeros((height, width), np.uint8)
    # Sub-pixel precision (shift=4) keeps slow motion smooth instead of jumping whole pixels.
    points = np.round(shape_polygon(shape, centre, radius, angle) * 16).astype(np.int32)
    cv2.fillPoly(mask, [points], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _plain_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    # Mid tones only, so that black and white objects both stand out.
    base = rng.integers(70, 190, size=3)
    image = np.empty((height, width, 3), np.float32)
    image[:] = base
    gradient = np.linspace(-1, 1, width)[None, :, None] * rng.uniform(-25, 25, size=3)
    return np.clip(image + gradient, 0, 255).astype(np.uint8)


def _texture_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    noise = rng.normal(0, 1, size=(height // 8 + 1, width // 8 + 1, 3)).astype(np.float32)
    noise = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    base = rng.integers(80, 175, size=3).astype(np.float32)
    image = base + noise * rng.uniform(15, 35)
    if rng.random() < 0.5:  # stripes, like tiles or wood
        period = rng.uniform(8, 30)
        xs = np.arange(width)[None, :] * math.cos(rng.uniform(0, np.pi)) + np.arange(height)[:, None] * 0.5
        image += (np.sin(xs * 2 * np.pi / period) * rng.uniform(8, 20))[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def _photo_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    photos = sorted(PHOTO_DIR.glob("*.jpg"))
    if not photos:
        return _texture_background(rng, size)
    photo = cv2.cvtColor(cv2.imread(str(photos[rng.integers(len(photos))])), cv2.COLOR_BGR2RGB)
    width, height = size
    scale = max(width / photo.shape[1], height / photo.shape[0]) * rng.uniform(1.0, 1.6)
    photo = cv2.resize(photo, (math.ceil(photo.shape[1] * scale), math.ceil(photo.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    y0 = rng.integers(0, photo.shape[0] - height + 1)
    x0 = rng.integers(0, photo.shape[1] - width + 1)
    # Toned down a little so that objects stay distinguishable from the photo's own colours.
    crop = photo[y0:y0 + height, x0:x0 + width].astype(np.float32)
    return np.clip(crop * 0.7 + 128 * 0.3, 0, 255).astype(np.uint8)


def make_background(kind: str, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    makers = {"plain": _plain_background, "texture": _texture_background, "photo": _photo_background}
    if kind not in makers:
        raise ValueError(f"unknown background {kind!r}; choose from {', '.join(BACKGROUNDS)}")
    return makers[kind](rng, size)


def random_objects(rng: np.random.Generator, count: int, size: tuple[int, int], num_frames: int,
                   shapes: tuple[str, ...] = SHAPES, colours: tuple[str, ...] = tuple(COLOURS),
                   still_share: float = 0.2) -> list[ShapeObject]:
    """Objects with distinct (shape, colour) pairs, so that each can be named unambiguously."""
    width, height = size
    pairs = [(s, c) for s in shapes for c in colours]
    chosen = rng.choice(len(pairs), size=min(count, len(pairs)), replace=False)
    objects = []
    for object_id, pair in enumerate(chosen, start=1):
        shape, colour = pairs[pair]
        radius = float(rng.uniform(11, 30)) * min(width, height) / 240
        if rng.random() < still_share:
            velocity = (0.0, 0.0)
        else:
            # One of 8 compass directions with a little jitter, so every motion word is common.
            heading = rng.integers(8) * 45 + rng.uniform(-10, 10)
            speed = rng.uniform(1.0, 3.0) * min(width, height) / 240
            velocity = (speed * math.cos(math.radians(heading)), speed * math.sin(math.radians(heading)))
        # Start so that the object is on screen for much of the clip: around the middle position.
        mid = (rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height)
        start = (mid[0] - velocity[0] * num_frames / 2, mid[1] - velocity[1] * num_frames / 2)
        objects.append(ShapeObject(object_id, shape, colour, radius, start, velocity, float(rng.uniform(0, 360))))
    return objects


def render_clip(objects: list[ShapeObject], background: np.ndarray, num_frames: int, fps: float = 25.0,
                rng: np.random.Generator | None = None, background_kind: str = "plain") -> SyntheticClip:
    """Draw the objects over the background; later objects occlude earlier ones."""
    rng = rng or np.random.default_rng(0)
    height, width = background.shape[:2]
    base = background.astype(np.int16)
    # Mild sensor noise keeps flat colours from being trivially separable by value alone; a few
    # pre-drawn noise fields, cycled, cost far less than fresh noise for every frame.
    noise = [np.round(rng.normal(0, 3, size=base.shape)).astype(np.int16) for _ in range(3)]
    colours = {o.object_id: np.array(COLOURS[o.colour], np.int16) for o in objects}
    frames, masks = [], []
    for t in range(num_frames):
        full = {o.object_id: draw_mask(o.shape, o.centre(t), o.radius, o.angle, (width, height)) for o in objects}
        frame = base + noise[t % len(noise)]
        for o in objects:
            frame[full[o.object_id]] = colours[o.object_id] + noise[t % len(noise)][full[o.object_id]]
        visible: dict[int, np.ndarray] = {}
        covered = np.zeros((height, width), bool)
        for o in reversed(objects):  # front to back
            mask = full[o.object_id] & ~covered
            covered |= full[o.object_id]
            if mask.any():
                visible[o.object_id] = mask
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        masks.append(visible)
    return SyntheticClip(frames, masks, objects, fps, background_kind)


def make_clip(seed: int, num_frames: int = 48, size: tuple[int, int] = (320, 240), num_objects: int | None = None,
              background: str | None = None, fps: float = 25.0) -> SyntheticClip:
    """A random clip, fully determined by ``seed``."""
    rng = np.random.default_rng(seed)
    kind = background or BACKGROUNDS[rng.integers(len(BACKGROUNDS))]
    count = num_objects if num_objects is not None else int(rng.integers(1, 5))
    objects = random_objects(rng, count, size, num_frames)
    clip = render_clip(objects, make_background(kind, rng, size), num_frames, fps, rng, kind)
    clip.meta["seed"] = seed
    return clip


def clip_truth(clip: SyntheticClip) -> dict:
    """JSON-ready ground truth: objects with their attributes and per-frame boxes."""
    objects = []
    for o in clip.objects:
        frames = [t for t, visible in enumerate(clip.masks) if o.object_id in visible]
        boxes = []
        for t in frames:
            ys, xs = np.nonzero(clip.masks[t][o.object_id])
            boxes.append([int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1])
        objects.append({
            "id": o.object_id, "shape": o.shape, "colour": o.colour, "size": o.size, "motion": o.motion,
            "radius": round(o.radius, 2), "velocity": [round(v, 3) for v in o.velocity],
            "frames": frames, "boxes": boxes,
        })
    width, height = clip.size
    return {"fps": clip.fps, "width": width, "height": height, "num_frames": len(clip.frames),
            "background": clip.background, "objects": objects, **clip.meta}


# -- captions from the ground truth (for training and evaluating the demo captioner) --

DIRECTION_WORDS = ("left", "right", "up", "down", "still")


def _overlaps(clip: SyntheticClip, a: ShapeObject, b: ShapeObject) -> bool:
    """Whether two objects' full shapes ever overlap on screen (one then hides part of the other)."""
    width, height = clip.size
    for t in range(0, len(clip.frames), 2):
        (ax, ay), (bx, by) = a.centre(t), b.centre(t)
        if math.hypot(ax - bx, ay - by) < 0.8 * (a.radius + b.radius) and -a.radius < ax < width + a.radius \
                and -a.radius < ay < height + a.radius:
            return True
    return False


def true_still_caption(clip: SyntheticClip, object_id: int, rng: np.random.Generator | None = None) -> str:
    """A caption of one object as a single frame shows it: colour, shape and size, no motion."""
    rng = rng or np.random.default_rng(object_id)
    obj = next(o for o in clip.objects if o.object_id == object_id)
    sized = f"{obj.size} {obj.colour} {obj.shape}" if rng.random() < 0.5 else f"{obj.colour} {obj.shape}"
    return str(rng.choice([f"A {sized}.", f"The {sized}.", f"This is a {sized}."]))


def true_caption(clip: SyntheticClip, object_id: int, rng: np.random.Generator | None = None) -> str:
    """A caption of one object from the truth, in one of several phrasings.

    The first sentence always names the object's colour, shape and motion with the generator's words
    (red, green, blue, yellow, white, black; circle, square, triangle, star; left, right, up, down, still),
    so an evaluation can read them from it; a second sentence may say what it passes behind or in front of.
    """
    rng = rng or np.random.default_rng(object_id)
    obj = next(o for o in clip.objects if o.object_id == object_id)
    name = f"{obj.colour} {obj.shape}"
    sized = f"{obj.size} {name}" if rng.random() < 0.5 else name
    if obj.motion == "still":
        choices = [f"A {sized} that stays still.", f"The {sized} is still.", f"A {sized} standing still."]
    else:
        choices = [f"A {sized} moving {obj.motion}.", f"The {sized} moves {obj.motion}.",
                   f"A {sized} that is going {obj.motion}."]
    first = str(rng.choice(choices))
    order = [o.object_id for o in clip.objects]
    relations = []
    for other in clip.objects:
        if other.object_id != object_id and _overlaps(clip, obj, other):
            behind = order.index(other.object_id) > order.index(object_id)
            relations.append(f"passes {'behind' if behind else 'in front of'} the {other.colour} {other.shape}")
    if relations:
        first += f" It {' and '.join(relations[:2])}."
    return first


def caption_words(caption: str) -> tuple[str | None, str | None, str]:
    """(colour, shape, motion) as the first sentence of a caption names them; motion like ``motion_words``."""
    first = caption.split(".")[0].lower()
    words = re.findall(r"[a-z]+", first)
    colour = next((w for w in words if w in COLOURS), None)
    shape = next((w for w in words if w in SHAPES), None)
    if "still" in words:
        return colour, shape, "still"
    horizontal = next((w for w in words if w in ("left", "right")), "")
    vertical = next((w for w in words if w in ("up", "down")), "")
    if horizontal and vertical:
        return colour, shape, f"{vertical} and to the {horizontal}"
    return colour, shape, horizontal or vertical or "none"
