"""Step 1 of DLC-Bench: caption every region with a DAM, as NVIDIA's ``get_model_outputs.py`` does (the
image query, temperature 0.2, top-p 1, 512 new tokens, seed 123), in batches, saved after each batch in the
evaluator's cache format (region key -> caption, plus the ``"query"``) so that a rerun captions only what
is missing. ``annotations.json`` is COCO-format (an Objects365 subset); images are under ``images/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videocap.errors import UserError
from videocap.evaluate.dlc_bench import read_json_file
from videocap.io.files import atomic_write_text
from videocap.progress import progress_bar

QUERY = "<image>\nDescribe the masked region in detail."
TEMPERATURE = 0.2
TOP_P = 1.0  # the benchmark script passes top_p=None: no nucleus cut
MAX_NEW_TOKENS = 512
SEED = 123


@dataclass(frozen=True)
class Region:
    key: str
    image: Path
    annotation: dict
    height: int
    width: int


def read_regions(data: Path, keys: list[str]) -> list[Region]:
    """The regions of ``keys`` in the benchmark's order (image by image, annotations in file order)."""
    coco = read_json_file(data / "annotations.json", "DLC-Bench's COCO-format masks: give the DLC-Bench folder")
    try:
        images = {image["id"]: image for image in coco["images"]}
        by_image: dict[int, list[dict]] = {}
        for ann in coco["annotations"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
    except (KeyError, TypeError) as exc:
        raise UserError(f"{data / 'annotations.json'}: not a COCO annotations file (no {exc})") from exc
    wanted = set(keys)
    regions = [Region(str(ann["id"]), data / "images" / image["file_name"], ann, image["height"], image["width"])
               for image_id, image in images.items() for ann in by_image.get(image_id, [])
               if str(ann["id"]) in wanted]
    missing = wanted - {region.key for region in regions}
    if missing:
        raise UserError(f"{data / 'annotations.json'}: no mask for {len(missing)} regions of qa.json "
                        f"(first: {min(missing)})")
    return regions


def region_mask(region: Region) -> np.ndarray:
    """The region's mask as 0/255 uint8, from polygons or RLE (as pycocotools' ``annToMask``)."""
    try:
        from pycocotools import mask as coco_mask
    except ImportError as exc:
        raise UserError("reading DLC-Bench's masks needs pycocotools: pip install 'videocap[eval]'") from exc
    segmentation = region.annotation["segmentation"]
    if isinstance(segmentation, list):  # polygons
        rle = coco_mask.merge(coco_mask.frPyObjects(segmentation, region.height, region.width))
    elif isinstance(segmentation["counts"], list):  # uncompressed RLE
        rle = coco_mask.frPyObjects(segmentation, region.height, region.width)
    else:
        rle = segmentation
    return coco_mask.decode(rle).astype(np.uint8) * 255


def _require_image(region: Region) -> None:
    if not region.image.is_file():
        raise UserError(f"{region.image}: no such image (DLC-Bench's images are under images/)")


def region_image(region: Region):
    from PIL import Image

    with Image.open(region.image) as image:
        return image.convert("RGB")


def read_cached_captions(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    cached = read_json_file(path, "cached captions")
    if not isinstance(cached, dict):
        raise UserError(f"{path}: not a captions cache (region key -> caption): delete it to caption again")
    return {key: value for key, value in cached.items() if key != "query" and isinstance(value, str)}


def save_captions(path: Path, captions: dict[str, str]) -> None:
    atomic_write_text(path, json.dumps({**captions, "query": QUERY}, indent=4))


def caption_regions(data: Path, keys: list[str], dam: str, path: Path, batch_size: int = 8,
                    device: str | None = None) -> None:
    """Caption the regions not yet in ``path``; the DAM is loaded only when there is one to caption."""
    captions = read_cached_captions(path)
    order = {key: n for n, key in enumerate(keys)}  # a region's seed follows its place: resumes sample alike
    todo = [region for region in read_regions(data, keys) if region.key not in captions]
    if not todo:
        return
    for region in todo:  # before the DAM is loaded: a missing image is reported at once
        _require_image(region)
    from videocap.dam import DamModel
    from videocap.dam.records import DamInput

    model = DamModel.from_pretrained(dam, device=device)
    with progress_bar(len(todo), "captioning", "region") as bar:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            items = [DamInput([region_image(r)], [region_mask(r)], QUERY) for r in batch]
            texts = model.describe_batch(items, max_new_tokens=MAX_NEW_TOKENS, temperature=TEMPERATURE, top_p=TOP_P,
                                         seed=[SEED + order[r.key] for r in batch], batch_size=batch_size)
            captions |= {region.key: text for region, text in zip(batch, texts, strict=True)}
            save_captions(path, captions)
            bar.update(len(batch))
