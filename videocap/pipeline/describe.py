"""DAM on one masked region of an image or a video (``videocap describe``): no tracking, no output folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from videocap.caption.jobs import load_dam
from videocap.errors import UserError
from videocap.settings import CaptionSettings


def describe_region(media: str | Path, masks: list[Path], settings: CaptionSettings, num_frames: int = 8,
                    prompt_style: str | None = None, stream: bool = False) -> Iterator[str]:
    """DAM's description of one masked object in an image or a video (``videocap describe``), in pieces as
    it is generated when ``stream``, else in one piece. ``settings.query`` may be a question or a full query
    with one ``<image>`` per frame."""
    from videocap.dam import loading
    from videocap.dam.inputs import check_context, load_inputs
    from videocap.dam.preprocess import check_inputs

    folder = len(masks) == 1 and Path(masks[0]).is_dir()
    checkpoint = loading.open_checkpoint(settings.dam, prompt_style)
    check_context(checkpoint, num_frames if folder else len(masks), settings.query, "--frames" if folder else "--mask")
    frames, frame_masks = load_inputs(Path(media), tuple(Path(m) for m in masks), num_frames)
    try:
        check_inputs(frames, frame_masks)  # sizes and empty masks: before the weights load
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    model = load_dam(settings, prompt_style, checkpoint)
    query = settings.query
    if query is not None and "<image>" not in query:
        query = model.default_query(len(frames), query)
    options = {"max_new_tokens": settings.max_new_tokens, "temperature": settings.temperature,
               "top_p": settings.top_p, "seed": settings.seed}
    try:
        if stream:
            yield from model.stream(frames, frame_masks, query, **options)
        else:
            yield model.describe(frames, frame_masks, query, **options)
    except ValueError as exc:  # bad masks or query: the user's to fix
        raise UserError(str(exc)) from exc
