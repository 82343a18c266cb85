"""A caption run's tracks in the formats of the field's tools (``videocap export``).

- MOTChallenge text (``tracks.mot.txt``): one line per object and processed frame,
  ``frame,id,x,y,w,h,conf,-1,-1,-1`` with 1-based frame numbers of the source video (frame 0 is
  ``1``, also for a range that starts later), the box's top-left corner and size in pixels and the
  detection score; what TrackEval's ``MotChallenge2DBox`` reads as a tracker's output.
- YouTube-VIS-style JSON (``tracks.ytvis.json``): one video (its processed frames in order), a
  category per class and an annotation per track with, per frame, a COCO RLE mask (``pycocotools``
  decodes it), box ``[x, y, w, h]`` and area, ``null`` where the track is not seen; plus the track's
  mean score and, as an extension, its captions.
"""

from __future__ import annotations

from pathlib import Path

from videocap import __version__
from videocap.errors import UserError
from videocap.io.files import atomic_write_text, write_json
from videocap.results import CaptionResult, Track

MOT = "tracks.mot.txt"
YTVIS = "tracks.ytvis.json"


def mot_lines(result: CaptionResult) -> list[str]:
    rows = []
    for track in result.tracks:
        for f in track.frames:
            x0, y0, x1, y1 = f.box
            line = f"{f.index + 1},{track.id},{x0:.2f},{y0:.2f},{x1 - x0:.2f},{y1 - y0:.2f},{f.score:.4f},-1,-1,-1"
            rows.append((f.index, track.id, line))
    return [line for _, _, line in sorted(rows)]


def _annotation(track: Track, position: dict[int, int], category: int, length: int, size: tuple[int, int]) -> dict:
    segmentations, bboxes, areas = [None] * length, [None] * length, [None] * length
    for f in track.frames:
        n = position[f.index]
        x0, y0, x1, y1 = f.box
        segmentations[n] = f.mask.to_rle()
        bboxes[n] = [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)]
        areas[n] = f.mask.area
    return {"id": track.id, "video_id": 1, "category_id": category, "iscrowd": 0, "width": size[0],
            "height": size[1], "segmentations": segmentations, "bboxes": bboxes, "areas": areas,
            "score": round(track.mean_score, 4), "label": track.label,
            "captions": [c.to_json() for c in track.captions]}


def ytvis_json(result: CaptionResult) -> dict:
    info = result.video
    frames = list(result.frame_range.indices)
    position = {index: n for n, index in enumerate(frames)}
    stem = Path(info.path).stem
    classes = list(dict.fromkeys([*result.tracking.settings.classes, *(t.class_name for t in result.tracks)]))
    category = {name: n for n, name in enumerate(classes, 1)}
    video = {"id": 1, "width": info.width, "height": info.height, "length": len(frames),
             "file_names": [f"{stem}/{index:06d}.jpg" for index in frames], "frame_indices": frames,
             "fps": info.fps, "source": info.path}
    return {"info": {"description": f"videocap tracks of {info.path}", "version": __version__},
            "videos": [video], "categories": [{"id": n, "name": name} for name, n in category.items()],
            "annotations": [_annotation(t, position, category[t.class_name], len(frames), (info.width, info.height))
                            for t in result.tracks]}


def _write_mot(result: CaptionResult, path: Path) -> None:
    lines = mot_lines(result)
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))


def _write_ytvis(result: CaptionResult, path: Path) -> None:
    write_json(path, ytvis_json(result))


#: Each format: the file it writes and how (``videocap export --format``).
EXPORTS = {"mot": (MOT, _write_mot), "ytvis": (YTVIS, _write_ytvis)}
FORMATS = tuple(EXPORTS)


def write_exports(result: CaptionResult, out: Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """The chosen formats' files in ``out``; returns their paths."""
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise UserError(f"export format {', '.join(sorted(unknown))}: choose from {', '.join(FORMATS)}")
    written = []
    for name in (f for f in FORMATS if f in formats):
        file_name, write = EXPORTS[name]
        write(result, out / file_name)
        written.append(out / file_name)
    return written
