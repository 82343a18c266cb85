"""Stages that run side by side: a producer thread ahead of its consumer, through a bounded queue.

``prefetch`` reads an iterable (decoded frames) in a thread, so that reading overlaps the work on
what was read. Torch and ffmpeg release the GIL while they work, so a thread is enough.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], depth: int) -> Iterator[T]:
    """``items``, read ahead by a thread up to ``depth`` items; its errors are raised here, in order."""
    waiting: queue.Queue = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                waiting.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
            return
        put(_END)

    reader = threading.Thread(target=read, name="videocap-prefetch", daemon=True)
    reader.start()
    try:
        while (item := waiting.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()  # the consumer stopped early (or failed): let the reader go before its source closes
        reader.join()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
