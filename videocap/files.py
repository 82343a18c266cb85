"""Atomic file output: a file appears under its final name only once it is complete."""

from __future__ import annotations

import errno
import json
import os
import re
import sys
import tempfile
from pathlib import Path

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
    target = Path(path)
    folder = ensure_writable_dir(target.parent if str(target.parent) else ".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
    return atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


def open_image(path: str | os.PathLike) -> Image.Image:
    """Pillow's own ``Image.open``. Once imported, ultralytics replaces ``Image.open`` with one that tries to
    pip-install a HEIF plugin for any file Pillow cannot identify, which fails (slowly) offline."""
    patches = sys.modules.get("ultralytics.utils.patches")
    return getattr(patches, "_image_open", Image.open)(path)


_UNSAFE = re.compile(r"[^\w.-]+")


def safe_name(text: str, fallback: str = "object") -> str:
    """A file-name piece from any text: letters, digits, '_', '-', '.' only; no leading dot; at most 60 chars."""
    name = _UNSAFE.sub("-", text).strip("-.")[:60].strip("-.")
    return name or fallback
