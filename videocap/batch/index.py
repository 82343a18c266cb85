"""The index of a batch: ``DIR/index.jsonl``, one row per video and one per track (and Parquet copies).

A video row: ``{"kind": "video", "video", "output" (its folder under DIR), "status" ("ok" or "failed"),
"error", "sha256", "settings_key", "tracks", "captions", "frames", "timing", "files", "finished"}``; each is
followed by its tracks' rows: ``{"kind": "track", "video", "output", "id", "class", "label", "first_frame",
"last_frame", "first_time", "last_time", "num_frames", "mean_score", "captions": [{"start", "end",
"text"}]}``. In ``timing``, ``caption_seconds`` is that of the DAM batches the video shared with the other
videos of its group, and ``total_seconds`` runs from its tracking's start to its folder's last file.

While a batch runs, each finished video's rows are appended in one write and synced, so an interrupt or a
crash loses nothing that finished (a line torn by a crash is skipped when read); a video run again appends
newer rows, and the latest rows of a video win. At the end of every run the file is rewritten (atomically)
with only the latest rows, and ``index-videos.parquet`` / ``index-tracks.parquet`` are written beside it
when pyarrow is installed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from videocap.io.files import atomic_write_text
from videocap.results import CaptionResult

INDEX = "index.jsonl"
PARQUET = {"video": "index-videos.parquet", "track": "index-tracks.parquet"}


def video_row(video, settings_key: str, result: CaptionResult | None = None, error: str | None = None,
              files: list[str] | None = None) -> dict:
    """The row of one video (a ``BatchVideo``): its status, error, counts, timings and output folder."""
    return {
        "kind": "video", "video": str(video.path), "output": video.folder,
        "status": "failed" if error is not None else "ok", "error": error,
        "sha256": result.video_sha256 if result else video.sha256, "settings_key": settings_key,
        "tracks": len(result.tracks) if result else 0, "captions": result.caption_count if result else 0,
        "frames": len(result.frame_range) if result else 0,
        "timing": dict(result.timing) if result else {}, "files": list(files or []),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def track_rows(video, result: CaptionResult) -> list[dict]:
    """A row per track of a finished video, with its span and captions."""
    return [{"kind": "track", "video": str(video.path), "output": video.folder, "id": t.id, "class": t.class_name,
             "label": t.label, "first_frame": t.first.index, "last_frame": t.last.index,
             "first_time": round(t.first.time, 4), "last_time": round(t.last.time, 4), "num_frames": len(t.frames),
             "mean_score": round(t.mean_score, 4),
             "captions": [{"start": round(c.start, 4), "end": round(c.end, 4), "text": c.text} for c in t.captions]}
            for t in result.tracks]


class Index:
    """The rows of ``DIR/index.jsonl``, by output folder (the latest rows of each)."""

    def __init__(self, out: Path) -> None:
        self.path = Path(out) / INDEX
        self.entries: dict[str, tuple[dict, list[dict]]] = {}
        self._torn = False
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        self._torn = bool(data) and not data.endswith(b"\n")
        for line in data.decode("utf-8", errors="replace").splitlines():
            self._add(line)

    def _add(self, line: str) -> None:
        try:
            row = json.loads(line)
        except ValueError:  # a line torn by a crash
            return
        if not isinstance(row, dict):
            return
        if row.get("kind") == "video" and isinstance(row.get("output"), str):
            self.entries[row["output"]] = (row, [])
        elif row.get("kind") == "track" and row.get("output") in self.entries:
            self.entries[row["output"]][1].append(row)

    def video_row(self, folder: str) -> dict | None:
        entry = self.entries.get(folder)
        return entry[0] if entry else None

    def rows(self) -> list[dict]:
        return [row for video, tracks in self.entries.values() for row in (video, *tracks)]

    def record(self, row: dict, tracks: list[dict]) -> None:
        """Append a finished video's rows (one write, synced)."""
        self.entries[row["output"]] = (row, tracks)
        data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in (row, *tracks)).encode("utf-8")
        if self._torn:  # end the torn line, so that it does not swallow this video's first row
            data, self._torn = b"\n" + data, False
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def compact(self, order: list[str] | None = None) -> None:
        """Rewrite the index with the latest rows only, the folders of ``order`` first in that order (then any
        others, from earlier batches); Parquet copies when pyarrow is installed."""
        rank = {folder: n for n, folder in enumerate(order or [])}
        self.entries = dict(sorted(self.entries.items(), key=lambda item: rank.get(item[0], len(rank))))
        rows = self.rows()
        atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        self._torn = False
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            return
        for kind, name in PARQUET.items():
            # timing's keys differ between videos (cached tracks, no captions): kept as JSON text
            table = [{**r, "timing": json.dumps(r["timing"])} if "timing" in r else r for r in rows if r["kind"] == kind]
            tmp = self.path.with_name(f".{name}.partial")
            pq.write_table(pa.Table.from_pylist(table), tmp)
            os.replace(tmp, self.path.with_name(name))
