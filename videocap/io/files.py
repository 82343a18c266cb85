"""Atomic file output: a file appears under its final name only once it is complete; JSON written as a stream."""

from __future__ import annotations

import errno
import io
import itertools
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from videocap.errors import UserError


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed; a one-line error when it cannot be written to."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create output folder {folder}: {exc.strerror}") from exc
    if not folder.is_dir():
        raise UserError(f"output folder {folder} exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"output folder {folder} is not writable: choose another with --out")
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write_chunks(path, [data])


def atomic_write_chunks(path: str | os.PathLike, chunks: Iterable[bytes]) -> Path:
    """Write the chunks as they come (a long document never needs to be in memory whole), atomically."""
    target = Path(path)
    folder = ensure_writable_dir(target.parent if str(target.parent) else ".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise UserError(f"no space left on the device to write {target}: free some space or use --out elsewhere") from exc
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: object) -> Path:
    """``data`` as JSON (indented by one space), streamed: iterators inside it are written as lists as they
    are consumed (``iter_json``)."""
    return atomic_write_chunks(path, encoded(itertools.chain(iter_json(data, indent=1), ["\n"])))


def encoded(pieces: Iterable[str], size: int = 1 << 16) -> Iterator[bytes]:
    """UTF-8 chunks of about ``size`` bytes from many small pieces of text."""
    buffer: list[str] = []
    length = 0
    for piece in pieces:
        buffer.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(buffer).encode("utf-8")
            buffer, length = [], 0
    yield "".join(buffer).encode("utf-8")


def iter_json(value: object, indent: int | None = None, level: int = 0) -> Iterator[str]:
    """``json.dumps(value, indent=indent, ensure_ascii=False)`` in pieces (compact separators when ``indent``
    is None), where an iterator (a generator) counts as a list and is consumed only as it is written."""
    if isinstance(value, dict):
        items: Iterable = ((json.dumps(str(k), ensure_ascii=False) + (": " if indent is not None else ":"), v)
                           for k, v in value.items())
        brackets = "{}"
    elif isinstance(value, (list, tuple, Iterator)):
        items, brackets = ((None, v) for v in value), "[]"
    else:
        yield json.dumps(value, ensure_ascii=False)
        return
    inner = "" if indent is None else "\n" + " " * (indent * (level + 1))
    empty = True
    for key, item in items:
        yield (brackets[0] if empty else ",") + inner + (key or "")
        empty = False
        yield from iter_json(item, indent, level + 1)
    if empty:
        yield brackets
    else:
        yield ("" if indent is None else "\n" + " " * (indent * level)) + brackets[1]


#: The most pixels videocap reads from one image: 16384 x 16384 (268 million, about 0.8 GB as RGB). Pillow's own
#: guard is a warning at 89 million and an error at twice that; this is a one-line error for both.
MAX_IMAGE_PIXELS = 16384 * 16384


def open_image(path: str | os.PathLike) -> Image.Image:
    """Pillow's own ``Image.open``, refusing images too large to hold (decompression bombs among them). Once
    imported, ultralytics replaces ``Image.open`` with one that tries to pip-install a HEIF plugin for any
    file Pillow cannot identify, which fails (slowly) offline."""
    patches = sys.modules.get("ultralytics.utils.patches")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = getattr(patches, "_image_open", Image.open)(path)
        except Image.DecompressionBombError:
            img = None
    if img is None or img.width * img.height > MAX_IMAGE_PIXELS:
        size = "" if img is None else f" ({img.width}x{img.height})"
        raise UserError(f"{path}: the image is too large{size}: videocap reads up to {MAX_IMAGE_PIXELS // 10**6} "
                        "million pixels; scale it down first")
    return img


#: Colour a transparent pixel is shown on (what an image viewer or a web page usually shows behind it).
ALPHA_BACKGROUND = (255, 255, 255)


def to_rgb(img: Image.Image) -> Image.Image:
    """An 8-bit RGB image of any Pillow mode, as a viewer shows it.

    16- and 32-bit grayscale is scaled to 8 bits (not clipped, which turns most of a 16-bit image white);
    palette, grayscale and bilevel images are expanded; CMYK goes through its embedded ICC profile when it
    has one; transparency is composited onto ``ALPHA_BACKGROUND``. EXIF orientation is the caller's
    (``ImageOps.exif_transpose``).
    """
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        return Image.fromarray(_deep_to_8bit(img)).convert("RGB")
    if img.mode == "CMYK":
        return _cmyk_to_rgb(img)
    if img.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def _deep_to_8bit(img: Image.Image) -> np.ndarray:
    """Grayscale of 16 or 32 bits (or floats) as 8 bits: 0-65535 maps to 0-255 (floats: 0-1, or 0-255 when
    their values say so); 32-bit values beyond 65535 scale by their maximum."""
    values = np.asarray(img, dtype=np.float64)
    top = float(values.max(initial=0.0))
    if img.mode == "F" and top <= 255.0:
        full = 1.0 if top <= 1.0 else 255.0
    else:
        full = max(65535.0, top)
    return np.clip(values / full * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _cmyk_to_rgb(img: Image.Image) -> Image.Image:
    profile = img.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # noqa: BLE001 - no littleCMS or a broken profile: Pillow's plain conversion
            pass
    return img.convert("RGB")


_UNSAFE = re.compile(r"[^\w.-]+")


def safe_name(text: str, fallback: str = "object") -> str:
    """A file-name piece from any text: letters, digits, '_', '-', '.' only; no leading dot; at most 60 chars."""
    name = _UNSAFE.sub("-", text).strip("-.")[:60].strip("-.")
    return name or fallback
