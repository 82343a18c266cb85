"""The files a run writes, one ``Writer`` each (openai/whisper's writers are the model): its keys in the
``outputs`` manifest of captions.json, the kinds of file it makes, and ``write(result, folder, video)``.

Everything that lists a run's files derives from ``RUN_WRITERS``: the manifest (and so which files a
later run may replace, ``manifest_names``), the suffixes staging may move (``OUTPUT_SUFFIXES``), the
order files are written and put in place (``captions.json``, which names the set, last), and the
command line's list of outputs. Adding an output is one writer here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from videocap.io.staging import Staging, check_free, is_plain_name, output_run
from videocap.io.video import Video
from videocap.outputs import exports
from videocap.outputs.report import REPORT, sheet_name, write_report
from videocap.outputs.writing import (
    ASS,
    CAPTIONS_JSON,
    MKV,
    VIDEO,
    mux_mkv,
    run_metadata,
    subtitle_names,
    track_files,
    write_captions_json,
    write_subtitles,
)
from videocap.results import CAPTIONS_SCHEMA, CaptionResult, Track

#: (result, folder, video or None, progress) -> timing
Write = Callable[[CaptionResult, Path, "Video | None", bool], dict]


@dataclass(frozen=True)
class Writer:
    """One output of a caption run."""

    name: str  # what the command line calls it
    keys: tuple[str, ...]  # its entries in the ``outputs`` manifest (file names, or names per track)
    suffixes: tuple[str, ...]  # the kinds of file it makes
    write: Write  # writes its files into the folder; returns its timing
    # the names it will write, known before any writer runs (the report links to them); a writer whose names
    # come out of its work (the contact sheets) records them under its keys while it writes
    plan: Callable[[CaptionResult], dict] = lambda result: {}
    needs_video: bool = False  # made only when the video is rendered (not with --no-video)
    about: str = ""
    fixed: tuple[str, ...] = ()  # the names it writes whatever the tracks
    per_track: Callable[[Track], tuple[str, ...]] = lambda track: ()  # the names it may write per track


def _subtitles(result: CaptionResult, folder: Path, video: Video | None, progress: bool) -> dict:
    return write_subtitles(result, folder)


def _video(result: CaptionResult, folder: Path, video: Video | None, progress: bool) -> dict:
    from videocap.outputs.render import render_video

    return render_video(result, folder / VIDEO, video, progress=progress, metadata=run_metadata(result.run_id))


def _mkv(result: CaptionResult, folder: Path, video: Video | None, progress: bool) -> dict:
    return mux_mkv(result, folder / VIDEO, folder / MKV)


def _report(result: CaptionResult, folder: Path, video: Video | None, progress: bool) -> dict:
    return write_report(result, folder, video)


def _captions(result: CaptionResult, folder: Path, video: Video | None, progress: bool) -> dict:
    write_captions_json(result, folder)
    return {}


#: In the order they are written; the last one's file names the set and is put in place last.
def _video_size(result: CaptionResult) -> list[int]:
    width, height = result.video.width, result.video.height
    return [width + width % 2, height + height % 2]  # yuv420p pads an odd size


RUN_WRITERS = (
    Writer("subtitles", ("ass", "tracks"), (".ass", ".srt", ".vtt"), _subtitles,
           lambda result: {"ass": ASS, "tracks": {str(k): v for k, v in track_files(result).items()}},
           about="captions.ass, and <class>-<id>.srt/.vtt per track", fixed=(ASS,),
           per_track=lambda track: tuple(subtitle_names(track).values())),
    Writer("video", ("video", "video_size"), (".mp4",), _video,
           lambda result: {"video": VIDEO, "video_size": _video_size(result)}, needs_video=True,
           about="captioned.mp4", fixed=(VIDEO,)),
    Writer("mkv", ("mkv",), (".mkv",), _mkv, lambda result: {"mkv": MKV}, needs_video=True,
           about="captioned.mkv, one subtitle stream per track", fixed=(MKV,)),
    Writer("report", ("report", "contact_sheets"), (".html", ".png"), _report,
           about="report.html, and <class>-<id>.png (a contact sheet) per track", fixed=(REPORT,),
           per_track=lambda track: (sheet_name(track),)),
    Writer("captions", ("captions",), (".json",), _captions, lambda result: {"captions": CAPTIONS_JSON},
           about="captions.json, the set's record (last)", fixed=(CAPTIONS_JSON,)),
)
#: What a photo run writes per photo (``videocap.outputs.writing.write_photo_outputs``).
PHOTO_SUFFIXES = (".json", ".jpg", ".png")
#: Every kind of file a staged run may put into an output folder.
OUTPUT_SUFFIXES = tuple(sorted({s for w in RUN_WRITERS for s in w.suffixes} | set(PHOTO_SUFFIXES)))
#: ``videocap export``'s formats (``videocap.outputs.exports.EXPORTS``).
EXPORT_FORMATS = exports.FORMATS


def write_outputs(result: CaptionResult, out: Staging | Path, video: Video | None, progress: bool = True,
                  started: float | None = None) -> None:
    """Every output of a caption run into the staging folder ``out`` (or, given a folder, into a staging
    folder of its own in it), then into place as one set replacing the previous one (``captions.json``
    last), with the time each output took, and the whole run's since ``started``, a ``time.perf_counter()``
    value. ``video`` is the opened source; None writes no MP4 and MKV.
    """
    if not isinstance(out, Staging):
        with output_run(out, suffixes=OUTPUT_SUFFIXES) as staging:
            return write_outputs(result, staging, video, progress, started)
    result.run_id, result.outputs = out.run_id, {}
    names = write_all(result, out.folder, video, [w for w in RUN_WRITERS if video is not None or not w.needs_video],
                      progress, started)
    out.commit(names, remove=previous_outputs(out.out))


def write_all(result: CaptionResult, folder: Path, video: Video | None, writers: list[Writer], progress: bool = True,
              started: float | None = None) -> list[str]:
    """Run ``writers`` in order into ``folder``; their files' names, in that order (their timing goes into
    ``result``; ``total_seconds`` just before the last writer, which records it)."""
    for writer in writers:
        result.outputs.update(writer.plan(result))
    for n, writer in enumerate(writers):
        if n == len(writers) - 1 and started is not None:
            result.timing["total_seconds"] = round(time.perf_counter() - started, 3)
        result.timing.update(writer.write(result, folder, video, progress))
    return [name for writer in writers for name in writer_files(result.outputs, writer)]


def writer_files(outputs: dict, writer: Writer) -> list[str]:
    """The files ``writer`` recorded in a manifest."""
    return [name for key in writer.keys for name in _names(outputs.get(key))]


def manifest_names(outputs: dict) -> set[str]:
    """The file names an ``outputs`` manifest (of ``captions.json``) names: the files of that set."""
    return {name for writer in RUN_WRITERS for name in writer_files(outputs, writer)
            if is_plain_name(name, OUTPUT_SUFFIXES)}


def previous_outputs(out: Path) -> set[str]:
    """The files of the set that the ``captions.json`` in ``out`` names (none without a readable one)."""
    try:
        data = json.loads((out / CAPTIONS_JSON).read_text(encoding="utf-8"))
        if data.get("schema") != CAPTIONS_SCHEMA:
            return set()
        return manifest_names(data.get("outputs") or {})
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def check_outputs_free(out: str | Path, result: CaptionResult | None = None, render: bool = True,
                       writers: tuple[Writer, ...] = RUN_WRITERS) -> None:
    """Before the work: a one-line error when a file videocap did not write holds the name of one of the
    ``writers``' outputs in ``out`` (see ``videocap.io.staging.check_free``): their fixed names, and with
    ``result`` (once tracked) its tracks' names too."""
    writers = tuple(w for w in writers if render or not w.needs_video)
    tracks = result.tracks if result is not None else []
    names = {name for w in writers for name in w.fixed} | \
        {name for w in writers for track in tracks for name in w.per_track(track)}
    check_free(out, names, previous_outputs(Path(out)))


def writer(name: str) -> Writer:
    return next(w for w in RUN_WRITERS if w.name == name)


def _names(value) -> Iterator[str]:
    """The strings in a manifest entry: a name, or names nested in mappings (per track)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _names(item)


def output_help() -> str:
    """The outputs of a run, one line each, for ``--help``."""
    return "; ".join(w.about for w in RUN_WRITERS)
