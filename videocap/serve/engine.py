"""The server's DAM: one thread drives a ``DecodeBatch`` that every client's request joins.

Handlers ``submit`` a prepared request with a callback and are told each step from the DAM thread. The
waiting line is bounded (``QueueFull`` beyond it: the server answers 429); a cancelled request leaves the
line, or its row at the next step. ``close`` stops taking requests and lets the rows in flight finish.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable

from videocap.dam.continuous import DecodeBatch, Request, Step

log = logging.getLogger(__name__)

Listener = Callable[[Step | BaseException], None]


class QueueFull(Exception):
    """The waiting line is full: try again shortly."""


class Closed(Exception):
    """The engine takes no more requests (the server is shutting down)."""


class Engine:
    def __init__(self, model, max_batch: int = 8, max_queue: int = 64) -> None:
        self.model, self.max_queue = model, max_queue
        self.batch = DecodeBatch(model, max_batch)
        self._waiting: deque[Request] = deque()
        self._listeners: dict[Request, Listener] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="videocap-dam", daemon=True)
        self._thread.start()

    def submit(self, request: Request, listener: Listener) -> None:
        with self._cond:
            if self._closed:
                raise Closed()
            if len(self._waiting) >= self.max_queue:
                raise QueueFull()
            self._waiting.append(request)
            self._listeners[request] = listener
            self._cond.notify()

    def cancel(self, request: Request) -> None:
        """Forget ``request``: out of the line now, out of its row at the next step (no more callbacks)."""
        request.cancelled = True
        with self._cond:
            self._listeners.pop(request, None)
            if request in self._waiting:
                self._waiting.remove(request)

    def load(self) -> dict:
        with self._cond:
            return {"running": len(self.batch.rows), "waiting": len(self._waiting), "max_batch": self.batch.max_rows,
                    "max_queue": self.max_queue}

    def close(self, timeout: float | None = None) -> None:
        """Take no more requests; the ones taken finish (within ``timeout`` seconds, then the thread is left)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def stream(self, request: Request) -> AsyncIterator[Step]:
        """Submit ``request`` now (``QueueFull``, ``Closed``) and give its steps as they come, on the caller's
        event loop; leaving the iteration early cancels it."""
        loop = asyncio.get_running_loop()
        steps: asyncio.Queue = asyncio.Queue()
        self.submit(request, lambda step: loop.call_soon_threadsafe(steps.put_nowait, step))
        return self._steps(request, steps)

    async def _steps(self, request: Request, steps: asyncio.Queue) -> AsyncIterator[Step]:
        try:
            while True:
                step = await steps.get()
                if isinstance(step, BaseException):
                    raise step
                yield step
                if step.finish:
                    return
        finally:
            self.cancel(request)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self.batch.rows and not self._closed:
                    self._cond.wait()
                if self._closed and not self._waiting and not self.batch.rows:
                    return
                newcomers = [self._waiting.popleft() for _ in range(min(self.batch.free, len(self._waiting)))]
            try:
                steps = self.batch.admit([r for r in newcomers if not r.cancelled])
                steps += self.batch.advance()
            except Exception as exc:  # noqa: BLE001 - a failed step fails its requests, not the server
                log.exception("DAM step failed")
                failed = newcomers + [row.request for row in self.batch.rows]
                self.batch = DecodeBatch(self.model, self.batch.max_rows)
                for request in failed:
                    self._tell(request, RuntimeError(f"the model failed: {type(exc).__name__}: {exc}"), last=True)
                continue
            for step in steps:
                self._tell(step.request, step, last=step.finish is not None)

    def _tell(self, request: Request, what: Step | BaseException, last: bool) -> None:
        with self._cond:
            listener = self._listeners.pop(request, None) if last else self._listeners.get(request)
        if listener is not None:
            listener(what)
