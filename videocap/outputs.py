"""The files a caption run writes into its output folder, each atomically.

==========================  ===========================================================
``captions.json``           everything below is made from it (``videocap render``/``subtitles``)
``captioned.mp4``           the captioned range: masks, boxes, labels, captions; H.264 + AAC audio
``captioned.mkv``           the same video and audio, plus one ASS subtitle stream per object
``captions.ass``            every object's captions, each following its object
``<class>-<id>.srt/.vtt``   one pair per track (``circle-3.srt``), a cue per caption
==========================  ===========================================================
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from videocap.encode import ffmpeg_exe
from videocap.errors import UserError
from videocap.files import atomic_write_bytes, atomic_write_text, safe_name, write_json
from videocap.images import annotate, encode_photo
from videocap.render import render_video
from videocap.results import CAPTIONS_SCHEMA, CaptionResult, PhotoResult
from videocap.subtitles import AssWriter, srt_document, track_cues, vtt_document
from videocap.video import Video

CAPTIONS_JSON = "captions.json"
VIDEO = "captioned.mp4"
MKV = "captioned.mkv"
ASS = "captions.ass"

def track_files(result: CaptionResult) -> dict[int, dict[str, str]]:
    files = {}
    for track in result.tracks:
        base = f"{safe_name(track.class_name)}-{track.id}"
        files[track.id] = {"srt": f"{base}.srt", "vtt": f"{base}.vtt"}
    return files


def planned_outputs(result: CaptionResult, render: bool) -> dict:
    outputs = {"captions": CAPTIONS_JSON, "ass": ASS,
               "tracks": {str(k): v for k, v in track_files(result).items()}}
    if render:
        outputs.update(video=VIDEO, mkv=MKV)
    return outputs


def _previous_outputs(out: Path) -> set[str]:
    """Per-track files named by an earlier run's captions.json in this folder."""
    try:
        data = json.loads((out / CAPTIONS_JSON).read_text(encoding="utf-8"))
        if data.get("schema") != CAPTIONS_SCHEMA:
            return set()
        return {name for files in (data.get("outputs") or {}).get("tracks", {}).values() for name in files.values()}
    except (OSError, ValueError, AttributeError):
        return set()


def _remove_stale(out: Path, previous: set[str], current: dict) -> None:
    keep = {name for files in current["tracks"].values() for name in files.values()}
    for name in previous - keep:
        if "/" not in name and "\\" not in name and name.endswith((".srt", ".vtt")):
            (out / name).unlink(missing_ok=True)


def write_subtitles(result: CaptionResult, out: Path) -> dict[str, float]:
    """Per-track SRT and WebVTT files and the ASS file."""
    started = time.perf_counter()
    files = track_files(result)
    for track in result.tracks:
        cues = track_cues(result, track)
        atomic_write_text(out / files[track.id]["srt"], srt_document(cues))
        atomic_write_text(out / files[track.id]["vtt"], vtt_document(cues, track.label))
    atomic_write_text(out / ASS, AssWriter(result).document())
    return {"subtitles_seconds": round(time.perf_counter() - started, 3)}


def mux_mkv(result: CaptionResult, video: Path, out_path: Path) -> dict[str, float]:
    """The captioned MP4's video and audio with one ASS subtitle stream per track (titled, language-tagged)."""
    started = time.perf_counter()
    writer = AssWriter(result)  # places all tracks together once: each stream has its captions where captions.ass does
    tmp_path = out_path.with_name(f".{out_path.stem}.partial{out_path.suffix}")
    with tempfile.TemporaryDirectory(prefix=".videocap-subs-", dir=out_path.parent) as folder:
        inputs, maps, metadata = ["-i", str(video)], ["-map", "0:v:0", "-map", "0:a?"], []
        for n, track in enumerate(result.tracks):
            ass_file = Path(folder) / f"{n}.ass"
            ass_file.write_text(writer.document([track]), encoding="utf-8")
            inputs += ["-i", str(ass_file)]
            maps += ["-map", f"{n + 1}:s:0"]
            metadata += [f"-metadata:s:s:{n}", f"title={track.label}",
                         f"-metadata:s:s:{n}", f"language={result.settings.language}",
                         f"-disposition:s:{n}", "0"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs, *maps, "-c", "copy", *metadata,
               "-f", "matroska", str(tmp_path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        tmp_path.unlink(missing_ok=True)
        if "No space left on device" in proc.stderr:
            raise UserError(f"no space left on the device to write {out_path}: free some space or use --out elsewhere")
        raise RuntimeError(f"ffmpeg failed to write {out_path}: {proc.stderr.strip().splitlines()[-1:]}")
    os.replace(tmp_path, out_path)
    return {"mkv_seconds": round(time.perf_counter() - started, 3)}


def write_outputs(result: CaptionResult, out: Path, video: Video | None, progress: bool = True,
                  started: float | None = None) -> None:
    """Every output of a caption run, ``captions.json`` last (with the time each output took, and the whole
    run's since ``started``, a ``time.perf_counter()`` value).

    ``video`` is the opened source; None writes no MP4 and MKV (subtitles and captions.json only).
    """
    previous = _previous_outputs(out)
    result.outputs = planned_outputs(result, render=video is not None)
    _remove_stale(out, previous, result.outputs)
    result.timing.update(write_subtitles(result, out))
    if video is not None:
        result.timing.update(render_video(result, out / VIDEO, video, progress=progress))
        width, height = result.video.width, result.video.height
        # yuv420p needs even sizes: an odd one is padded by a copy of its last column or row.
        result.outputs["video_size"] = [width + width % 2, height + height % 2]
        result.timing.update(mux_mkv(result, out / VIDEO, out / MKV))
    if started is not None:
        result.timing["total_seconds"] = round(time.perf_counter() - started, 3)
    write_json(out / CAPTIONS_JSON, result.to_json(lazy=True))


def write_photo_outputs(result: PhotoResult, image, out: Path, base: str) -> None:
    """A photo's annotated picture and its JSON."""
    jpeg = result.path.suffix.lower() in (".jpg", ".jpeg")
    result.outputs = {"json": f"{base}.json", "image": f"{base}.captioned.{'jpg' if jpeg else 'png'}"}
    atomic_write_bytes(out / result.outputs["image"], encode_photo(annotate(image, result.objects), jpeg))
    write_json(out / result.outputs["json"], result.to_json())
