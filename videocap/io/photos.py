"""Photos in: the photos a path names, their pixels as a viewer shows them, and a file name per photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import ImageOps, UnidentifiedImageError

from videocap.errors import UserError
from videocap.io.files import open_image, safe_name, to_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


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
    """8-bit RGB pixels as a viewer shows the photo: turned upright by its EXIF orientation, 16-bit scaled,
    transparency on white (``videocap.io.files.to_rgb``)."""
    try:
        with open_image(path) as img:
            return np.asarray(to_rgb(ImageOps.exif_transpose(img)))
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
