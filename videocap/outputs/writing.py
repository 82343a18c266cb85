"""The files a caption run writes into its output folder, as one set (see ``videocap.io.staging``: each run
writes into its own staging folder and moves the complete set into place, ``captions.json`` last, replacing
the previous set named by the old ``captions.json``'s ``outputs``; both videos record the run id that
``captions.json`` holds as ``run``, in their ``comment`` metadata tag: ``videocap-run:<id>``).

==========================  ===========================================================
``captions.json``           everything below is made from it (``videocap render``/``subtitles``)
``captioned.mp4``           the captioned range: masks, boxes, labels, captions; H.264 + AAC audio
``captioned.mkv``           the same video and audio, plus one ASS subtitle stream per object
``captions.ass``            every object's captions, each following its object
``<class>-<id>.srt/.vtt``   one pair per track (``circle-3.srt``), a cue per caption
==========================  ===========================================================
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from videocap.errors import UserError
from videocap.io.encode import ffmpeg_exe
from videocap.io.files import (
    atomic_write_bytes,
    atomic_write_text,
    safe_name,
    write_json,
)
from videocap.outputs.photos import annotate, encode_photo
from videocap.outputs.subtitles import (
    AssWriter,
    fonts_used,
    srt_document,
    track_cues,
    vtt_document,
)
from videocap.progress import fault_point
from videocap.results import CaptionResult, PhotoResult, Track

CAPTIONS_JSON = "captions.json"
VIDEO = "captioned.mp4"
MKV = "captioned.mkv"
ASS = "captions.ass"


def subtitle_names(track: Track) -> dict[str, str]:
    base = f"{safe_name(track.class_name)}-{track.id}"
    return {"srt": f"{base}.srt", "vtt": f"{base}.vtt"}


def track_files(result: CaptionResult) -> dict[int, dict[str, str]]:
    return {track.id: subtitle_names(track) for track in result.tracks}


def run_metadata(run_id: str | None) -> dict[str, str]:
    """What every video of a set records of the run that made it (``ffprobe`` shows it as the comment)."""
    return {"comment": f"videocap-run:{run_id}"} if run_id else {}


def write_subtitles(result: CaptionResult, folder: Path) -> dict[str, float]:
    """Per-track SRT and WebVTT files and the ASS file."""
    started = time.perf_counter()
    files = track_files(result)
    for track in result.tracks:
        cues = track_cues(result, track)
        atomic_write_text(folder / files[track.id]["srt"], srt_document(cues))
        atomic_write_text(folder / files[track.id]["vtt"], vtt_document(cues, track.label))
    atomic_write_text(folder / ASS, AssWriter(result).document())
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
        metadata += [arg for key, value in run_metadata(result.run_id).items() for arg in ("-metadata", f"{key}={value}")]
        texts = [track.label for track in result.tracks] + [c.text for track in result.tracks for c in track.captions]
        for n, font in enumerate(fonts_used(texts)):  # the fallback fonts the ASS names, for players that lack them
            inputs += ["-attach", font]
            metadata += [f"-metadata:s:t:{n}", "mimetype=application/x-truetype-font"]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs, *maps, "-c", "copy", *metadata,
               "-f", "matroska", str(tmp_path)]
        fault_point("muxing")
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        tmp_path.unlink(missing_ok=True)
        if "No space left on device" in proc.stderr:
            raise UserError(f"no space left on the device to write {out_path}: free some space or use --out elsewhere")
        raise RuntimeError(f"ffmpeg failed to write {out_path}: {proc.stderr.strip().splitlines()[-1:]}")
    os.replace(tmp_path, out_path)
    return {"mkv_seconds": round(time.perf_counter() - started, 3)}


def write_captions_json(result: CaptionResult, folder: Path) -> None:
    write_json(folder / CAPTIONS_JSON, result.to_json(lazy=True))


def photo_output_names(photo: Path, base: str) -> dict[str, str]:
    """A photo's output files: its JSON, and its annotated picture (JPEG for a JPEG, else PNG)."""
    jpeg = photo.suffix.lower() in (".jpg", ".jpeg")
    return {"json": f"{base}.json", "image": f"{base}.captioned.{'jpg' if jpeg else 'png'}"}


def write_photo_outputs(result: PhotoResult, image, out: Path, base: str) -> list[str]:
    """A photo's annotated picture and its JSON into the folder ``out`` (a staging folder); their names,
    the JSON last."""
    result.outputs = photo_output_names(result.path, base)
    jpeg = result.outputs["image"].endswith(".jpg")
    annotated = annotate(image, result.objects, result.captioning.overlay)
    atomic_write_bytes(out / result.outputs["image"], encode_photo(annotated, jpeg))
    write_json(out / result.outputs["json"], result.to_json())
    return [result.outputs["image"], result.outputs["json"]]
