"""``train-dam``: train or fine-tune a DAM checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.cli.group import cli
from videocap.cli.options import (
    echo_err,
    out_callback,
)

TRAIN_EXAMPLES = """\b
Examples:
  # the bundled demo captioner (videocap/data/models/shapes-dam), on the CPU:
  videocap train-dam --data shapes:2000 --init videocap/data/configs/demo-dam.yaml --out runs/shapes-dam \\
      --steps 4000 --aux-weight 0.5 --threads 1
  videocap train-dam --data shapes:2000 --data shapes-stills:1500 --init runs/shapes-dam \\
      --out runs/shapes-dam-final --steps 600 --lr 3e-4 --vision-lr 5e-4 --threads 2
  # fine-tune DAM-3B-Video on your own items (one JSON per line: frames, masks, caption), LLM frozen:
  videocap train-dam --data items.jsonl --init nvidia/DAM-3B-Video --out dam-tuned --freeze llm --device cuda
"""


@cli.command("train-dam", epilog=TRAIN_EXAMPLES)
@click.option("--data", "datasets", required=True, multiple=True,
              help="A .jsonl of {frames, masks, caption} items; shapes:N for N generated shape clips (8 frames); "
                   "shapes-stills:N for still frames of N clips. Repeat to mix sets: they take turns, a batch each.")
@click.option("--init", "init", required=True, help="A DAM checkpoint (folder or hub id) to fine-tune, or an "
                                                    "architecture file (.yaml) for a new model.")
@click.option("--out", type=click.Path(), callback=out_callback, required=True,
              help="Model folder (official DAM layout); training state goes to OUT.state/.")
@click.option("--steps", type=click.IntRange(min=1), default=3000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True,
              help="Learning rate of the LLM.")
@click.option("--vision-lr", type=click.FloatRange(min=0, min_open=True), default=2e-3, show_default=True,
              help="Learning rate of the tower, context provider and projector.")
@click.option("--freeze", type=click.Choice(["vision", "llm"]), multiple=True, help="Keep a part fixed.")
@click.option("--aux-weight", type=float, default=0.0, show_default=True,
              help="Weight of the auxiliary attribute losses (shapes data only).")
@click.option("--save-every", type=click.IntRange(min=1), default=250, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from OUT and OUT.state/.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch CPU threads.")
@click.option("--device", default=None, help="cpu, cuda, ... [default: CUDA when present].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--processes", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes generating shapes data.")
def train_dam(datasets: tuple[str, ...], init: str, out: Path, resume: bool, device: str | None, processes: int,
              **training) -> None:
    """Train or fine-tune DAM on (frames, masks, caption) items; saves in the official checkpoint layout."""
    from videocap.dam.outdir import check_train_inputs

    check_train_inputs(datasets, init, out, resume)  # before torch is imported or any data prepared
    from videocap.dam.train import TrainSettings
    from videocap.dam.train import train_dam as run

    settings = TrainSettings(**{**training, "freeze": tuple(training["freeze"])})
    run(datasets, init, out, settings, device=device, processes=processes, resume=resume, echo=echo_err)
    echo_err(f"wrote {out}")
