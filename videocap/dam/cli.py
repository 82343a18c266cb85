"""``videocap describe``: caption one masked object in an image or a video with DAM.

torch and transformers are imported inside the command, so that ``videocap --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from videocap.errors import UserError

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")

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
    from videocap.dam.preprocess import check_inputs

    style = None if prompt_style == "auto" else prompt_style
    folder = len(masks) == 1 and masks[0].is_dir()
    _check_context(dam, style, num_frames if folder else len(masks), query, "--frames" if folder else "--mask")
    frames, frame_masks = _load_inputs(media, masks, num_frames)
    try:
        check_inputs(frames, frame_masks)  # sizes and empty masks: before the weights load
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    model = DamModel.from_pretrained(dam, device=device, dtype=None if dtype == "auto" else getattr(torch, dtype),
                                     prompt_style=style)
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


def _check_context(dam: str, prompt_style: str | None, count: int, query: str | None, flag: str) -> None:
    """Refuse, before the weights load, more frames than the checkpoint's context holds (the prompt would be
    cut and the caption garbage), saying how many fit."""
    import math

    from videocap.dam import loading
    from videocap.dam.prompt import make_query, prompt_ids

    root, name = loading.resolve(dam)
    config = loading.read_config(root, name, prompt_style)
    if not config.max_length:
        return
    tokenizer = loading.read_tokenizer(root)
    per_frame = math.ceil(config.grid / 2) ** 2  # visual tokens per frame, after the projector's 2x2 merge

    def length(n: int) -> int:
        text = query if query is not None and "<image>" in query else make_query(config.prompt_style, n, query)
        return len(prompt_ids(tokenizer, text, n)) + n * (per_frame - 1)

    if count <= 1 or length(count) <= config.max_length:
        return
    fits = max((n for n in range(1, count) if length(n) <= config.max_length), default=0)
    raise UserError(f"{flag}: {count} frames make a prompt of {length(count)} tokens, more than the "
                    f"{config.max_length} this checkpoint takes: use at most {fits} frames")


def _load_inputs(media: Path, masks: tuple[Path, ...], num_frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """RGB frames and their masks from the command line's files."""
    image = _try_image(media)
    if image is not None:
        if len(masks) != 1 or masks[0].is_dir():
            raise UserError(f"{media} is an image: give exactly one --mask image file")
        return [image], [_read_mask(masks[0])]
    video = _open_video(media)
    if len(masks) == 1 and masks[0].is_dir():
        files = sorted(p for p in masks[0].iterdir() if p.suffix.lower() in MASK_SUFFIXES)
        if len(files) != len(video):
            raise UserError(f"{masks[0]} holds {len(files)} mask images but {media} has {len(video)} frames: "
                            "a mask folder needs one mask per video frame")
        all_masks = [_read_mask(p) for p in files]
        nonempty = [i for i, m in enumerate(all_masks) if m.any()]
        if not nonempty:
            raise UserError(f"every mask in {masks[0]} is empty")
        indices = [nonempty[i] for i in _uniform(len(nonempty), num_frames)]
        frame_masks = [all_masks[i] for i in indices]
    elif any(p.is_dir() for p in masks):
        raise UserError("give either one mask folder or mask image files, not both")
    else:
        indices = _uniform(len(video), len(masks))
        frame_masks = [_read_mask(p) for p in masks]
    try:
        return list(video.get_batch(indices).asnumpy()), frame_masks
    except Exception as exc:  # decord's own error types: a truncated or damaged file
        raise UserError(f"{media}: cannot decode its frames {indices[0]}-{indices[-1]} of {len(video)} "
                        "(the file is truncated or damaged)") from exc


def _uniform(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (repeats when ``n < k``), as the reference samples."""
    return np.linspace(0, n - 1, k).astype(int).tolist()


def _try_image(path: Path) -> np.ndarray | None:
    """The RGB pixels when ``path`` is a still image, else None."""
    from PIL import UnidentifiedImageError

    from videocap.files import open_image

    try:
        with open_image(path) as img:
            if getattr(img, "n_frames", 1) > 1:
                return None  # an animated GIF or similar: read it as a video
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError):
        return None


def _read_mask(path: Path) -> np.ndarray:
    from PIL import UnidentifiedImageError

    from videocap.files import open_image

    try:
        with open_image(path) as img:
            return np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not a readable mask image ({exc})") from exc


def _open_video(path: Path):
    from videocap.video import import_decord

    decord = import_decord()
    decord.logging.set_level(decord.logging.QUIET)  # its decoder's own messages would break the one-line error
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0))
    except Exception as exc:  # decord raises its own error types for bad input
        raise UserError(f"{path}: neither an image nor a readable video ({exc})") from exc
