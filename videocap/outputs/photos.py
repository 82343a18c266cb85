"""The photo stage: reading photos, finding the objects of a class in one, and drawing the result.

Each object of a photo is a one-frame ``Track`` (id, class, box, score, mask, one caption), so photos
and videos share one record family, one drawing code and one JSON form per object.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from videocap.segment.detections import Detections
from videocap.errors import UserError
from videocap.io.files import open_image, safe_name, to_rgb
from videocap.outputs.layout import TextStyle
from videocap.outputs.render import DrawObject, Overlay
from videocap.results import Track, TrackFrame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def list_photos(path: str | Path) -> list[Path]:
    """The photo, or the photos of a folder (not its subfolders), sorted by name."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise UserError(f"{path}: no photos in this folder ({', '.join(IMAGE_SUFFIXES)})")
        return photos
    return [path]


def read_photo(path: Path) -> np.ndarray:
    """8-bit RGB pixels as a viewer shows the photo: turned upright by its EXIF orientation, 16-bit scaled,
    transparency on white (``videocap.io.files.to_rgb``)."""
    try:
        with open_image(path) as img:
            return np.asarray(to_rgb(ImageOps.exif_transpose(img)))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable image ({type(exc).__name__}); for videos use `videocap caption`") from exc


def output_names(photos: list[Path]) -> dict[Path, str]:
    """A file-name base per photo; photos sharing a name stem (a.jpg, a.png) keep their suffix too."""
    stems: dict[str, int] = {}
    for p in photos:
        stems[safe_name(p.stem, "photo")] = stems.get(safe_name(p.stem, "photo"), 0) + 1
    names = {}
    for p in photos:
        stem = safe_name(p.stem, "photo")
        names[p] = stem if stems[stem] == 1 else f"{stem}-{p.suffix.lstrip('.').lower()}"
    return names


def photo_objects(detections: Detections) -> list[Track]:
    """The photo's objects by descending score, numbered from 1 (empty masks dropped)."""
    order = np.argsort(-detections.scores, kind="stable")
    objects: list[Track] = []
    for i in order:
        mask = detections.masks[i]
        if mask.area == 0:
            continue
        box = tuple(float(v) for v in detections.boxes[i])
        frame = TrackFrame(0, 0.0, box, float(detections.scores[i]), mask)
        objects.append(Track(len(objects) + 1, detections.class_names[i], [frame], [0]))
    return objects


def annotate(image: np.ndarray, objects: list[Track], overlay_style: str = "outline") -> np.ndarray:
    """The photo with every object's mask (drawn in ``overlay_style``), box, label and whole caption."""
    height, width = image.shape[:2]
    style = TextStyle.for_frame(width, height)
    overlay = Overlay((width, height), style, overlay_style)
    draw = []
    for obj in objects:
        pages = style.pages(obj.captions[0].text if obj.captions else "", max_lines=10_000)
        draw.append(DrawObject(obj.id, obj.label, obj.colour, obj.first.box, obj.first.mask,
                               pages[0] if pages else [], 0))
    return overlay.draw(image, draw)


def encode_photo(image: np.ndarray, jpeg: bool) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG" if jpeg else "PNG", **({"quality": 92} if jpeg else {}))
    return buffer.getvalue()
