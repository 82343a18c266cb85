"""``videocap describe``: caption one masked object in an image or a video with DAM.

torch and transformers are imported inside the command, so that ``videocap --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from videocap.errors import UserError

EXAMPLES = """\b
Examples:
  videocap describe photo.jpg --mask dog.png --dam nvidia/DAM-3B
  videocap describe clip.mp4 --mask m0.png --mask m1.png --mask m2.png --mask m3.png \\
      --mask m4.png --mask m5.png --mask m6.png --mask m7.png --dam ~/models/DAM-3B-Video --stream
  videocap describe clip.mp4 --mask masks/ --frames 8 --dam ~/models/DAM-3B-Video --temperature 0
  videocap describe photo.jpg --mask dog.png --dam nvidia/DAM-3B --query "What is the dog doing?"
"""


@click.command(epilog=EXAMPLES)
@click.argument("media", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mask", "masks", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Mask image (non-zero pixels are the object), one per sampled frame and repeatable; "
                   "or a folder holding one mask per video frame (sorted by name).")
@click.option("--dam", "dam", required=True, metavar="PATH_OR_ID",
              help="DAM checkpoint: a folder in the official layout or a hub id in the Hugging Face cache "
                   "(nvidia/DAM-3B, nvidia/DAM-3B-Video).")
@click.option("--query", default=None,
              help="Question about the object, or a full query with one <image> per frame. "
                   "Default: the checkpoint's own query.")
@click.option("--frames", "num_frames", default=8, show_default=True, type=click.IntRange(1),
              help="Frames to sample when --mask is a folder (among frames whose mask is not empty).")
@click.option("--temperature", default=0.2, show_default=True, type=click.FloatRange(0), help="0 = greedy.")
@click.option("--top-p", default=0.5, show_default=True, type=click.FloatRange(0, 1))
@click.option("--max-new-tokens", default=512, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=None, type=int, help="Makes sampling repeatable.")
@click.option("--stream", is_flag=True, help="Print the description as it is generated.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1... Default: CUDA when available.")
@click.option("--dtype", default="auto", show_default=True,
              type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
              help="auto = bfloat16 on GPU, float32 on CPU.")
@click.option("--prompt-style", default="auto", show_default=True,
              type=click.Choice(["auto", "dam-3b", "dam-3b-video"]),
              help="Default queries of DAM-3B (image only) or DAM-3B-Video; auto = from the checkpoint's name.")
def describe(media: Path, masks: tuple[Path, ...], dam: str, query: str | None, num_frames: int, temperature: float,
             top_p: float, max_new_tokens: int, seed: int | None, stream: bool, device: str | None, dtype: str,
             prompt_style: str) -> None:
    """Describe the masked object in MEDIA (an image, or a video) in detail with DAM.

    An image takes one --mask. For a video, give one --mask per frame to use: that many frames are
    sampled uniformly over the video, in order. Or give a folder with one mask per video frame:
    --frames frames are then sampled uniformly among those whose mask is not empty.
    """
    import torch

    from videocap.dam import DamModel
    from videocap.dam.inputs import load_inputs

    frames, frame_masks = load_inputs(media, masks, num_frames)
    model = DamModel.from_pretrained(dam, device=device, dtype=None if dtype == "auto" else getattr(torch, dtype),
                                     prompt_style=None if prompt_style == "auto" else prompt_style)
    try:
        if query is not None and "<image>" not in query:
            query = model.default_query(len(frames), query)
        options = {"max_new_tokens": max_new_tokens, "temperature": temperature, "top_p": top_p, "seed": seed}
        if stream:
            for piece in model.stream(frames, frame_masks, query, **options):
                click.echo(piece, nl=False)
            click.echo()
        else:
            click.echo(model.describe(frames, frame_masks, query, **options))
    except ValueError as exc:  # bad masks or query: the user's to fix
        raise UserError(str(exc)) from exc
