"""DAM on one masked region of an image or a video (``videocap describe``): no tracking, no output folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from videocap.caption.jobs import load_dam
from videocap.errors import UserError
from videocap.io.photos import IMAGE_SUFFIXES, read_photo
from videocap.prompts import RegionPrompt, check_prompt
from videocap.segment.prompted import prompt_segmenter, prompted_objects
from videocap.settings import CaptionSettings, ImageSettings


def describe_region(media: str | Path, masks: list[Path], settings: CaptionSettings, num_frames: int = 8,
                    prompt_style: str | None = None, stream: bool = False, prompt: RegionPrompt | None = None,
                    segmenting: ImageSettings | None = None) -> Iterator[str]:
    """DAM's description of one masked object in an image or a video (``videocap describe``), in pieces as
    it is generated when ``stream``, else in one piece. ``settings.query`` may be a question or a full query
    with one ``<image>`` per frame. ``prompt`` (a point or a box on a photo, instead of ``masks``) is turned
    into the object's mask by the segmenter of ``segmenting``."""
    from videocap.dam import loading
    from videocap.dam.inputs import check_context, load_inputs
    from videocap.dam.preprocess import check_inputs

    folder = len(masks) == 1 and Path(masks[0]).is_dir()
    checkpoint = loading.open_checkpoint(settings.dam, prompt_style)
    check_context(checkpoint, 1 if prompt else num_frames if folder else len(masks), settings.query,
                  "--frames" if folder else "--mask")
    if prompt is not None:
        frames, frame_masks = _prompted_photo(Path(media), prompt, segmenting)
    else:
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


def _prompted_photo(photo: Path, prompt: RegionPrompt, segmenting: ImageSettings):
    """([the photo], [the mask of the object the prompt selects]) for describe."""
    if photo.suffix.lower() not in IMAGE_SUFFIXES:
        raise UserError(f"{photo}: --point and --box on describe take a photo; for a video, `videocap caption "
                        f"{photo} --point X,Y@TIME` follows the object through the clip and captions it")
    image = read_photo(photo)
    check_prompt(prompt, image.shape[1], image.shape[0])
    (found,) = prompted_objects(prompt_segmenter(segmenting), image, [prompt])
    return [image], [found.first.mask.to_mask()]
