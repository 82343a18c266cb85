"""``videocap serve --engine ray``: the same app as a Ray Serve deployment.

Each replica builds the whole server in its own process when Ray starts it (the DAM loaded once per replica,
its own continuous batching, its own jobs) and Ray Serve's HTTP proxy spreads requests over the replicas.
Jobs live in the replica that took them: with more than one replica, a job's later requests may reach
another one, so run jobs on a one-replica server (the default) and scale out the chat completions.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass

from videocap.batch.on_ray import INSTALL
from videocap.errors import UserError
from videocap.settings import CaptionSettings

APP_NAME = "videocap"


@dataclass(frozen=True)
class RayServeOptions:
    address: str | None = None  # a running cluster; None: Ray on this machine
    replicas: int = 1
    gpus: float = 0.0  # per replica
    cpus: float = 1.0  # per replica


def check_ray_serve() -> None:
    """One line, before any model loads, when Ray Serve is not installed."""
    try:
        import ray.serve  # noqa: F401
    except ImportError as exc:
        raise UserError(f"--engine ray needs Ray Serve ({exc}): {INSTALL}") from exc


class _Replica:
    """What Ray Serve instantiates per replica; the routes are the app the builder returns."""


def serve_on_ray(settings, config: dict, captioning: CaptionSettings, port: int, options: RayServeOptions,
                 announce: Callable[[str], None]) -> None:
    """Deploy the app on Ray (``options.address``: a running cluster; None: Ray on this machine) and serve on
    ``settings.host``:``port`` until SIGTERM or Ctrl-C; then the deployment is deleted and Ray shut down."""
    import ray
    from ray import serve

    def build_app():
        from videocap.serve.app import make_app
        from videocap.serve.run import build_server, max_open

        return make_app(build_server(settings, config, captioning), int(settings.max_body_mb * 2**20),
                        settings.api_key, max_open=max_open(settings))

    deployment = serve.deployment(serve.ingress(build_app)(_Replica), name=APP_NAME, num_replicas=options.replicas,
                                  ray_actor_options={"num_cpus": options.cpus, "num_gpus": options.gpus})
    ray.init(address=options.address, log_to_driver=False, configure_logging=False)
    stop = threading.Event()  # handlers set after ray.init, which installs its own (aborting on SIGTERM)
    saved = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        serve.start(http_options={"host": settings.host, "port": port})
        serve.run(deployment.bind(), name=APP_NAME, route_prefix="/", blocking=False)
        announce(f"http://{f'[{settings.host}]' if ':' in settings.host else settings.host}:{port}")
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
