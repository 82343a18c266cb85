"""Tracks' frames on disk while a video is tracked, so that memory stays flat with the video's length.

``TrackBuilder`` appends every object-frame (box, score, compressed mask) to one ``FrameStore``, an
unnamed temporary file that disappears when the last track using it is gone; each track's ``frames``
is a ``StoredFrames``, a read-only sequence of ``TrackFrame`` that keeps 12 bytes per frame in memory
(where the frame lies in the file) and reads a frame when it is asked for. Every stage reads frames
through the sequence (``len``, ``[i]``, iteration), in order for the JSON writer and the renderer.
Pickled (to another process), a ``StoredFrames`` becomes a plain list: the file is this process's own.
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from collections.abc import Iterator, Sequence

from videocap.masks import BoxMask
from videocap.results import TrackFrame

_HEADER = struct.Struct("<qd4dd6i")  # index, time, box, score, mask x0 y0 width height, frame width height


class FrameStore:
    """An append-only temporary file of packed ``TrackFrame`` records."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="videocap-frames-")
        self._end = 0

    def __del__(self) -> None:
        self._file.close()  # the file goes with the last track that reads it

    def append(self, frame: TrackFrame) -> tuple[int, int]:
        """Write a frame; where it lies (offset, length)."""
        m = frame.mask
        data = _HEADER.pack(frame.index, frame.time, *frame.box, frame.score, m.x0, m.y0, m.width, m.height,
                            *m.frame_size) + m.bits
        offset = self._end
        written = os.pwrite(self._file.fileno(), data, offset)
        if written != len(data):
            raise OSError(f"short write to the frame store ({written} of {len(data)} bytes)")
        self._end += len(data)
        return offset, len(data)

    def read(self, offset: int, length: int) -> TrackFrame:
        data = os.pread(self._file.fileno(), length, offset)
        index, time, x0, y0, x1, y1, score, mx, my, mw, mh, fw, fh = _HEADER.unpack_from(data)
        mask = BoxMask(mx, my, mw, mh, (fw, fh), data[_HEADER.size:])
        return TrackFrame(index, time, (x0, y0, x1, y1), score, mask)


class StoredFrames(Sequence[TrackFrame]):
    """One track's frames in a ``FrameStore``: appended in order, read back one at a time."""

    def __init__(self, store: FrameStore) -> None:
        self._store = store
        self._offsets = array("Q")
        self._lengths = array("I")
        self._last: tuple[int, TrackFrame] | None = None  # the renderer asks for the same frame again

    def append(self, frame: TrackFrame) -> None:
        offset, length = self._store.append(frame)
        self._offsets.append(offset)
        self._lengths.append(length)

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError("track frame position out of range")
        if self._last is None or self._last[0] != position:
            self._last = (position, self._store.read(self._offsets[position], self._lengths[position]))
        return self._last[1]

    def __iter__(self) -> Iterator[TrackFrame]:
        for offset, length in zip(self._offsets, self._lengths):
            yield self._store.read(offset, length)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Sequence) and len(self) == len(other)
                and all(a == b for a, b in zip(self, other)))

    __hash__ = None  # a mutable sequence, like list

    def __reduce__(self):
        return list, (list(self),)
