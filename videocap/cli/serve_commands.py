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
def serve(config_path: Path | None, demo: bool, dam: str | None, device: str | None, **options) -> None:
    """Serve DAM over HTTP: OpenAI's chat completions (frames as RGBA PNG data URLs, the alpha channel the
    region; streamed or not; requests batched together) and jobs that caption whole videos."""
    from videocap.serve.run import ServeSettings, bind, build_server
    from videocap.serve.run import serve as run_server

    settings = ServeSettings(**options)
    settings.check()
    config = load_config(config_path, demo)
    captioning = CaptionSettings.from_config(config, dam=dam, device=device or config.get("device"))
    sock = bind(settings)  # before the model loads: a port in use is said at once
    echo_err(f"videocap serve: loading {captioning.dam}")
    server = build_server(settings, config, captioning)
    run_server(settings, server, sock, lambda url: echo_err(f"videocap serve: listening on {url} (model "
                                                            f"{server.model_name}); Ctrl-C stops"))
    echo_err("videocap serve: stopped")
