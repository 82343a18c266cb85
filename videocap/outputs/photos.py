"""A captioned photo drawn: every object's mask, box, label and caption, and the picture encoded.

Each object of a photo is a one-frame ``Track`` (``videocap.segment.tracking.photo_objects``), so photos
and videos share one record family, one drawing code and one JSON form per object.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from videocap.outputs.layout import TextStyle
from videocap.outputs.render import DrawObject, Overlay
from videocap.results import Track


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
