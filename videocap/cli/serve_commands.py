"""``serve``: the DAM as an OpenAI-compatible HTTP API, with a jobs API for whole videos."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.cli.group import cli
from videocap.cli.options import config_options, echo_err
from videocap.settings import CaptionSettings, load_config

SERVE_EXAMPLES = """\b
Examples:
  videocap serve --demo                                   # http://127.0.0.1:8000, the bundled models
  videocap serve --dam nvidia/DAM-3B-Video --root videos/ --data runs/ --api-key "$KEY"
  videocap serve --demo --host 0.0.0.0 --port 9000 --max-batch 16 --max-queue 128
\b
Then, from Python (pip install openai):
  client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="x")
  client.chat.completions.create(model="describe_anything_model", messages=[{"role": "user",
      "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}]}])
"""


@cli.command(epilog=SERVE_EXAMPLES)
@config_options
@click.option("--dam", default=None, metavar="PATH_OR_ID", help="DAM checkpoint [config; default nvidia/DAM-3B-Video].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; only with --api-key on a shared network).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="Port (0: any free one).")
@click.option("--api-key", default=None, envvar="VIDEOCAP_API_KEY",
              help="Ask every request but /health for 'Authorization: Bearer KEY' [env VIDEOCAP_API_KEY].")
@click.option("--root", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Jobs may name videos under this folder only.")
@click.option("--data", type=click.Path(path_type=Path), default=Path("videocap-serve"), show_default=True,
              help="Where jobs keep their state and outputs (DATA/jobs/ID/).")
@click.option("--max-batch", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests decoded together (continuous batching).")
@click.option("--max-queue", type=click.IntRange(min=0), default=64, show_default=True,
              help="Requests waiting for a row; more get 429.")
@click.option("--max-body-mb", type=click.FloatRange(min=0, min_open=True), default=32.0, show_default=True,
              help="Largest request body; larger gets 413.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=300.0, show_default=True,
              help="Seconds a request may take.")
@click.option("--max-jobs", type=click.IntRange(min=1), default=16, show_default=True, help="Jobs waiting to run.")
@click.option("--device", default=None, help="Torch device for DAM, e.g. cpu, cuda:0 [default: auto].")
@click.option("--engine", type=click.Choice(("local", "ray")), default="local", show_default=True,
              help="local: one process; ray: a Ray Serve deployment of the same app (replicas, GPU shares).")
@click.option("--ray-address", default=None, metavar="ADDR",
              help="With --engine ray: a running Ray cluster (auto, HOST:PORT, ray://HOST:10001) [default: Ray here].")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --engine ray: replicas of the server, each with its own DAM.")
@click.option("--replica-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="With --engine ray: GPUs per replica (a fraction shares one).")
def serve(config_path: Path | None, demo: bool, dam: str | None, device: str | None, engine: str,
          ray_address: str | None, replicas: int, replica_gpus: float, **options) -> None:
    """Serve DAM over HTTP: OpenAI's chat completions (frames as RGBA PNG data URLs, the alpha channel the
    region; streamed or not; requests batched together) and jobs that caption whole videos."""
    from videocap.serve.run import ServeSettings, bind, build_server
    from videocap.serve.run import serve as run_server

    settings = ServeSettings(**options)
    settings.check()
    config = load_config(config_path, demo)
    captioning = CaptionSettings.from_config(config, dam=dam, device=device or config.get("device"))
    sock = bind(settings)  # before the model loads: a port in use is said at once
    if engine == "ray":
        _serve_on_ray(settings, config, captioning, sock, ray_address, replicas, replica_gpus)
        return
    echo_err(f"videocap serve: loading {captioning.dam}")
    server = build_server(settings, config, captioning)
    run_server(settings, server, sock, lambda url: echo_err(f"videocap serve: listening on {url} (model "
                                                            f"{server.model_name}); Ctrl-C stops"))
    echo_err("videocap serve: stopped")


def _serve_on_ray(settings, config, captioning, sock, address, replicas: int, gpus: float) -> None:
    from videocap.batch.on_ray import check_ray
    from videocap.caption.jobs import check_dam_available
    from videocap.serve.on_ray import RayServeOptions, check_ray_serve, serve_on_ray

    check_ray_serve()
    check_ray(address)
    check_dam_available(captioning, 1)
    port = sock.getsockname()[1]
    sock.close()  # Ray Serve's proxy listens there: the port was free a moment ago (0: a free one was picked)
    echo_err(f"videocap serve: starting Ray Serve ({replicas} replica(s)), each loading {captioning.dam}")
    serve_on_ray(settings, config, captioning, port, RayServeOptions(address, replicas, gpus),
                 lambda url: echo_err(f"videocap serve: listening on {url} (Ray Serve); Ctrl-C stops"))
    echo_err("videocap serve: stopped")
