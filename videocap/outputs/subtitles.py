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

import bisect
import itertools
import math
import re
from dataclasses import dataclass

from videocap.outputs.layout import (
    FONT_NAME,
    TextStyle,
    clean_text,
    font_chain,
    font_runs,
    load_font,
)
from videocap.outputs.placement import (
    CaptionBlock,
    Move,
    Rect,
    panel_on_right,
    place_captions,
)
from videocap.results import CaptionResult, Track, TrackFrame

ASS_CHUNK_SECONDS = 0.4  # a caption's position is updated (\move) at least this often
# Pixels that libass's box around a caption may reach past the measured text and its Outline on each side
# (x: antialiased glyph edges and subpixel advances; y: rounding), kept free around every caption.
ASS_SLACK = (2, 1)

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
class AssEvent:
    """One Dialogue line: a caption page of a track over a stretch in which it moves in a straight line."""

    track_id: int  # a "+N more" goes with the first track it stands for (in that track's MKV stream)
    start: float  # output timeline, seconds (whole centiseconds)
    end: float
    rect: Rect  # where the caption's box is at ``start``: libass draws it inside this rectangle
    end_rect: Rect  # and at ``end``
    side: str  # of its object (below, above, right, left), or "panel": in the side panel
    text: str  # ASS text of the caption page (label, then lines), or the panel's "+N more" (N captions left out)
    line: str


@dataclass(frozen=True)
class _Spot:
    """Where a track's caption is over one stretch; ``text``: what the panel shows instead ("+N more")."""

    rect: Rect
    end_rect: Rect
    side: str
    text: str | None = None


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

class AssWriter:
    """ASS events for tracks: each caption page shown while its object is visible, moving with it."""

    def __init__(self, result: CaptionResult) -> None:
        self.result = result
        info = result.video
        self.frame = (info.width, info.height)
        self.style = TextStyle.for_frame(info.width, info.height)
        # Pillow sizes a font by its em; libass (like VSFilter) so that its ascent + descent (OS/2
        # winAscent + winDescent; the same as the hhea values Pillow reports in Noto Sans CJK) is the
        # Fontsize, and sets lines that far apart. The Fontsize is that height at the em the text is
        # measured and wrapped at, unrounded (libass reads a real number): at 11 px, 15.93, not the 17 of
        # Pillow's metrics rounded up at 11 px, which made libass draw every caption 7% too large.
        ascent, descent = load_font(1000).getmetrics()
        self.font_size = round(self.style.font_size * (ascent + descent) / 1000, 2)
        self.line_height = self.font_size
        # BorderStyle 3 draws each line's box Outline pixels beyond its text on every side.
        self.outline = self.style.padding
        self.inset = (self.outline + ASS_SLACK[0], self.outline + ASS_SLACK[1])  # from a block's corner to \pos
        self.gap = 4  # between an object and its caption
        self.hold = result.hold
        self.frame_gap = result.frame_range.stride
        self._events: list[AssEvent] | None = None

    def header(self) -> str:
        w, h = self.frame
        return "\n".join([
            "[Script Info]",
            "; Made by videocap: each object's caption follows the object",
            "ScriptType: v4.00+",
            f"PlayResX: {w}",
            f"PlayResY: {h}",
            "WrapStyle: 2",
            "ScaledBorderAndShadow: yes",
            "Kerning: yes",  # libass leaves kerning off without it; the text was measured (and is drawn) kerned
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
            "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
            "MarginL, MarginR, MarginV, Encoding",
            f"Style: Caption,{FONT_NAME},{self.font_size:g},&H00FFFFFF,&H00FFFFFF,&H50141414,&H00000000,0,0,0,0,"
            f"100,100,0,0,3,{self.outline},0,7,0,0,0,1",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        ]) + "\n"

    def document(self, tracks: list[Track] | None = None) -> str:
        """The ASS file of ``tracks`` (all by default).

        Captions are placed once, together, over all the result's tracks: the file of a single track (an
        MKV stream) has its captions where they are in the file of all, apart from the others' captions.
        """
        wanted = None if tracks is None else {track.id for track in tracks}
        lines = [event.line for event in self.events() if wanted is None or event.track_id in wanted]
        return self.header() + "".join(line + "\n" for line in lines)

    def events(self) -> list[AssEvent]:
        """Every track's events, placed together (computed once), track by track in time order."""
        if self._events is None:
            pieces = [piece for track in self.result.tracks for piece in self._pieces(track)]
            self._events = self._place_all(pieces)
        return self._events

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
                        size = self._block_size([label, *page])
                        text = head + "\\N" + "\\N".join(ass_line(line) for line in page)
                        pieces.append(_Piece(track.id, t0, t1, a, b, size, text, name))
        return pieces

    def _block_size(self, lines: list[str]) -> tuple[int, int]:
        """Width and height of a caption block: the box libass draws around ``lines`` (one a line, all in the
        caption font, Outline beyond the text on each side), with ASS_SLACK to spare."""
        width = math.ceil(max(self.style.font.getlength(line) for line in lines))
        height = math.ceil(len(lines) * self.line_height)
        return width + 2 * self.inset[0], height + 2 * self.inset[1]

    def _place_all(self, pieces: list[_Piece]) -> list[AssEvent]:
        """The pieces as events, cut wherever any piece starts or ends and placed together in every stretch.

        In each stretch between two such times (whole centiseconds, as ASS has them) the captions then on
        screen are placed together, in track order, next to their objects (below, above, right, left; the
        side of the stretch before first) where, moving with its object in a straight line, each covers no
        caption placed before it and, if possible, no other object, at any moment of the stretch; a caption
        that fits nowhere near its object stands still in the side panel (``_place_stretch``), so no two
        captions ever share a pixel. Placing all tracks together once is what keeps the captions of one
        track's file (an MKV stream) clear of the others'.
        """
        offset = self.result.start_time
        last = round((self.result.end_time - offset) * 100)
        spans = [(min(max(round((p.t0 - offset) * 100), 0), last), min(max(round((p.t1 - offset) * 100), 0), last))
                 for p in pieces]
        times = sorted({c for span in spans for c in span})
        order = sorted((n for n, (c0, c1) in enumerate(spans) if c1 > c0), key=lambda n: spans[n][0])
        rank = {track.id: k for k, track in enumerate(self.result.tracks)}
        stretches: dict[int, list[tuple]] = {}  # piece -> [(c0, c1, _Spot), ...]
        previous: dict[int, str] = {}  # track -> side chosen in the stretch before
        active: list[int] = []
        next_piece = 0
        for c, d in itertools.pairwise(times):
            while next_piece < len(order) and spans[order[next_piece]][0] <= c:
                active.append(order[next_piece])
                next_piece += 1
            active = [n for n in active if spans[n][1] > c]  # so spans[n][1] >= d: every span end is in times
            by_track: dict[int, list[int]] = {}
            for n in sorted(active, key=lambda n: rank.get(pieces[n].track_id, len(rank))):
                by_track.setdefault(pieces[n].track_id, []).append(n)
            ends = {tid: (self._box_at(pieces[ns[0]].a, pieces[ns[0]].b, offset + c / 100),
                          self._box_at(pieces[ns[0]].a, pieces[ns[0]].b, offset + d / 100))
                    for tid, ns in by_track.items()}
            paths = {tid: Move(Rect.of(a), Rect.of(b)) for tid, (a, b) in ends.items()}
            sizes = {tid: (max(pieces[n].size[0] for n in ns), max(pieces[n].size[1] for n in ns))
                     for tid, ns in by_track.items()}
            spots = self._place_stretch(sizes, paths, previous)
            for track_id, ns in by_track.items():
                spot = spots.get(track_id)  # None: in the panel's "+N more"
                for n in ([] if spot is None else ns[:1] if spot.text else ns):
                    stretches.setdefault(n, []).append((c, d, spot))
        return self._stretch_events(pieces, stretches)

    def _stretch_events(self, pieces: list[_Piece], stretches: dict[int, list[tuple]]) -> list[AssEvent]:
        """One event per piece and stretch (centiseconds), a still caption's stretches merged into one \\pos."""
        events: list[AssEvent] = []
        ix, iy = self.inset
        for n, piece in enumerate(pieces):
            for c, d, spot in stretches.get(n, []):
                rect, end_rect, text = spot.rect, spot.end_rect, spot.text or piece.text
                before = events[-1] if events else None
                if (before is not None and before.track_id == piece.track_id and before.end == c / 100
                        and before.text == text and before.rect == before.end_rect == rect == end_rect):
                    c = round(before.start * 100)  # still, and the same text as just before: one \pos event
                    events.pop()
                start_xy, end_xy = (rect.x0 + ix, rect.y0 + iy), (end_rect.x0 + ix, end_rect.y0 + iy)
                where = ("\\pos(%d,%d)" % start_xy if start_xy == end_xy
                         else "\\move(%d,%d,%d,%d)" % (*start_xy, *end_xy))
                line = (f"Dialogue: 0,{ass_time(c / 100)},{ass_time(d / 100)},Caption,{piece.name},0,0,0,,"
                        f"{{\\an7{where}}}{text}")
                events.append(AssEvent(piece.track_id, c / 100, d / 100, rect, end_rect, spot.side, text, line))
        return events

    def _place_stretch(self, sizes: dict[int, tuple[int, int]], paths: dict[int, Move],
                       previous: dict[int, str]) -> dict[int, _Spot]:
        """Where the captions of one stretch go (``place_captions``, as in the drawn video): track -> spot (none
        for those the panel's "+N more" stands for). ``sizes``: each track's caption block, in track order;
        ``paths``: each object's box moving over the stretch; ``previous``: each track's side in the stretch
        before, updated. A caption in the side panel stands still."""
        tracks = list(sizes)
        blocks = [CaptionBlock(paths[tid], sizes[tid], sizes[tid], prefer=previous.get(tid)) for tid in tracks]
        centres = [(box.x0 + box.x1) / 2 for path in paths.values() for box in (path.start, path.end)]
        layout = place_captions(blocks, self.frame, [], [], self.gap, panel_on_right(centres, self.frame[0]),
                                lambda count: self._block_size([f"+{count} more"]))
        previous.update((tracks[n], spot.side) for n, spot in layout.near.items())
        spots = {tracks[n]: _Spot(spot.rect, spot.end_rect, spot.side) for n, spot in layout.near.items()}
        spots.update((tracks[n], _Spot(rect, rect, "panel")) for n, rect in layout.panel.items())
        if layout.more is not None:  # in the place of the first caption it stands for
            more = f"+{len(layout.hidden)} more"
            spots[tracks[layout.hidden[0]]] = _Spot(layout.more, layout.more, "panel", more)
        return spots

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
        """(time, box) pairs at the ends of pieces over a run of frames: its first and last frames, the times
        between them on a grid of ASS_CHUNK_SECONDS from the range's start (the same grid for every track, so
        the tracks shown together are cut at the same times), and the run's end."""
        start = self.result.start_time
        times = [frame.time for frame in run]
        points = [(run[0].time, run[0].box)]
        k = math.floor((run[0].time - start) / ASS_CHUNK_SECONDS) + 1
        while (grid := start + k * ASS_CHUNK_SECONDS) < run[-1].time - 1e-6:
            if grid > points[-1][0] + 1e-6:
                i = bisect.bisect_right(times, grid)  # run[i - 1].time <= grid < run[i].time
                before, after = run[i - 1], run[i]
                points.append((grid, self._box_at((before.time, before.box), (after.time, after.box), grid)))
            k += 1
        if run[-1].time > points[-1][0]:
            points.append((run[-1].time, run[-1].box))
        points.append((max(run_end, points[-1][0]), points[-1][1]))
        return [(p, q) for p, q in zip(points, points[1:]) if q[0] > p[0]]
