"""``Example``: one training item of DAM (frames, masks, caption), as every data source makes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Example:
    """One training item; ``attributes`` (optional) feed the auxiliary heads."""

    frames: list[np.ndarray]
    masks: list[np.ndarray]
    caption: str
    attributes: dict | None = None  # colour, shape, motion (class indices), centres [[x, y] per frame, 0-1]
