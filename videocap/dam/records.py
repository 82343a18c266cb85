"""What DAM is given for one object: its frames, a mask per frame, and the question (a record, not a tuple)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DamInput:
    """One object to describe: ``frames`` (RGB images: arrays or PIL) and ``masks`` (one per frame, non-zero
    on the object). ``question``: what to ask instead of the checkpoint's own request for a detailed
    description (None), or a whole query with one ``<image>`` per frame."""

    frames: Sequence[Any]
    masks: Sequence[Any]
    question: str | None = None
