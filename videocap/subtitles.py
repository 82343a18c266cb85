"""Subtitles per object: SRT and WebVTT per track, and one ASS file whose captions follow their objects.

Times are on the captioned video's timeline: 0 is the first frame of the captioned range (the same
as the source's time when the whole video was captioned).

Escaping, so a caption can never break its file or turn into markup:
- every format: control characters dropped and whitespace runs (newlines too) made one space, so
  no caption holds a blank line that would end its cue early;
- SRT: ``-->`` becomes ``->``; ``<`` before a letter or ``/`` becomes ``‹`` and ``{\\`` becomes
  ``｛\\`` (players read HTML-like tags and ASS override blocks in SRT);
- WebVTT: ``&``, ``<`` and ``>`` become ``&amp;``, ``&lt;`` and ``&gt;`` (so ``-->`` cannot appear);
- ASS: ``{``, ``}`` and ``\\`` become the full-width ``｛``, ``｝`` and ``＼`` (ASS has no escape for
  override blocks or ``\\N``); commas cannot reach the Name field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from videocap.layout import FONT_NAME, TextStyle, clean_text, font_chain, font_runs
from videocap.results import CaptionResult, Track, TrackFrame

ASS_CHUNK_SECONDS = 0.4  # a caption's position is updated (\move) at least this often

_SRT_TAG = re.compile(r"<(?=[A-Za-z/])")


def escape_srt(text: str) -> str:
    return _SRT_TAG.sub("‹", clean_text(text).replace("-->", "->").replace("{\\", "｛\\"))


def escape_vtt(text: str) -> str:
    return clean_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_ass(text: str) -> str:
    return _ass_chars(clean_text(text))


def _ass_chars(text: str) -> str:
    return text.replace("\\", "＼").replace("{", "｛").replace("}", "｝")


def ass_line(text: str) -> str:
    """``escape_ass(text)`` with each run that the main font lacks set in the fallback font drawn for it in the
    video (``\\fn`` override), so that a player with the Noto fonts (or the MKV's attachments) shows it."""
    chain = font_chain()
    parts = []
    for index, run in font_runs(clean_text(text)):
        body = _ass_chars(run)
        parts.append(body if index == 0 else "{\\fn%s}%s{\\fn%s}" % (chain[index][2], body, FONT_NAME))
    return "".join(parts)


def fonts_used(texts: list[str]) -> list[str]:
    """The files of the fallback fonts (not the main one) that ``texts`` need, for attaching to an MKV."""
    chain = font_chain()
    used = sorted({index for text in texts for index, _ in font_runs(clean_text(text))} - {0})
    return [chain[index][0] for index in used]


def _hms(seconds: float, unit: int) -> tuple[int, int, int, int]:
    ticks = max(0, round(seconds * unit))
    whole, frac = divmod(ticks, unit)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return hours, minutes, secs, frac


def srt_time(seconds: float) -> str:
    return "%02d:%02d:%02d,%03d" % _hms(seconds, 1000)


def vtt_time(seconds: float) -> str:
    return "%02d:%02d:%02d.%03d" % _hms(seconds, 1000)


def ass_time(seconds: float) -> str:
    return "%d:%02d:%02d.%02d" % _hms(seconds, 100)


def _overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass(frozen=True)
class _Piece:
    """A stretch of one caption page on screen, between two chunk ends of its track."""

    track_id: int
    t0: float  # source time
    t1: float
    a: tuple  # (time, box) at the chunk's start
    b: tuple  # (time, box) at the chunk's end
    size: tuple[int, int]
    text: str  # ASS text: coloured label, then the page's lines
    name: str


@dataclass(frozen=True)
class Cue:
    start: float  # output timeline, seconds
    end: float
    text: str  # raw caption text (escaped by each writer)


def track_cues(result: CaptionResult, track: Track) -> list[Cue]:
    """One cue per caption of the track, over the span it covers, on the output timeline."""
    offset, length = result.start_time, result.end_time - result.start_time
    cues = []
    for caption in track.captions:
        start = min(max(caption.start - offset, 0.0), length)
        end = min(max(caption.end - offset, start), length)
        if end - start >= 0.001 and clean_text(caption.text):
            cues.append(Cue(start, end, caption.text))
    return cues


def srt_document(cues: list[Cue]) -> str:
    blocks = [f"{n}\n{srt_time(c.start)} --> {srt_time(c.end)}\n{escape_srt(c.text)}\n"
              for n, c in enumerate(cues, 1)]
    return "\n".join(blocks)


def vtt_voice(label: str) -> str:
    """A voice annotation: no '>' and no line break can end it early."""
    return escape_vtt(label)


def vtt_document(cues: list[Cue], label: str) -> str:
    lines = ["WEBVTT", ""]
    for n, cue in enumerate(cues, 1):
        lines += [str(n), f"{vtt_time(cue.start)} --> {vtt_time(cue.end)}",
                  f"<v {vtt_voice(label)}>{escape_vtt(cue.text)}</v>", ""]
    return "\n".join(lines)


# -- ASS --

def place_near(box: tuple[float, float, float, float], size: tuple[int, int], frame: tuple[int, int],
               gap: int = 4) -> tuple[int, int]:
    """Top-left corner for a block of ``size`` just below the box, else above it, kept inside the frame."""
    width, height = size
    frame_w, frame_h = frame
    x0, y0, x1, y1 = box
    x = int(min(max(x0, 0), max(frame_w - width, 0)))
    y = y1 + gap
    if y + height > frame_h:
        y = y0 - gap - height if y0 - gap - height >= 0 else frame_h - height
    return x, int(max(0, y))


class AssWriter:
    """ASS events for tracks: each caption page shown while its object is visible, moving with it."""

    def __init__(self, result: CaptionResult) -> None:
        self.result = result
        info = result.video
        self.frame = (info.width, info.height)
        self.style = TextStyle.for_frame(info.width, info.height)
        ascent, descent = self.style.font.getmetrics()
        # libass sizes a font by its ascent + descent; Pillow by its em: match the em.
        self.font_size = ascent + descent
        self.line_height = ascent + descent
        self.hold = result.frame_range.stride / max(info.fps, 1e-6)
        self.frame_gap = result.frame_range.stride

    def header(self) -> str:
        w, h = self.frame
        style = self.style
        return "\n".join([
            "[Script Info]",
            "; Made by videocap: each object's caption follows the object",
            "ScriptType: v4.00+",
            f"PlayResX: {w}",
            f"PlayResY: {h}",
            "WrapStyle: 2",
            "ScaledBorderAndShadow: yes",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
            "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
            "MarginL, MarginR, MarginV, Encoding",
            f"Style: Caption,{FONT_NAME},{self.font_size},&H00FFFFFF,&H00FFFFFF,&H50141414,&H00000000,0,0,0,0,"
            f"100,100,0,0,3,{max(1, style.padding // 2)},0,7,0,0,0,1",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        ]) + "\n"

    def document(self, tracks: list[Track] | None = None) -> str:
        """The ASS file of ``tracks`` (all by default); captions shown together are kept apart."""
        tracks = self.result.tracks if tracks is None else tracks
        pieces = [piece for track in tracks for piece in self._pieces(track)]
        positions = self._place_all(pieces)
        offset, length = self.result.start_time, self.result.end_time - self.result.start_time
        lines = []
        for n, piece in enumerate(pieces):
            start_xy, end_xy = positions[n, 0], positions[n, 1]
            where = "\\pos(%d,%d)" % start_xy if start_xy == end_xy else "\\move(%d,%d,%d,%d)" % (*start_xy, *end_xy)
            s, e = max(piece.t0 - offset, 0.0), min(piece.t1 - offset, length)
            if e - s >= 0.01:
                lines.append(f"Dialogue: 0,{ass_time(s)},{ass_time(e)},Caption,{piece.name},0,0,0,,"
                             f"{{\\an7{where}}}{piece.text}")
        return self.header() + "".join(line + "\n" for line in lines)

    def _pieces(self, track: Track) -> list[_Piece]:
        """The track's caption pages cut at its chunk ends, with the text and size of each (not placed yet)."""
        label = track.label
        name = label.replace(",", " ")
        r, g, b = track.colour
        head = "{\\c&H%02X%02X%02X&}%s{\\c&HFFFFFF&}" % (b, g, r, ass_line(label))
        pieces = []
        for caption in track.captions:
            pages = self.style.pages(caption.text)
            if not pages:
                continue
            span = caption.end - caption.start
            frames = [f for f in track.frames if caption.first_frame <= f.index <= caption.last_frame]
            for run in self._runs(frames):
                run_end = min(run[-1].time + self.hold, caption.end)
                for a, b in self._chunks(run, run_end):
                    for page_no, page in enumerate(pages):
                        t0 = max(a[0], caption.start + span * page_no / len(pages))
                        t1 = min(b[0], caption.start + span * (page_no + 1) / len(pages))
                        if t1 - t0 < 0.01:
                            continue
                        width = max([self.style.font.getlength(line) for line in page]
                                    + [self.style.label_font.getlength(label)])
                        size = (int(width) + 2 * self.style.padding, (len(page) + 1) * self.line_height)
                        text = head + "\\N" + "\\N".join(ass_line(line) for line in page)
                        pieces.append(_Piece(track.id, t0, t1, a, b, size, text, name))
        return pieces

    def _place_all(self, pieces: list[_Piece]) -> dict[tuple[int, int], tuple[int, int]]:
        """Top-left corners of every piece at its start (0) and end (1).

        At each time where a piece starts or ends, the captions then on screen are placed together, in
        track order, next to their objects (below, above, right, left) where they overlap no caption placed
        before them and, if possible, no other object; a caption that fits nowhere goes just below or above
        its object regardless.
        """
        times = sorted({p.t0 for p in pieces} | {p.t1 for p in pieces})
        order = sorted(range(len(pieces)), key=lambda n: pieces[n].t0)
        active: list[int] = []
        next_piece = 0
        positions: dict[tuple[int, int], tuple[int, int]] = {}
        previous: dict[int, str] = {}
        for t in times:
            while next_piece < len(order) and pieces[order[next_piece]].t0 <= t:
                active.append(order[next_piece])
                next_piece += 1
            active = [n for n in active if pieces[n].t1 >= t]
            here = [n for n in active if pieces[n].t0 == t or pieces[n].t1 == t]
            if not here:
                continue
            by_track: dict[int, list[int]] = {}
            for n in sorted(active, key=lambda n: pieces[n].track_id):
                by_track.setdefault(pieces[n].track_id, []).append(n)
            boxes = {tid: self._box_at(pieces[ns[0]].a, pieces[ns[0]].b, t) for tid, ns in by_track.items()}
            placed: list[tuple[int, int, int, int]] = []
            for track_id, ns in by_track.items():
                size = (max(pieces[n].size[0] for n in ns), max(pieces[n].size[1] for n in ns))
                others = [box for other, box in boxes.items() if other != track_id]
                xy = self._spot(boxes[track_id], size, placed, others, previous, track_id)
                placed.append((xy[0], xy[1], xy[0] + size[0], xy[1] + size[1]))
                for n in ns:
                    if pieces[n].t0 == t:
                        positions[n, 0] = xy
                    if pieces[n].t1 == t:
                        positions[n, 1] = xy
        return positions

    def _spot(self, box, size, placed, others, previous: dict, track_id: int) -> tuple[int, int]:
        width, height = size
        frame_w, frame_h = self.frame
        x0, y0, x1, y1 = box
        gap = 4
        clamp_x = int(min(max(x0, 0), max(frame_w - width, 0)))
        clamp_y = int(min(max(y0, 0), max(frame_h - height, 0)))
        candidates = {"below": (clamp_x, int(y1) + gap), "above": (clamp_x, int(y0) - gap - height),
                      "right": (int(x1) + gap, clamp_y), "left": (int(x0) - gap - width, clamp_y)}
        last = previous.get(track_id)
        names = ([last] if last in candidates else []) + [k for k in candidates if k != last]
        own = tuple(int(v) for v in box)
        for avoid_objects in (True, False):
            for name in names:
                x, y = candidates[name]
                rect = (x, y, x + width, y + height)
                if x < 0 or y < 0 or rect[2] > frame_w or rect[3] > frame_h:
                    continue
                if _overlaps(rect, own) or any(_overlaps(rect, r) for r in placed):
                    continue
                if avoid_objects and any(_overlaps(rect, tuple(int(v) for v in o)) for o in others):
                    continue
                previous[track_id] = name
                return x, y
        return place_near(box, size, self.frame, gap)

    def _runs(self, frames: list[TrackFrame]) -> list[list[TrackFrame]]:
        """Consecutive visible frames (a gap longer than the stride ends a run)."""
        runs: list[list[TrackFrame]] = []
        for frame in frames:
            if runs and frame.index - runs[-1][-1].index <= self.frame_gap:
                runs[-1].append(frame)
            else:
                runs.append([frame])
        return runs

    @staticmethod
    def _box_at(a: tuple, b: tuple, t: float) -> tuple[float, float, float, float]:
        """The box linearly interpolated between chunk ends ``a`` and ``b`` (time, box) at time ``t``."""
        (ta, box_a), (tb, box_b) = a, b
        w = 0.0 if tb <= ta else min(max((t - ta) / (tb - ta), 0.0), 1.0)
        return tuple(p + (q - p) * w for p, q in zip(box_a, box_b))

    def _chunks(self, run: list[TrackFrame], run_end: float) -> list[tuple[tuple, tuple]]:
        """(time, box) pairs at the ends of pieces of about ASS_CHUNK_SECONDS over a run of frames."""
        points = [(run[0].time, run[0].box)]
        for frame in run[1:]:
            if frame.time - points[-1][0] >= ASS_CHUNK_SECONDS - 1e-6:
                points.append((frame.time, frame.box))
        if run[-1].time > points[-1][0]:
            points.append((run[-1].time, run[-1].box))
        points.append((max(run_end, points[-1][0]), points[-1][1]))
        return [(p, q) for p, q in zip(points, points[1:]) if q[0] > p[0]]

