"""``videocap image``: every object of a class in a photo, segmented by YOLO and captioned by DAM.

For each photo, YOLO-seg finds the masks of the chosen classes, DAM describes each masked object
with its single-image query (all objects of a photo in one batch), and two files are written:
``<photo>.json`` (objects with class, score, box, mask as COCO RLE and caption) and
``<photo>.captioned.<jpg|png>`` (masks, boxes, labels and captions drawn on the photo).
"""

from __future__ import annotations

import hashlib
import io
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from videocap import __version__
from videocap.captioning import CaptionSettings, check_dam_available, load_dam, track_colour, track_label
from videocap.errors import UserError
from videocap.io import atomic_write_bytes, ensure_writable_dir, open_image, write_json
from videocap.layout import TextStyle
from videocap.masks import BoxMask
from videocap.outputs import safe_name
from videocap.render import DrawObject, Overlay
from videocap.tracking import DEFAULT_MODEL, class_ids_for, load_yolo

IMAGES_SCHEMA = "videocap.image-captions/1"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageSettings:
    classes: tuple[str, ...]
    model: str = DEFAULT_MODEL
    conf: float = 0.25  # no tracker here: the usual detection threshold
    imgsz: int | None = None
    device: str | None = None


@dataclass
class PhotoObject:
    id: int
    class_name: str
    score: float
    box: tuple[float, float, float, float]
    mask: BoxMask
    caption: str = ""

    def to_json(self) -> dict:
        return {"id": self.id, "class": self.class_name, "label": track_label(self.class_name, self.id),
                "colour": "#%02x%02x%02x" % track_colour(self.id), "score": round(self.score, 4),
                "box": [round(v, 2) for v in self.box], "caption": self.caption, "mask": self.mask.to_rle()}


def list_photos(path: str | Path) -> list[Path]:
    """The photo, or the photos of a folder (not its subfolders), sorted by name."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.is_dir():
        photos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise UserError(f"{path}: no photos in this folder ({', '.join(IMAGE_SUFFIXES)})")
        return photos
    return [path]


def read_photo(path: Path) -> np.ndarray:
    """RGB pixels, turned upright by its EXIF orientation."""
    try:
        with open_image(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable image ({type(exc).__name__}); for videos use `videocap caption`") from exc


def output_names(photos: list[Path]) -> dict[Path, str]:
    """A file-name base per photo; photos sharing a name stem (a.jpg, a.png) keep their suffix too."""
    stems: dict[str, int] = {}
    for p in photos:
        stems[safe_name(p.stem, "photo")] = stems.get(safe_name(p.stem, "photo"), 0) + 1
    names = {}
    for p in photos:
        stem = safe_name(p.stem, "photo")
        names[p] = stem if stems[stem] == 1 else f"{stem}-{p.suffix.lstrip('.').lower()}"
    return names


class PhotoSegmenter:
    """YOLO-seg on single photos (no tracking)."""

    def __init__(self, settings: ImageSettings, yolo=None) -> None:
        self.settings = settings
        self.yolo = yolo if yolo is not None else load_yolo(settings.model)
        self.names = dict(self.yolo.names)
        self.class_ids = class_ids_for(self.names, settings.classes)
        self.imgsz = settings.imgsz or int(self.yolo.overrides.get("imgsz") or 640)

    def __call__(self, image: np.ndarray) -> list[PhotoObject]:
        s = self.settings
        result = self.yolo.predict(image[..., ::-1], classes=self.class_ids, conf=s.conf, imgsz=self.imgsz,
                                   device=s.device, retina_masks=True, verbose=False)[0]
        if result.boxes is None or result.masks is None or len(result.boxes) == 0:
            return []
        masks = result.masks.data.cpu().numpy() > 0.5
        boxes = result.boxes.xyxy.cpu().numpy()
        scores = result.boxes.conf.cpu().numpy()
        classes = result.boxes.cls.cpu().numpy().astype(int)
        order = np.argsort(-scores, kind="stable")
        objects = []
        for rank, i in enumerate(order, 1):
            mask = BoxMask.from_mask(masks[i])
            if mask.area == 0:
                continue
            objects.append(PhotoObject(rank, self.names[int(classes[i])], float(scores[i]),
                                       tuple(float(v) for v in boxes[i]), mask))
        for n, obj in enumerate(objects, 1):
            obj.id = n
        return objects


def annotate(image: np.ndarray, objects: list[PhotoObject]) -> np.ndarray:
    """The photo with every object's mask, box, label and whole caption."""
    height, width = image.shape[:2]
    style = TextStyle.for_frame(width, height)
    overlay = Overlay((width, height), style)
    draw = []
    for obj in objects:
        pages = style.pages(obj.caption, max_lines=10_000)
        draw.append(DrawObject(obj.id, track_label(obj.class_name, obj.id), track_colour(obj.id), obj.box, obj.mask,
                               pages[0] if pages else [], 0))
    return overlay.draw(image, draw)


def _encode(image: np.ndarray, jpeg: bool) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG" if jpeg else "PNG", **({"quality": 92} if jpeg else {}))
    return buffer.getvalue()


def caption_images(path: str | Path, settings: ImageSettings, captioning: CaptionSettings, out_dir: str | Path,
                   yolo=None, model=None, progress: bool = True,
                   on_caption: Callable[[Path, PhotoObject], None] | None = None) -> list[dict]:
    """Caption every object of the classes in a photo or a folder of photos; returns each photo's JSON."""
    photos = list_photos(path)
    out = ensure_writable_dir(out_dir)
    if len(photos) == 1:
        read_photo(photos[0])  # a bad single photo fails before any model loads
    if model is None:
        check_dam_available(captioning.dam)
    segmenter = PhotoSegmenter(settings, yolo)
    names = output_names(photos)
    results = []
    bar = tqdm(photos, unit="photo", desc="photos", file=sys.stderr, disable=not progress or len(photos) < 2,
               dynamic_ncols=True)
    for photo in bar:
        started = time.perf_counter()
        try:
            image = read_photo(photo)
        except UserError as exc:
            if len(photos) == 1:
                raise
            tqdm.write(f"videocap: skipped {exc}", file=sys.stderr)
            continue
        objects = segmenter(image)
        detected = time.perf_counter()
        if objects and model is None:
            model = load_dam(captioning)
        loaded = time.perf_counter()
        for start in range(0, len(objects), captioning.batch_size):
            group = objects[start:start + captioning.batch_size]
            items = [([image], [obj.mask.to_mask()],
                      None if captioning.query is None else model.default_query(1, captioning.query)) for obj in group]
            seed = None if captioning.seed is None else captioning.seed + start
            texts = model.describe_batch(items, max_new_tokens=captioning.max_new_tokens,
                                         temperature=captioning.temperature, top_p=captioning.top_p, seed=seed,
                                         batch_size=len(items))
            for obj, text in zip(group, texts):
                obj.caption = text
                if on_caption is not None:
                    on_caption(photo, obj)
        captioned = time.perf_counter()
        jpeg = photo.suffix.lower() in (".jpg", ".jpeg")
        picture = f"{names[photo]}.captioned.{'jpg' if jpeg else 'png'}"
        data = {
            "schema": IMAGES_SCHEMA, "videocap_version": __version__,
            "image": {"path": str(photo), "width": int(image.shape[1]), "height": int(image.shape[0]),
                      "sha256": hashlib.sha256(photo.read_bytes()).hexdigest()},
            "models": {"segmentation": settings.model, "captioning": captioning.dam,
                       "prompt_style": getattr(model, "prompt_style", None)},
            "settings": {**asdict(settings), "classes": list(settings.classes)},
            "captioning": asdict(captioning),
            "outputs": {"json": f"{names[photo]}.json", "image": picture},
            "objects": [obj.to_json() for obj in objects],
        }
        atomic_write_bytes(out / picture, _encode(annotate(image, objects), jpeg))
        data["timing"] = {"segment_seconds": round(detected - started, 3), "dam_load_seconds": round(loaded - detected, 3),
                          "caption_seconds": round(captioned - loaded, 3),
                          "total_seconds": round(time.perf_counter() - started, 3)}
        write_json(out / data["outputs"]["json"], data)
        results.append(data)
    return results
