"""A cache of tracking results, so that captioning again with other DAM settings does not track again.

An entry is keyed by the video's content (SHA-256), the frame range, videocap's version and what the
segmenter's registry entry names as its identity (``cache_identity``: its model, e.g. a YOLO file's
SHA-256 or a SAM 3 folder's files' hashes, the classes and every setting that changes its tracks). Tracks are
cached before the ``min_frames`` filter and keyframe selection, which are redone on every run.

The cache lives in ``$VIDEOCAP_CACHE_DIR``, else ``$XDG_CACHE_HOME/videocap``, else
``~/.cache/videocap``. Entries are gzipped tracks JSON, written atomically; delete the folder to
clear it. A cache that cannot be written only costs a warning.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import warnings
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from videocap import __version__
from videocap.io.files import atomic_write_chunks, encoded, iter_json

CHUNK = 1 << 20


def cache_dir() -> Path:
    if explicit := os.environ.get("VIDEOCAP_CACHE_DIR"):
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "videocap"


def file_sha256(path: str | Path, memo: bool = True) -> str:
    """SHA-256 of a file's bytes, remembered in the cache by (path, size, mtime) so big videos are hashed once."""
    path = Path(path).resolve()
    stat = path.stat()
    memo_key = hashlib.sha256(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}".encode()).hexdigest()
    memo_file = cache_dir() / "hashes" / memo_key
    if memo:
        try:
            digest = memo_file.read_text().strip()
            if len(digest) == 64:
                return digest
        except OSError:
            pass
    digest_obj = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest_obj.update(chunk)
    digest = digest_obj.hexdigest()
    if memo:
        _quietly_write(memo_file, digest.encode())
    return digest


def model_identity(model: str) -> str:
    """A model file's content hash, or the name itself when it is not a local file (an ultralytics name)."""
    path = Path(model)
    return f"sha256:{file_sha256(path)}" if path.is_file() else f"name:{model}"


def folder_identity(path_or_id: str) -> str:
    """A checkpoint folder's identity (its configs' and weights' content hashes), or the hub id itself."""
    path = Path(path_or_id).expanduser()
    if not path.is_dir():
        return f"hub:{path_or_id}"
    files = sorted(path.glob("*.json")) + sorted(path.glob("*.safetensors"))
    listing = "".join(f"{file.name}:{file_sha256(file)}\n" for file in files)
    return f"sha256:{hashlib.sha256(listing.encode()).hexdigest()}"


def tracking_key(video_sha256: str, frame_range, segmenter_identity: dict) -> str:
    """The cache key of a video range tracked by a segmenter whose model and settings ``segmenter_identity``
    names (its registry entry's ``cache_identity``)."""
    parts = {
        "video": video_sha256, "range": [frame_range.start, frame_range.end, frame_range.stride],
        **segmenter_identity, "videocap": __version__,
        "frames": "as displayed",  # tracks made before frames were turned by the display matrix differ
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load(key: str) -> dict | None:
    """The cached tracks JSON for ``key``, or None (a damaged entry counts as missing)."""
    path = cache_dir() / "tracks" / f"{key}.json.gz"
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, EOFError, ValueError):
        return None


def store(key: str, data: dict) -> None:
    """Cache tracks JSON data, streamed through gzip (iterators in it are consumed as they are written)."""
    _quietly_write(cache_dir() / "tracks" / f"{key}.json.gz", _gzipped(encoded(iter_json(data))))


def _gzipped(chunks: Iterable[bytes]) -> Iterator[bytes]:
    packer = zlib.compressobj(5, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # 16+: the gzip container gzip.open reads
    for chunk in chunks:
        if packed := packer.compress(chunk):
            yield packed
    yield packer.flush()


def _quietly_write(path: Path, data: bytes | Iterable[bytes]) -> None:
    try:
        atomic_write_chunks(path, [data] if isinstance(data, bytes) else data)
    except Exception as exc:  # noqa: BLE001 - a cache must never fail the run
        warnings.warn(f"cannot write the tracking cache {path.parent} ({exc}); set VIDEOCAP_CACHE_DIR to a "
                      "writable folder to cache tracks", stacklevel=2)
