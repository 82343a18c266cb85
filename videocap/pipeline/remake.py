"""Outputs made again from a run's ``captions.json`` (no model runs): the videos and subtitles, the subtitles
alone, the report and contact sheets, and exports for tracking tools."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from videocap.errors import UserError
from videocap.io.files import ensure_writable_dir
from videocap.io.staging import output_run
from videocap.io.video import Video
from videocap.outputs.exports import FORMATS, write_exports
from videocap.outputs.registry import (
    OUTPUT_SUFFIXES,
    check_outputs_free,
    previous_outputs,
    write_all,
    write_outputs,
    writer,
)
from videocap.results import CaptionResult, captions_path, read_captions
from videocap.segment import cache


def render_captions(captions_json: str | Path, video_path: str | Path | None = None, out_dir: str | Path | None = None,
                    progress: bool = True, overlay: str | None = None) -> CaptionResult:
    """The captioned MP4 and MKV and the subtitles again, from a ``captions.json`` (no model runs), as a new
    set of outputs (a new run id) replacing the folder's previous one.

    ``video_path`` replaces the source path recorded in the JSON (when the video has moved); ``overlay``
    the recorded mask style.
    """
    captions_json = captions_path(captions_json)
    result = read_captions(captions_json)
    if overlay is not None:
        result.settings = dataclasses.replace(result.settings, overlay=overlay)
    if video_path is not None:
        _check_same_video(Path(video_path), result.video_sha256)
        result.tracking.video = dataclasses.replace(result.video, path=str(video_path))
    video = Video(result.video.path)
    out = out_dir or captions_json.parent
    check_outputs_free(out, result)
    with output_run(out, OUTPUT_SUFFIXES) as staging:
        write_outputs(result, staging, video, progress=progress)
    return result


def _check_same_video(path: Path, recorded: str | None) -> None:
    """``--video`` must be the video that was captioned (the tracks' boxes and times are that video's)."""
    if recorded and path.is_file() and cache.file_sha256(path) != recorded:
        raise UserError(f"--video {path} is not the video these captions were made from (its sha256 differs from "
                        f"the recorded {recorded[:12]}...): give the captioned video, or caption this one")


def write_subtitles(captions_json: str | Path, out_dir: str | Path | None = None) -> CaptionResult:
    """The subtitle files (.srt and .vtt per object, and the .ass) again, from a ``captions.json``."""
    captions_json = captions_path(captions_json)
    result = read_captions(captions_json)
    out = Path(out_dir or captions_json.parent)
    check_outputs_free(out, result, writers=(writer("subtitles"),))
    with output_run(out, OUTPUT_SUFFIXES) as staging:
        staging.commit(write_all(result, staging.folder, None, [writer("subtitles")]), owned=previous_outputs(out))
    return result


def write_report(folder_or_json: str | Path, video_path: str | Path | None = None) -> CaptionResult:
    """``report.html`` and the contact sheets again, from a run's folder (or its ``captions.json``); the
    keyframes are decoded from the source video (``video_path`` when it has moved)."""
    captions_json = captions_path(folder_or_json)
    result = read_captions(captions_json)
    previous_sheets = list(result.outputs.get("contact_sheets", {}).values())
    keeping = any((captions_json.parent / name).is_file() for name in previous_sheets)
    video = _report_source(result, video_path, keeping)
    with output_run(captions_json.parent, OUTPUT_SUFFIXES) as staging:
        staging.commit(write_all(result, staging.folder, video, [writer("report")]), remove=previous_sheets,
                       owned=previous_outputs(captions_json.parent))
    return result


def _report_source(result: CaptionResult, video_path: str | Path | None, keeping: bool) -> Video | None:
    """The source video the report's keyframes come from; None when it is gone and no contact sheet would be
    lost, a one-line error when good contact sheets would be replaced by empty ones."""
    if video_path is not None:
        _check_same_video(Path(video_path), result.video_sha256)
        return Video(video_path)
    try:
        return Video(result.video.path)
    except UserError as exc:
        if keeping:
            raise UserError(f"the source video cannot be opened from here ({exc}): pass --video PATH; the report "
                            "and contact sheets are left as they are") from exc
        return None


def export_tracks(folder_or_json: str | Path, formats: tuple[str, ...] = FORMATS,
                  out_dir: str | Path | None = None) -> list[Path]:
    """A run's tracks as MOTChallenge text and/or YouTube-VIS JSON (see ``videocap.outputs.exports``)."""
    captions_json = captions_path(folder_or_json)
    result = read_captions(captions_json)
    return write_exports(result, ensure_writable_dir(out_dir or captions_json.parent), formats)
