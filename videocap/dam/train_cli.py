"""``videocap train-dam``: train or fine-tune a DAM checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from videocap.errors import UserError

SHAPES_PREFIX = "shapes:"
STILLS_PREFIX = "shapes-stills:"
SHAPES_SEED_BASE = 2_000_000  # training clips; evaluations use seeds below 1_000_000
STILLS_SEED_BASE = 2_500_000


def load_examples(data: str, processes: int):
    from videocap.dam.shapes_data import shape_examples
    from videocap.dam.train import read_jsonl

    for prefix, base, frames in ((SHAPES_PREFIX, SHAPES_SEED_BASE, 8), (STILLS_PREFIX, STILLS_SEED_BASE, 1)):
        if data.startswith(prefix):
            count = data[len(prefix):]
            if not count.isdigit() or int(count) < 1:
                raise UserError(f"--data {data}: use {prefix}N with N generated clips, e.g. {prefix}3000")
            return shape_examples(range(base, base + int(count)), processes=processes, num_frames=frames)
    path = Path(data)
    if not path.is_file():
        raise UserError(f"--data {data}: no such file (give a .jsonl of frames, masks and captions, or shapes:N)")
    return read_jsonl(path)


def cached_encoding(model, examples, data: str, folder: Path):
    """Preprocessed items, kept in the state folder so that a restart or resume skips the preprocessing."""
    import hashlib

    import torch

    from videocap.dam.train import EncodedSet, encode_examples

    key = hashlib.sha256(repr((data, model.config.preprocess, model.tokenizer.model_proto,
                               [e.caption for e in examples])).encode()).hexdigest()[:16]
    path = folder / f"data-{key}.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        return EncodedSet(saved["pixels"], saved["prompt"], saved["caption"], saved["attributes"])
    encoded = encode_examples(model, examples)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    torch.save({"pixels": encoded.pixels, "prompt": encoded.prompt, "caption": encoded.caption,
                "attributes": [_plain(a) for a in encoded.attributes]}, tmp)
    tmp.replace(path)
    return encoded


def _plain(attributes: dict | None) -> dict | None:
    """Attributes as types torch.load(weights_only=True) accepts (lists, not tuples)."""
    return None if attributes is None else {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}


@click.command("train-dam", epilog="""\b
Examples:
  # the bundled demo captioner (samples/models/shapes-dam), on the CPU:
  videocap train-dam --data shapes:2000 --init configs/demo-dam.yaml --out runs/shapes-dam \\
      --steps 4000 --aux-weight 0.5 --threads 1
  videocap train-dam --data shapes:2000 --data shapes-stills:1500 --init runs/shapes-dam \\
      --out samples/models/shapes-dam --steps 600 --lr 3e-4 --vision-lr 5e-4 --threads 2
  # fine-tune DAM-3B-Video on your own items (one JSON per line: frames, masks, caption), LLM frozen:
  videocap train-dam --data items.jsonl --init nvidia/DAM-3B-Video --out dam-tuned --freeze llm --device cuda
""")
@click.option("--data", "datasets", required=True, multiple=True,
              help="A .jsonl of {frames, masks, caption} items; shapes:N for N generated shape clips (8 frames); "
                   "shapes-stills:N for still frames of N clips. Repeat to mix sets: they take turns, a batch each.")
@click.option("--init", "init", required=True, help="A DAM checkpoint (folder or hub id) to fine-tune, or an "
                                                    "architecture file (.yaml) for a new model.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
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
def train_dam(datasets: tuple[str, ...], init: str, out: Path, steps: int, batch_size: int, grad_accum: int, lr: float,
              vision_lr: float, freeze: tuple[str, ...], aux_weight: float, save_every: int, resume: bool,
              threads: int | None, device: str | None, seed: int, processes: int) -> None:
    """Train or fine-tune DAM on (frames, masks, caption) items; saves in the official checkpoint layout."""
    from videocap.dam.outdir import check_train_inputs

    for data in datasets:
        if not data.startswith((SHAPES_PREFIX, STILLS_PREFIX)) and not Path(data).is_file():
            raise UserError(f"--data {data}: no such file (give a .jsonl of frames, masks and captions, or shapes:N)")
    check_train_inputs(init, out, resume)
    import torch

    from videocap.dam.shapes_data import MOTIONS
    from videocap.dam.train import AuxHeads, TrainSettings, load_init, state_dir, train
    from videocap.synthetic import COLOURS, SHAPES

    if threads:
        torch.set_num_threads(threads)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    click.echo(f"preparing data {', '.join(datasets)} ...", err=True)
    examples = {data: load_examples(data, processes) for data in datasets}
    if resume and (state_dir(out) / "training_state.pt").is_file():
        model, proto = load_init(str(out), [], device)
    else:
        model, proto = load_init(init, [ex.caption for items in examples.values() for ex in items], device)
    encoded = [cached_encoding(model, items, data, state_dir(out)) for data, items in examples.items()]
    del examples
    heads = None
    if aux_weight > 0:
        video_sets = [e for e in encoded if e.pixels.shape[1] > 1]
        if not video_sets or any(a is None for e in video_sets for a in e.attributes):
            raise UserError("--aux-weight needs attribute labels, which only shapes:N data has")
        heads = AuxHeads(model.config.llm.hidden_size,
                         video_sets[0].pixels.shape[1], len(COLOURS), len(SHAPES), len(MOTIONS)).to(model.device)
    params = sum(p.numel() for p in model.parameters())
    click.echo(f"{sum(len(e) for e in encoded)} items, {params / 1e6:.2f} M parameters, training on {device}",
               err=True)
    settings = TrainSettings(steps=steps, batch_size=batch_size, grad_accum=grad_accum, lr=lr, vision_lr=vision_lr,
                             freeze=freeze, aux_weight=aux_weight, save_every=save_every, seed=seed, threads=threads)
    train(model, proto, encoded, out, settings, heads, resume=resume)
    click.echo(f"wrote {out}", err=True)
