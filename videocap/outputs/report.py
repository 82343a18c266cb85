"""What a caption run looks like: ``report.html``, a contact sheet per track, and a batch's index page.

``report.html`` is one self-contained file (its CSS, JS, subtitles and keyframe thumbnails inline; no
network): the captioned video with one WebVTT track per object, a timeline with a lane per track,
per track the keyframes DAM saw (decoded again from the source, the mask drawn in the run's overlay
style) and its captions, filters, and the run's settings, models and timings. It refers to the
captioned video and the per-track files beside it by relative links, so the folder can move.
A contact sheet (``<class>-<id>.png``) shows one track's keyframes, label and captions in one picture.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from videocap import __version__
from videocap.checkpoints import local_model_path, model_record
from videocap.errors import UserError
from videocap.io.files import atomic_write_bytes, atomic_write_text, safe_name
from videocap.io.staging import STAGING_PREFIX
from videocap.io.video import Video
from videocap.outputs.layout import load_font, wrap
from videocap.outputs.photos import encode_photo
from videocap.outputs.render import draw_mask
from videocap.outputs.subtitles import track_cues, vtt_document
from videocap.resources import REPORT_DIR
from videocap.results import CaptionResult, FrameRange, Track, TrackFrame

REPORT = "report.html"
BATCH_INDEX = "index.html"
THUMB_SIZE = 240  # longer side of a keyframe thumbnail, pixels
SEEK_GAP = 250  # keyframes further apart than this many frames are read by seeking, not by decoding between


@dataclass
class Thumbnail:
    frame: int  # frame number in the source video
    time: float  # source time
    image: np.ndarray  # RGB: the object's surroundings, its mask drawn
    prompt: bool = False  # the frame of the region prompt that picked the object, the prompt drawn on it
    seen: bool = True  # a frame DAM saw (False: shown only for its prompt)


def sheet_name(track: Track) -> str:
    return f"{safe_name(track.class_name)}-{track.id}.png"


def seen_keyframes(track: Track) -> list[TrackFrame]:
    """The frames DAM saw for the track's captions (its keyframes when it has no caption)."""
    by_index = {f.index: f for f in track.frames}
    indices = sorted({k for c in track.captions for k in c.keyframes}) or sorted({f.index for f in track.keyframe_frames})
    return [by_index[i] for i in indices if i in by_index]


def _read_ranges(indices: list[int], gap: int = SEEK_GAP) -> list[FrameRange]:
    """Ranges covering the sorted frame ``indices``: one per run of indices less than ``gap`` apart."""
    ranges: list[FrameRange] = []
    for index in sorted(set(indices)):
        if ranges and index - (ranges[-1].end - 1) < gap:
            ranges[-1] = FrameRange(ranges[-1].start, index + 1)
        else:
            ranges.append(FrameRange(index, index + 1))
    return ranges


def _crop(image: np.ndarray, track: Track, frame: TrackFrame, overlay: str, size: int, prompt=None) -> np.ndarray:
    """The object with some surroundings, its mask drawn (and ``prompt``, a RegionPrompt on this frame),
    scaled to ``size`` pixels on its longer side."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = frame.box
    if prompt is not None and prompt.box is not None:  # the crop holds the prompt's box too
        x0, y0, x1, y1 = min(x0, prompt.box[0]), min(y0, prompt.box[1]), max(x1, prompt.box[2]), max(y1, prompt.box[3])
    side = max(x1 - x0, y1 - y0) * 1.5 + 16
    crop_w, crop_h = int(min(width, side)), int(min(height, side))
    left = int(min(max((x0 + x1 - crop_w) / 2, 0), width - crop_w))
    top = int(min(max((y0 + y1 - crop_h) / 2, 0), height - crop_h))
    drawn = np.array(image, copy=True)
    line = max(1, round(2.5 * max(crop_w, crop_h) / size))
    draw_mask(drawn, frame.mask, track.colour, overlay, line)
    if prompt is not None:
        _draw_prompt(drawn, prompt, line)
    piece = drawn[top:top + crop_h, left:left + crop_w]
    scale = size / max(crop_w, crop_h)
    shape = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
    return cv2.resize(piece, shape, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _draw_prompt(image: np.ndarray, prompt, line: int) -> None:
    """A prompt's points (green on the object, red for the background, ringed in black) or box (white)."""
    if prompt.box is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in prompt.box)
        cv2.rectangle(image, (x0, y0), (x1, y1), (255, 255, 255), line)
    for (x, y), label in zip(prompt.points, prompt.point_labels):
        centre, radius = (int(round(x)), int(round(y))), 3 * line
        cv2.circle(image, centre, radius + line, (0, 0, 0), -1)
        cv2.circle(image, centre, radius, (61, 220, 132) if label else (255, 90, 78), -1)


def keyframe_thumbnails(result: CaptionResult, video: Video, size: int = THUMB_SIZE) -> dict[int, list[Thumbnail]]:
    """Per track id, a thumbnail of each frame DAM saw, decoded again from the source ``video``; a prompted
    track's prompt is drawn on its frame, which is added (not seen) when DAM did not see it."""
    wanted: dict[int, list[tuple[Track, TrackFrame, bool]]] = {}
    for track in result.tracks:
        seen = seen_keyframes(track)
        for frame in seen:
            wanted.setdefault(frame.index, []).append((track, frame, True))
        prompted = next((f for f in track.frames if track.prompt and f.index == track.prompt.frame), None)
        if prompted is not None and prompted not in seen:
            wanted.setdefault(prompted.index, []).append((track, prompted, False))
    thumbs: dict[int, list[Thumbnail]] = {t.id: [] for t in result.tracks}
    for frame_range in _read_ranges(list(wanted)):
        with video.read(frame_range) as reader:
            for decoded in reader:
                for track, frame, seen in wanted.get(decoded.index, []):
                    prompt = track.prompt if track.prompt and track.prompt.frame == frame.index else None
                    image = _crop(decoded.image, track, frame, result.settings.overlay, size, prompt)
                    thumbs[track.id].append(Thumbnail(frame.index, frame.time, image, prompt is not None, seen))
    return thumbs


# -- contact sheets --

def contact_sheet(result: CaptionResult, track: Track, thumbs: list[Thumbnail], columns: int = 4) -> np.ndarray:
    """One picture of a track: its label and span, the keyframes DAM saw with their masks, its captions."""
    gap, tile = 12, THUMB_SIZE
    columns = max(1, min(columns, len(thumbs)))
    width = max(columns * (tile + gap) + gap, 640)
    title_font, font, small = load_font(28), load_font(22), load_font(15)
    offset = result.start_time
    texts = [f"{c.start - offset:.2f}–{c.end - offset:.2f} s: {c.text}" for c in track.captions] or ["(no caption)"]
    lines = [line for text in texts for line in (wrap(text, font, width - 2 * gap) or [""]) + [""]][:-1]
    rows = math.ceil(len(thumbs) / columns)
    header, line_h, tile_h = 74, 30, tile + 24
    height = header + rows * (tile_h + gap) + len(lines) * line_h + 2 * gap
    sheet = Image.new("RGB", (width, height), (24, 26, 30))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle((0, 0, 10, height), fill=track.colour)
    title_font.draw(draw, (gap + 10, 12), track.label, fill=track.colour, anchor="la")
    small.draw(draw, (gap + 10, 48), f"{track.first.time - offset:.2f}–{track.last.time - offset:.2f} s · "
               f"{len(track.frames)} frames · mean score {track.mean_score:.2f} · {Path(result.video.path).name}",
               fill=(170, 175, 185), anchor="la")
    for n, thumb in enumerate(thumbs):
        x = gap + (n % columns) * (tile + gap)
        y = header + (n // columns) * (tile_h + gap)
        draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill=(0, 0, 0))
        h, w = thumb.image.shape[:2]
        sheet.paste(Image.fromarray(thumb.image), (x + (tile - w) // 2, y + (tile - h) // 2))
        small.draw(draw, (x, y + tile + 4), f"frame {thumb.frame} · {thumb.time - offset:.2f} s"
                   + (" · prompt" if thumb.prompt else ""),
                   fill=(170, 175, 185), anchor="la")
    y = header + rows * (tile_h + gap) + gap
    for line in lines:
        font.draw(draw, (gap + 10, y), line, fill=(235, 235, 235), anchor="la")
        y += line_h
    return np.asarray(sheet)


def _png(image: np.ndarray) -> bytes:
    """PNG at zlib level 1: a third of the default level's time on keyframes' noisy pixels, 20 % larger."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_contact_sheets(result: CaptionResult, thumbs: dict[int, list[Thumbnail]], out: Path) -> dict[int, str]:
    """``<class>-<id>.png`` per track; returns the file name per track id."""
    names = {}
    for track in result.tracks:
        names[track.id] = sheet_name(track)
        atomic_write_bytes(out / names[track.id], _png(contact_sheet(result, track, thumbs[track.id])))
    return names


# -- report.html --

def _data_uri(image: np.ndarray) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(encode_photo(image, jpeg=True)).decode("ascii")


def visible_spans(track: Track, stride: int, hold: float) -> list[tuple[float, float]]:
    """The source-time spans where the track is seen: a new span after each processed frame it is missing from."""
    spans: list[tuple[float, float]] = []
    previous = None
    for f in track.frames:
        if previous is not None and f.index - previous.index <= stride:
            spans[-1] = (spans[-1][0], f.time + hold)
        else:
            spans.append((f.time, f.time + hold))
        previous = f
    return spans


def _track_data(result: CaptionResult, track: Track, thumbs: list[Thumbnail], files: dict[str, str]) -> dict:
    offset = result.start_time
    hold = result.hold
    spans = visible_spans(track, result.frame_range.stride, hold)
    return {
        "id": track.id, "class": track.class_name, "label": track.label, "colour": track.colour_hex,
        "start": round(track.first.time - offset, 4), "end": round(track.last.time + hold - offset, 4),
        "spans": [[round(a - offset, 4), round(b - offset, 4)] for a, b in spans],
        "frames": len(track.frames), "score": round(track.mean_score, 4),
        "captions": [{"start": round(c.start - offset, 4), "end": round(c.end - offset, 4), "text": c.text}
                     for c in track.captions],
        "thumbs": [{"frame": t.frame, "time": round(t.time - offset, 4), "src": _data_uri(t.image), "prompt": t.prompt,
                    "seen": t.seen} for t in thumbs],
        "vtt": vtt_document(track_cues(result, track), track.label),
        "files": files,
    }


def _models_table(models: dict) -> dict:
    """Each model's name, revision and licence as captions.json records them (looked up again, offline, for a
    file written before videocap recorded them)."""
    about = models.get("about") or {}
    table = {}
    for role in ("segmentation", "captioning"):
        record = about.get(role) or model_record(models.get(role), local_model_path(models[role], hub=False)
                                                 if models.get(role) else None)
        table.update({role: models.get(role), f"{role} revision": record.get("revision"),
                      f"{role} licence": record.get("licence")})
    return {**table, "prompt_style": models.get("prompt_style"), "videocap": __version__}


def _run_tables(result: CaptionResult) -> dict[str, dict]:
    data = result.to_json()
    video = dict(data["video"], sha256=data.get("video_sha256"))
    tracking = {k: v for k, v in data["settings"].items() if k != "tracker"}
    return {"Video": video, "Range": data["range"], "Models": _models_table(data["models"]),
            "Tracking": tracking, "Tracker (ByteTrack)": data["settings"]["tracker"], "Captioning": data["captioning"],
            "Timings (seconds)": data["timing"]}


def _in_set(out: Path, name: str) -> bool:
    """Whether the set being written in ``out`` holds ``name``: written now, or (``out`` a staging folder)
    kept from the previous set in the folder above."""
    return (out / name).is_file() or (out.name.startswith(STAGING_PREFIX) and (out.parent / name).is_file())


def report_data(result: CaptionResult, thumbs: dict[int, list[Thumbnail]], out: Path) -> dict:
    """What report.html shows, as the JSON its script reads."""
    outputs = result.outputs or {}
    video_file = outputs.get("video") if outputs.get("video") and _in_set(out, outputs["video"]) else None
    tracks = []
    for track in result.tracks:
        files = dict((outputs.get("tracks") or {}).get(str(track.id), {}))
        if (out / sheet_name(track)).is_file():
            files["contact sheet"] = sheet_name(track)
        tracks.append(_track_data(result, track, thumbs.get(track.id, []), files))
    links = {k: outputs[k] for k in ("captions", "mkv", "ass") if k in outputs}
    return {"title": Path(result.video.path).name, "version": __version__, "video_file": video_file,
            "duration": round(result.end_time - result.start_time, 4), "language": result.settings.language,
            "source": result.video.path, "tracks": tracks, "links": links, "run": _run_tables(result),
            "summary": {"tracks": len(result.tracks), "captions": result.caption_count,
                        "classes": ", ".join(result.tracking.settings.classes) or "none (region prompts)", "overlay": result.settings.overlay}}


def _asset(name: str) -> str:
    return (REPORT_DIR / name).read_text(encoding="utf-8")


def _script_json(data: dict) -> str:
    """JSON that cannot end its <script> element early (every '<' escaped)."""
    return json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")


def report_html(data: dict) -> str:
    """The page: static parts here, the rest built by report.js from ``data``; the empty icon spares servers a
    request for /favicon.ico."""
    title = html.escape(data["title"])
    summary = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in data["summary"].items())
    links = "".join(f'<li><a href="{html.escape(v)}">{html.escape(v)}</a></li>' for v in data["links"].values())
    player = (f'<video id="video" controls preload="auto" src="{html.escape(data["video_file"])}"></video>'
              if data["video_file"] else
              '<p class="missing">No captioned video in this folder (make it with <code>videocap render</code>).</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="videocap {html.escape(data['version'])}">
<link rel="icon" href="data:,">
<title>{title} · videocap report</title>
<style>{_asset('report.css')}</style></head>
<body>
<header><h1>{title}</h1><span class="sub">{html.escape(data['source'])}</span>
<span class="sub">videocap {html.escape(data['version'])}</span></header>
<main>
<section id="player">{player}</section>
<aside id="controls"><h2>Objects</h2>
<label class="field">Class <select id="class-filter"><option value="">all classes</option></select></label>
<label class="field">Search captions <input id="search" type="search" placeholder="e.g. red"></label>
<p id="shown"></p><dl>{summary}</dl><ul>{links}</ul></aside>
<section id="timeline"><h2>Timeline</h2><div id="lanes"></div></section>
<section id="tracks"><h2>Tracks: the keyframes DAM saw and its captions</h2><div id="cards" class="grid"></div></section>
<section id="run"><h2>The run</h2><div id="tables" class="tables"></div></section>
</main>
<script type="application/json" id="report-data">{_script_json(data)}</script>
<script>{_asset('report.js')}</script>
</body></html>
"""


def _open_source(result: CaptionResult) -> Video | None:
    try:
        return Video(result.video.path)
    except UserError:
        return None


def write_report(result: CaptionResult, out: Path, video: Video | None = None) -> dict[str, float]:
    """``report.html`` and the contact sheets in ``out``; the keyframes come from ``video`` (the source; None:
    opened from the path the result records, and left out when it is gone). Returns the timing."""
    started = time.perf_counter()
    video = video or _open_source(result)
    thumbs = keyframe_thumbnails(result, video) if video is not None else {t.id: [] for t in result.tracks}
    result.outputs["contact_sheets"] = {str(k): v for k, v in write_contact_sheets(result, thumbs, out).items()}
    result.outputs["report"] = REPORT
    atomic_write_text(out / REPORT, report_html(report_data(result, thumbs, out)))
    return {"report_seconds": round(time.perf_counter() - started, 3),
            "report_keyframes": sum(len(v) for v in thumbs.values())}


# -- the index of a batch --

def _batch_row(row: dict, out: Path) -> str:
    folder = Path(row.get("folder") or "")
    status = str(row.get("status") or "")
    link = folder / REPORT
    if not folder.is_absolute():
        link = Path(out) / link
    name = html.escape(str(row.get("video") or folder.name))
    href = Path(os.path.relpath(link, out)).as_posix()
    video = f'<a href="{html.escape(href)}">{name}</a>' if link.is_file() else name
    cells = [f'<td data-sort="{name}">{video}</td>',
             f'<td class="status-{html.escape(safe_name(status.lower()))}">{html.escape(status)}</td>']
    for key in ("tracks", "captions"):
        value = row.get(key)
        cells.append(f'<td class="num" data-sort="{"" if value is None else int(value)}">'
                     f'{"—" if value is None else int(value)}</td>')
    cells.append(f'<td class="error">{html.escape(str(row.get("error") or ""))}</td>')
    return "<tr>" + "".join(cells) + "</tr>"


def batch_index_html(rows: list[dict], out: Path) -> str:
    failed = sum(1 for r in rows if str(r.get("status", "")).lower() not in ("ok", "done", "skipped"))
    totals = f"{len(rows)} video(s), {failed} not ok, {sum(int(r.get('tracks') or 0) for r in rows)} track(s), " \
             f"{sum(int(r.get('captions') or 0) for r in rows)} caption(s)"
    body = "\n".join(_batch_row(row, out) for row in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="videocap {html.escape(__version__)}">
<link rel="icon" href="data:,">
<title>videocap batch · {len(rows)} videos</title>
<style>{_asset('report.css')}</style></head>
<body>
<header><h1>videocap batch</h1><span class="sub" id="totals">{html.escape(totals)}</span>
<span class="sub">videocap {html.escape(__version__)}</span></header>
<main class="batch-main"><section>
<table id="batch"><thead><tr><th>video</th><th>status</th><th>tracks</th><th>captions</th><th>error</th></tr></thead>
<tbody>
{body}
</tbody></table></section></main>
<script>{_asset('batch.js')}</script>
</body></html>
"""


def write_batch_index(rows: list[dict], out_dir: str | Path) -> Path:
    """``index.html`` in ``out_dir``: a sortable table of a batch's videos (keys of each row: video, folder,
    status, error, tracks, captions), each linking its report when the folder has one (folders relative
    to ``out_dir`` or absolute)."""
    out = Path(out_dir)
    return atomic_write_text(out / BATCH_INDEX, batch_index_html(rows, out))
