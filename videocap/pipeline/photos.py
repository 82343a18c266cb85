"""Caption runs of photos: every object of the classes in a photo, or in each photo of a folder."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from videocap import checkpoints
from videocap.caption.jobs import check_dam_available, describe, load_dam
from videocap.dam.records import DamInput
from videocap.errors import UserError
from videocap.io.photos import list_photos, output_names, read_photo
from videocap.io.staging import check_free, check_not_in_use, output_run
from videocap.outputs.registry import OUTPUT_SUFFIXES
from videocap.outputs.writing import photo_output_names, write_photo_outputs
from videocap.progress import progress_bar
from videocap.results import Caption, PhotoResult, Track
from videocap.segment.prompted import prompt_segmenter, prompted_objects
from videocap.segment.registry import segmenter_entry
from videocap.segment.tracking import make_segmenter, photo_objects
from videocap.settings import CaptionSettings, ImageSettings

OnPhotoCaption = Callable[[Path, Track], None]


def caption_images(path: str | Path, settings: ImageSettings, captioning: CaptionSettings, out_dir: str | Path,
                   segmenter=None, model=None, progress: bool = True,
                   on_caption: OnPhotoCaption | None = None) -> list[PhotoResult]:
    """Caption every object of the classes in a photo or a folder of photos; writes and returns each photo's
    result (``<photo>.json`` and ``<photo>.captioned.jpg|png`` in ``out_dir``, put in place together when
    every photo is done)."""
    photos = list_photos(path)
    if len(photos) == 1:
        read_photo(photos[0])  # a bad single photo fails before any model loads
    check_not_in_use(out_dir)
    names = output_names(photos)
    check_free(out_dir, [name for photo in photos for name in photo_output_names(photo, names[photo]).values()])
    checkpoint = check_dam_available(captioning, 1, "--query", settings) if model is None else None
    with output_run(out_dir, OUTPUT_SUFFIXES) as staging:
        segmenter = segmenter or (make_segmenter(settings) if settings.classes else None)
        prompting = prompt_segmenter(settings) if settings.prompts else None
        records = {"segmentation": segmenter_entry(settings.segmenter).model_record(settings.segmenter_model),
                   "captioning": checkpoints.model_record(captioning.dam, checkpoint.root) if checkpoint
                   else checkpoints.provenance(captioning.dam)}
        results, written = [], []
        with progress_bar(len(photos), "photos", "photo", progress and len(photos) > 1) as bar:
            for photo in photos:
                bar.update(1)
                try:
                    image = read_photo(photo)
                except UserError as exc:
                    if len(photos) == 1:
                        raise
                    bar.write(f"videocap: skipped {exc}")
                    continue
                result, model = _photo_result(photo, image, (segmenter, prompting), model, checkpoint, settings,
                                              captioning, on_caption)
                result.run_id, result.model_records = staging.run_id, records
                written += write_photo_outputs(result, image, staging.folder, names[photo])
                results.append(result)
        staging.commit(written)
    return results


def _photo_result(photo: Path, image, segmenters, model, checkpoint, settings: ImageSettings,
                  captioning: CaptionSettings, on_caption: OnPhotoCaption | None) -> tuple[PhotoResult, object]:
    """One photo's objects captioned, and the DAM model (loaded from ``checkpoint`` at the first photo with
    objects). ``segmenters``: the one for the classes and the one for the region prompts (each may be None)."""
    started = time.perf_counter()
    by_class, by_prompt = segmenters
    objects = photo_objects(by_class(image)) if by_class is not None else []
    if by_prompt is not None:
        objects += prompted_objects(by_prompt, image, settings.prompts, first_id=len(objects) + 1)
    segmented = time.perf_counter()
    if objects and model is None:
        model = load_dam(captioning, checkpoint=checkpoint)
    loaded = time.perf_counter()
    _caption_photo(model, image, objects, captioning, lambda obj: on_caption and on_caption(photo, obj))
    result = PhotoResult(photo, int(image.shape[1]), int(image.shape[0]), hashlib.sha256(photo.read_bytes()).hexdigest(),
                         settings, captioning, objects, getattr(model, "prompt_style", None))
    result.timing = {"segmentation_seconds": round(segmented - started, 3),
                     "dam_load_seconds": round(loaded - segmented, 3),
                     "caption_seconds": round(time.perf_counter() - loaded, 3)}
    result.timing["total_seconds"] = round(time.perf_counter() - started, 3)
    return result, model


def _caption_photo(model, image, objects: list[Track], settings: CaptionSettings,
                   on_caption: Callable[[Track], object]) -> None:
    """DAM's single-image captions of a photo's objects, ``batch_size`` at a time."""
    for start in range(0, len(objects), settings.batch_size):
        group = objects[start:start + settings.batch_size]
        seed = None if settings.seed is None else settings.seed + start
        texts = describe(model, [DamInput([image], [obj.first.mask.to_mask()], settings.query) for obj in group],
                         settings, seed)
        for obj, text in zip(group, texts):
            obj.captions = [Caption(0.0, 0.0, 0, 0, [0], text)]
            on_caption(obj)
