"""Inputs for DAM from files: an image or a video, and the object's masks -> frames and masks to describe."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from videocap.errors import UserError

MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def load_inputs(media: str | Path, masks: Sequence[str | Path],
                num_frames: int = 8) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """RGB frames and their masks, ready for ``DamModel.describe``, from files.

    ``media`` is an image (with exactly one mask image) or a video. For a video, ``masks`` is either one
    mask image per frame to use (that many frames are sampled uniformly over the video, in order) or one
    folder holding a mask per video frame, sorted by name (``num_frames`` frames are then sampled uniformly
    among those whose mask is not empty). Raises UserError for files that do not fit together.
    """
    media, masks = Path(media), [Path(m) for m in masks]
    if not masks:
        raise UserError(f"{media}: give the object's mask (one image per frame, or a folder)")
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


def check_context(checkpoint, count: int, query: str | None, flag: str) -> None:
    """Refuse, before the weights load, more frames than the checkpoint's context holds (the prompt would be
    cut and the caption garbage), saying how many fit; ``checkpoint``: a ``loading.DamCheckpoint``."""
    from videocap.dam.prompt import make_query, prompt_ids

    config, tokenizer = checkpoint.config, checkpoint.tokenizer
    if not config.max_length:
        return
    per_frame = math.ceil(config.grid / 2) ** 2  # visual tokens per frame, after the projector's 2x2 merge

    def length(n: int) -> int:
        text = query if query is not None and "<image>" in query else make_query(config.prompt_style, n, query)
        return len(prompt_ids(tokenizer, text, n)) + n * (per_frame - 1)

    if length(count) <= config.max_length:
        return
    fits = max((n for n in range(1, count) if length(n) <= config.max_length), default=0)
    if fits == 0:  # the query alone is too long
        raise UserError(f"--query: the prompt is {length(count)} tokens with {count} frame(s), more than the "
                        f"{config.max_length} this checkpoint takes: shorten the query")
    raise UserError(f"{flag}: {count} frames make a prompt of {length(count)} tokens, more than the "
                    f"{config.max_length} this checkpoint takes: use at most {fits} frames")


def _uniform(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (repeats when ``n < k``), as the reference samples."""
    return np.linspace(0, n - 1, k).astype(int).tolist()


def _try_image(path: Path) -> np.ndarray | None:
    """The RGB pixels when ``path`` is a still image, else None."""
    from PIL import ImageOps, UnidentifiedImageError

    from videocap.io.files import open_image, to_rgb

    try:
        with open_image(path) as img:
            if getattr(img, "n_frames", 1) > 1:
                return None  # an animated GIF or similar: read it as a video
            return np.asarray(to_rgb(ImageOps.exif_transpose(img)))
    except (UnidentifiedImageError, OSError):
        return None


def _read_mask(path: Path) -> np.ndarray:
    from PIL import ImageOps, UnidentifiedImageError

    from videocap.io.files import open_image

    try:
        with open_image(path) as img:
            upright = ImageOps.exif_transpose(img)  # turned like its image
            # Non-zero is inside: 16/32-bit masks as they are (converting to "L" would clip them).
            return np.asarray(upright if upright.mode.startswith(("I", "F")) else upright.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"{path}: not a readable mask image ({exc})") from exc


def _open_video(path: Path):
    from videocap.io.video import import_decord

    decord = import_decord()
    decord.logging.set_level(decord.logging.QUIET)  # its decoder's own messages would break the one-line error
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0))
    except Exception as exc:  # decord raises its own error types for bad input
        raise UserError(f"{path}: neither an image nor a readable video ({exc})") from exc
