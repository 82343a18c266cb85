"""The segmenters videocap knows: a name (``--segmenter``) maps to the module that implements it.

Each module named here defines ``SEGMENTER``, a ``Segmenter``: its video tracker and photo segmenter
factories, the identity of its model and settings for the tracking cache, and the provenance record
(name, revision, licence) that captions.json and the photo JSONs keep. Adding a segmenter is one new
module plus one line in ``SEGMENTERS``. The table is light (names and module paths): settings check a
name against it without importing any model code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from videocap.errors import UserError


class Registration(NamedTuple):
    module: str  # the module defining ``SEGMENTER``
    default_model: str  # the checkpoint used when none is given
    about: str  # one line for ``--help``
    hub_weights: bool = True  # whether its weights may be a Hugging Face hub id (YOLO's are files or assets)


SEGMENTERS = {
    "yolo": Registration("videocap.segment.yolo", "yolo11x-seg.pt", "YOLO-seg + ByteTrack, class names",
                         hub_weights=False),
    "sam3": Registration("videocap.segment.sam3", "facebook/sam3", "Meta's SAM 3, any noun phrase"),
    "sam2": Registration("videocap.segment.sam2", "facebook/sam2.1-hiera-large", "SAM 2.1, points/boxes/masks"),
}


@dataclass(frozen=True)
class Segmenter:
    """What a segmenter module gives videocap (each callable takes the stage's settings)."""

    name: str
    make_tracker: Callable[[Any], Any]  # TrackSettings -> a ``videocap.segment.tracking.Tracker``
    make_photo_segmenter: Callable[[Any], Callable]  # ImageSettings -> (RGB image -> Detections)
    cache_identity: Callable[[Any], dict]  # TrackSettings -> what makes its tracks differ, for the cache key
    model_record: Callable[[str], dict]  # checkpoint -> name, path, revision, licence
    tracker_record: Callable[[], Any]  # what tracks.json records as the tracker
    # TrackSettings -> a ``PromptTracker`` for region prompts (points, boxes, masks); None: the segmenter takes
    # no region prompts, and videocap picks the track under each prompt from what it tracks
    make_prompt_tracker: Callable[[Any], Any] | None = None


def check_segmenter(name: str) -> Registration:
    """The registration of ``name``, or a one-line error naming the choices."""
    if name not in SEGMENTERS:
        raise UserError(f"segmenter {name!r}: choose from {', '.join(SEGMENTERS)}")
    return SEGMENTERS[name]


def segmenter_entry(name: str) -> Segmenter:
    """The segmenter ``name`` (its module is imported now)."""
    return importlib.import_module(check_segmenter(name).module).SEGMENTER
