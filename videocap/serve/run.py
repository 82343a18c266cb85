"""``videocap serve``: check the settings, bind the socket, load the DAM once, and serve until told to stop.

SIGTERM or Ctrl-C drains: uvicorn stops taking connections and lets the open ones finish (up to
``DRAIN_S``), then the jobs are cancelled (their folders keep no partial set) and the DAM thread ends; the
process exits 0.
"""

from __future__ import annotations

import errno
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from videocap.errors import UserError
from videocap.settings import CaptionSettings, ImageSettings

DRAIN_S = 30  # seconds open requests get to finish after SIGTERM


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    root: Path = Path(".")
    data: Path = Path("videocap-serve")
    max_batch: int = 8  # rows decoded together
    max_queue: int = 64  # requests waiting for a row
    max_body_mb: float = 32.0
    timeout_s: float = 300.0  # per request
    max_jobs: int = 16  # jobs waiting to run

    def check(self) -> None:
        if not self.root.is_dir():
            raise UserError(f"--root {self.root}: no such folder (the videos jobs may name are under it)")
        if self.data.exists() and not self.data.is_dir():
            raise UserError(f"--data {self.data}: not a folder (jobs' outputs go under it)")
        if self.api_key is not None and not self.api_key.strip():
            raise UserError("--api-key: give a non-empty key")


def bind(settings: ServeSettings) -> socket.socket:
    """The listening socket, bound now: a port in use is a one-line error before any model loads."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        why = "the port is in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise UserError(f"cannot listen on {settings.host}:{settings.port}: {why}; choose another --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def build_server(settings: ServeSettings, config: dict, captioning: CaptionSettings, model=None):
    """The app's shared state with the DAM loaded (``model``: one loaded already)."""
    from videocap.caption.jobs import check_dam_available, load_dam
    from videocap.serve.app import Server, model_name
    from videocap.serve.chat import Sampling
    from videocap.serve.engine import Engine
    from videocap.serve.jobs import JobStore

    if model is None:
        checkpoint = check_dam_available(captioning, 1)
        model = load_dam(captioning, checkpoint=checkpoint)
    sampling = Sampling(captioning.temperature, captioning.top_p, captioning.max_new_tokens,
                        max(captioning.max_new_tokens, 1024))
    return Server(model=model, model_name=model_name(captioning.dam), engine=Engine(model, settings.max_batch,
                  settings.max_queue), jobs=JobStore(settings.data, settings.root, config, model, settings.max_jobs),
                  sampling=sampling, timeout_s=settings.timeout_s,
                  segmenter_factory=lambda: photo_segmenter(config, captioning.device))


def photo_segmenter(config: dict, device: str | None):
    """The configured segmenter on photos, over every class it knows (for ``region`` prompts)."""
    from videocap.segment.prompted import prompt_segmenter

    return prompt_segmenter(ImageSettings.from_config(config, classes=(), device=device))


def max_open(settings: ServeSettings) -> int:
    """Requests open at once before a 503: every row and waiting place, and room for health checks and jobs."""
    return settings.max_queue + settings.max_batch + 64


def serve(settings: ServeSettings, server, sock: socket.socket, announce: Callable[[str], None]) -> None:
    """Serve ``server`` on ``sock`` until SIGTERM or Ctrl-C, then drain."""
    import uvicorn

    from videocap.serve.app import make_app

    app = make_app(server, int(settings.max_body_mb * 2**20), settings.api_key, max_open=max_open(settings))
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=DRAIN_S)
    host, port = sock.getsockname()[:2]
    announce(f"http://{f'[{host}]' if ':' in host else host}:{port}")
    with _signals_end_quietly():
        uvicorn.Server(config).run(sockets=[sock])


class _signals_end_quietly:
    """While uvicorn serves it handles SIGTERM and SIGINT itself (a drain), then raises them again for the
    handlers it found; those are made no-ops here, so that a drained server exits 0."""

    def __enter__(self):
        self.main = threading.current_thread() is threading.main_thread()
        if self.main:
            self.saved = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc):
        if self.main:
            for sig, handler in self.saved.items():
                signal.signal(sig, handler)
