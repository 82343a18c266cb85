"""Compact instance masks.

A frame-size boolean mask costs H*W bytes; kept for every object in every frame it would make
memory grow quickly with video length. A ``BoxMask`` keeps only the mask's bounding box, bit-packed
and zlib-compressed (a few hundred bytes for a 100x100 object). For JSON, masks are written as COCO's compressed RLE: the
column-major run lengths (starting with a run of zeros) packed into an ASCII string, the form
``pycocotools.mask`` reads. Compared with a list of numbers it is several times smaller in the file
and, above all, in memory while the file is written (one string instead of hundreds of ints).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)  # slots: one per object and frame, so the per-instance dict adds up
class BoxMask:
    """A binary mask stored as its bit-packed crop at ``(x0, y0)`` inside a frame of ``frame_size``."""

    x0: int
    y0: int
    width: int  # crop width
    height: int  # crop height
    frame_size: tuple[int, int]  # (frame width, frame height)
    bits: bytes  # zlib-compressed np.packbits of the crop, row-major

    @classmethod
    def from_mask(cls, mask: np.ndarray, within: tuple[float, float, float, float] | None = None) -> "BoxMask":
        """Crop a frame-size mask (nonzero = inside; above 0.5 for floats) to its bounding box.

        ``within`` (x0, y0, x1, y1), when the mask is known to lie inside it (as a detector's box), limits
        the search to that region: on large frames this is much cheaper than scanning the whole mask.
        """
        frame_h, frame_w = mask.shape
        left = top = 0
        if within is not None:
            left, top = max(int(within[0]) - 1, 0), max(int(within[1]) - 1, 0)
            mask = mask[top:min(int(np.ceil(within[3])) + 1, frame_h), left:min(int(np.ceil(within[2])) + 1, frame_w)]
        mask = mask > 0.5 if mask.dtype.kind == "f" else mask != 0
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return cls(0, 0, 0, 0, (frame_w, frame_h), b"")
        cols = np.flatnonzero(mask.any(axis=0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = mask[y0:y1, x0:x1]
        return cls(int(x0 + left), int(y0 + top), int(x1 - x0), int(y1 - y0), (frame_w, frame_h),
                   zlib.compress(np.packbits(crop).tobytes(), 1))

    @property
    def crop(self) -> np.ndarray:
        count = self.width * self.height
        packed = np.frombuffer(zlib.decompress(self.bits), np.uint8) if self.bits else np.zeros(0, np.uint8)
        return np.unpackbits(packed, count=count).reshape(self.height, self.width).astype(bool)

    def to_mask(self) -> np.ndarray:
        """The full frame-size boolean mask."""
        frame_w, frame_h = self.frame_size
        mask = np.zeros((frame_h, frame_w), bool)
        mask[self.y0:self.y0 + self.height, self.x0:self.x0 + self.width] = self.crop
        return mask

    @property
    def area(self) -> int:
        return int(self.crop.sum()) if self.bits else 0

    @property
    def box(self) -> tuple[int, int, int, int]:
        """Tight box (x0, y0, x1, y1), exclusive ends."""
        return self.x0, self.y0, self.x0 + self.width, self.y0 + self.height

    def to_rle(self) -> dict:
        """COCO compressed RLE of the frame-size mask: {"size": [h, w], "counts": "ascii"}."""
        frame_w, frame_h = self.frame_size
        ys, xs = np.nonzero(self.crop)
        # Column-major position of each inside pixel in the full frame.
        positions = np.sort((xs + self.x0).astype(np.int64) * frame_h + (ys + self.y0))
        return {"size": [frame_h, frame_w], "counts": encode_counts(_runs(positions, frame_h * frame_w))}

    @classmethod
    def from_rle(cls, rle: dict) -> "BoxMask":
        return cls.from_mask(rle_to_mask(rle))


def _runs(positions: np.ndarray, total: int) -> list[int]:
    """Alternating zero/one run lengths for sorted positions of ones among ``total`` pixels."""
    if positions.size == 0:
        return [total]
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = positions[np.concatenate(([0], breaks))]
    ends = positions[np.concatenate((breaks - 1, [positions.size - 1]))] + 1
    counts = np.empty(2 * starts.size + 1, np.int64)
    counts[0] = starts[0]
    counts[1::2] = ends - starts
    counts[2:-1:2] = starts[1:] - ends[:-1]
    counts[-1] = total - ends[-1]
    return [int(c) for c in (counts if counts[-1] else counts[:-1])]


def encode_counts(counts: list[int]) -> str:
    """COCO's compressed RLE string: each count (from the third on, as the difference to the count two
    before) in little-endian groups of 5 bits, 0x20 marking that more groups follow, offset by 48."""
    out = []
    for i, count in enumerate(counts):
        x = count - counts[i - 2] if i > 2 else count
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


def decode_counts(text: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = shift = 0
        more = True
        while more:
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << shift
            more = bool(c & 0x20)
            p += 1
            shift += 5
            if not more and c & 0x10:
                x -= 1 << shift  # sign-extend
        counts.append(x + counts[-2] if len(counts) > 2 else x)
    return counts


def rle_to_mask(rle: dict) -> np.ndarray:
    """Decode COCO RLE (compressed string or a list of counts) to an HxW boolean mask."""
    height, width = rle["size"]
    counts = rle["counts"]
    counts = np.asarray(decode_counts(counts) if isinstance(counts, str) else counts, np.int64)
    if (counts < 0).any() or counts.sum() != height * width:  # a damaged string decodes to nonsense runs
        raise ValueError(f"mask RLE runs cover {counts.sum()} pixels of a {width}x{height} mask (damaged counts)")
    flat = np.zeros(height * width, bool)
    edges = np.concatenate(([0], np.cumsum(counts)))
    for start, end in zip(edges[1::2], edges[2::2]):
        flat[start:end] = True
    return flat.reshape(width, height).T
