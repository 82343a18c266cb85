"""Drawing captions onto frames and photos, and the captioned video.

Each object gets its mask drawn in its track's colour (``overlay``: an outline over a light tint by
default, so that the object's own colours stay recognisable; a strong tint; or none) and a box, a label (``circle #3``)
and its caption in a word-wrapped box next to it: below the object, else above, right or left,
wherever the box fits inside the frame without covering another caption, label or object. A caption
that fits nowhere near its object goes to a side panel. Long captions are shown as pages of a few
lines over the time the caption covers. Text bitmaps are made once per caption page and reused.

The captioned video holds the captioned range (a frame between two processed frames of a ``--stride``
run shows the last processed one's objects) on the source's timeline from the range's start, at a
constant frame rate (see ``render_video``), as H.264 yuv420p with the source's audio cut to the range.
"""

from __future__ import annotations

import math
import time
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from videocap.errors import UserError
from videocap.io.encode import H264Writer
from videocap.io.video import Video
from videocap.masks import BoxMask
from videocap.outputs.layout import TextStyle, page_at
from videocap.outputs.placement import (
    CaptionBlock,
    Rect,
    panel_on_right,
    place_captions,
)
from videocap.progress import progress_bar
from videocap.results import CaptionResult, FrameRange

MASK_ALPHA = 0.45  # the "tint" overlay
OUTLINE_TINT_ALPHA = 0.12  # the light tint under the "outline" overlay
BOX_ALPHA = 200  # opacity of caption boxes (0-255)


@dataclass
class DrawObject:
    """One object to draw on an image."""

    key: Hashable  # identifies the object across frames (its caption bitmaps are cached under it)
    label: str
    colour: tuple[int, int, int]
    box: tuple[float, float, float, float]
    mask: BoxMask | None
    lines: list[str]  # the caption page to show ([] for none)
    page_key: Hashable = None  # identifies ``lines`` (caption and page) for the bitmap cache


def _text_colour(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = colour
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def draw_mask(image: np.ndarray, mask: BoxMask, colour: tuple[int, int, int], overlay: str, thickness: int) -> None:
    """Draw ``mask`` on ``image`` in place in the ``overlay`` style ("outline", "tint" or "none")."""
    if overlay == "none" or not (mask.width and mask.height):
        return
    alpha = MASK_ALPHA if overlay == "tint" else OUTLINE_TINT_ALPHA
    region = image[mask.y0:mask.y0 + mask.height, mask.x0:mask.x0 + mask.width]
    inside = mask.crop
    blended = region[inside] * (1.0 - alpha) + np.array(colour, np.float32) * alpha
    region[inside] = (blended + 0.5).astype(np.uint8)
    if overlay == "outline":
        contours, _ = cv2.findContours(inside.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(image, contours, -1, colour, max(2, thickness), cv2.LINE_AA, offset=(mask.x0, mask.y0))


def blit(image: np.ndarray, bitmap: np.ndarray, x: int, y: int) -> None:
    """Alpha-composite an RGBA bitmap onto an RGB image at (x, y), clipped to the image."""
    height, width = image.shape[:2]
    bh, bw = bitmap.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + bw, width), min(y + bh, height)
    if x0 >= x1 or y0 >= y1:
        return
    src = bitmap[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = src[..., 3:4].astype(np.float32) / 255.0
    region = image[y0:y1, x0:x1]
    region[:] = (region * (1.0 - alpha) + src[..., :3] * alpha + 0.5).astype(np.uint8)


class Overlay:
    """Draws masks, boxes, labels and captions on images of one size."""

    def __init__(self, size: tuple[int, int], style: TextStyle | None = None, overlay: str = "outline") -> None:
        self.width, self.height = size
        self.overlay = overlay
        self.style = style or TextStyle.for_frame(*size)
        self.thickness = max(1, round(min(size) / 240))
        self.margin = max(2, self.style.padding)
        self._bitmaps: dict = {}
        self._panel_sizes: dict = {}  # ("panel", object key, page key) -> its caption block's size in the side panel
        self._choice: dict = {}  # object key -> last placement side, kept while it still fits (no flicker)
        self.caption_rects: list[Rect] = []  # where the last draw() put caption boxes (near objects and in the panel)
        self.label_rects: list[Rect] = []  # and the labels

    # -- bitmaps --

    def _block_size(self, lines: list[str], label: str | None = None) -> tuple[int, int]:
        """Width and height of the box ``_text_block`` draws around ``lines`` (under ``label``)."""
        style = self.style
        widths = [style.font.getlength(line) for line in lines] + ([style.label_font.getlength(label)] if label else [])
        width = max(widths + [0])
        rows = len(lines) + (1 if label else 0)
        return int(width) + 2 * style.padding + 2, rows * style.line_height + 2 * style.padding

    def _text_block(self, lines: list[str], colour: tuple[int, int, int], label: str | None = None) -> np.ndarray:
        style = self.style
        font, label_font = style.font, style.label_font
        size = self._block_size(lines, label)
        img = Image.new("RGBA", size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        draw.rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius=style.padding, fill=(16, 16, 16, BOX_ALPHA),
                               outline=colour + (255,), width=max(1, self.thickness))
        baseline = style.padding + round(style.font_size * 0.9)
        if label:
            label_font.draw(draw, (style.padding + 1, baseline), label, fill=colour + (255,))
            baseline += style.line_height
        for line in lines:
            font.draw(draw, (style.padding + 1, baseline), line, fill=(255, 255, 255, 255))
            baseline += style.line_height
        return np.asarray(img)

    def _label(self, obj: DrawObject) -> np.ndarray:
        key = ("label", obj.key, obj.label)
        if key not in self._bitmaps:
            font = self.style.label_font
            ascent, descent = font.getmetrics()
            pad = max(1, self.style.padding // 2)
            size = (int(font.getlength(obj.label)) + 2 * pad + 1, ascent + descent + 2 * pad - descent // 2)
            img = Image.new("RGBA", size, obj.colour + (255,))
            font.draw(ImageDraw.Draw(img), (pad, pad + ascent - descent // 4), obj.label,
                      fill=_text_colour(obj.colour) + (255,))
            self._bitmaps[key] = np.asarray(img)
        return self._bitmaps[key]

    def _caption(self, obj: DrawObject, with_label: bool) -> np.ndarray:
        key = ("caption", obj.key, obj.page_key, with_label)
        if key not in self._bitmaps:
            self._bitmaps[key] = self._text_block(obj.lines, obj.colour, obj.label if with_label else None)
        return self._bitmaps[key]

    def _panel_size(self, obj: DrawObject) -> tuple[int, int]:
        """The size of the object's caption block in the side panel (under its label), measured without drawing
        it: most captions are placed near their objects and never need that bitmap."""
        key = ("panel", obj.key, obj.page_key)  # keyed like _bitmaps, for forget()
        if key not in self._panel_sizes:
            self._panel_sizes[key] = self._block_size(obj.lines, obj.label)
        return self._panel_sizes[key]

    def forget(self, key: Hashable) -> None:
        """Drop the cached bitmaps and sizes of an object that will not be seen again."""
        for cache in (self._bitmaps, self._panel_sizes):
            for cache_key in [k for k in cache if k[1] == key]:
                del cache[cache_key]
        self._choice.pop(key, None)

    # -- drawing --

    def draw(self, image: np.ndarray, objects: list[DrawObject]) -> np.ndarray:
        out = np.array(image, dtype=np.uint8, copy=True)
        for obj in objects:
            if obj.mask is not None:
                draw_mask(out, obj.mask, obj.colour, self.overlay, self.thickness)
        for obj in objects:
            x0, y0, x1, y1 = (int(round(v)) for v in obj.box)
            cv2.rectangle(out, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), obj.colour, self.thickness)
        labels: list[Rect] = []
        for obj in objects:
            bitmap = self._label(obj)
            bh, bw = bitmap.shape[:2]
            x = int(min(max(obj.box[0], 0), max(self.width - bw, 0)))
            y = int(obj.box[1]) - bh
            if y < 0:
                y = int(max(obj.box[1], 0))
            blit(out, bitmap, x, y)
            labels.append(Rect.at(x, y, (bw, bh)))
        captions = self._place_captions(objects, labels)
        for bitmap, rect in captions:
            blit(out, bitmap, rect.x0, rect.y0)
        self.caption_rects = [rect for _, rect in captions]
        self.label_rects = labels
        return out

    def _place_captions(self, objects: list[DrawObject], labels: list[Rect]) -> list[tuple[np.ndarray, Rect]]:
        """Each caption's bitmap and where it goes (``place_captions``): next to its object, else in the side
        panel under its label; the panel's "+N more" box last when the column cannot hold them all."""
        captioned = [obj for obj in objects if obj.lines]
        blocks = [CaptionBlock(Rect.of(obj.box), self._caption(obj, with_label=False).shape[1::-1],
                               self._panel_size(obj), self._label(obj).shape[0], self._choice.get(obj.key))
                  for obj in captioned]
        layout = place_captions(blocks, (self.width, self.height), labels,
                                [Rect.of(obj.box) for obj in objects if not obj.lines], self.margin,
                                panel_on_right([(o.box[0] + o.box[2]) / 2 for o in objects], self.width),
                                lambda count: self._more(count).shape[1::-1])
        self._choice.update((captioned[n].key, spot.side) for n, spot in layout.near.items())
        drawn = [(self._caption(captioned[n], with_label=False), spot.rect) for n, spot in layout.near.items()]
        drawn += [(self._caption(captioned[n], with_label=True), rect) for n, rect in layout.panel.items()]
        if layout.more is not None:
            drawn.append((self._more(len(layout.hidden)), layout.more))
        return drawn

    def _more(self, count: int) -> np.ndarray:
        """The panel's "+N more" box."""
        key = ("more", None, count)  # no object's key: forget() keeps it
        if key not in self._bitmaps:
            self._bitmaps[key] = self._text_block([f"+{count} more"], (200, 200, 200))
        return self._bitmaps[key]


# -- the captioned video --

class VideoOverlay:
    """What to draw on each frame of a captioned range, from a ``CaptionResult``."""

    def __init__(self, result: CaptionResult) -> None:
        self.result = result
        info = result.video
        self.overlay = Overlay((info.width, info.height), overlay=result.settings.overlay)
        self.stride = result.frame_range.stride
        self.pending = sorted(result.tracks, key=lambda t: t.first.index, reverse=True)
        self.active: dict[int, list] = {}  # track id -> [track, position of the current frame]
        self.pages: dict = {}

    def _pages(self, track_id: int, number: int, text: str) -> list[list[str]]:
        key = (track_id, number)
        if key not in self.pages:
            self.pages[key] = self.overlay.style.pages(text)
        return self.pages[key]

    def objects_at(self, index: int, time_: float) -> list[DrawObject]:
        while self.pending and self.pending[-1].first.index <= index:
            track = self.pending.pop()
            self.active[track.id] = [track, 0]
        objects = []
        for track_id, state in list(self.active.items()):
            track, position = state
            while position + 1 < len(track.frames) and track.frames[position + 1].index <= index:
                position += 1
            state[1] = position
            frame = track.frames[position]
            if position == len(track.frames) - 1 and index >= frame.index + self.stride:
                del self.active[track_id]
                self.overlay.forget(track_id)
                self.pages = {k: v for k, v in self.pages.items() if k[0] != track_id}
                continue
            if not frame.index <= index < frame.index + self.stride:
                continue  # not detected here (occluded or missed)
            lines, page_key = [], None
            for number, caption in enumerate(track.captions):
                if caption.start - 1e-6 <= time_ < caption.end:
                    pages = self._pages(track_id, number, caption.text)
                    if pages:
                        page = page_at(time_, caption.start, caption.end, len(pages))
                        lines, page_key = pages[page], (number, page)
                    break
            objects.append(DrawObject(track_id, track.label, track.colour, frame.box, frame.mask, lines, page_key))
        return objects


STANDARD_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 48.0, 50.0, 60000 / 1001, 60.0, 100.0, 120.0)


def output_rate(video: Video, frame_range: FrameRange, end_time: float) -> float:
    """The captioned video's constant frame rate: the source's own when it is constant, else the rate of its
    fastest frames (the 10th percentile of frame durations), snapped to a standard rate within 5 % and at
    most 120 frames/s, so that no run of source frames is thinned out."""
    starts = video.timestamps[frame_range.start:frame_range.end, 0]
    durations = np.diff(np.append(starts, end_time))
    durations = durations[durations > 1e-4]
    if len(durations) == 0:
        return video.info.fps
    if durations.max() <= durations.min() * 1.01:
        return video.info.fps if abs(video.info.fps * durations.mean() - 1) < 0.01 else 1 / float(durations.mean())
    fastest = min(1 / float(np.percentile(durations, 10)), 120.0)
    near = [r for r in STANDARD_RATES if abs(r / fastest - 1) <= 0.05]
    return min(near, key=lambda r: abs(r - fastest)) if near else fastest


class FramePicker:
    """How many times each source frame is written into a constant-rate output so that the output frame
    at time t (from 0 at ``start``) is the source frame shown at ``start + t``."""

    def __init__(self, start: float, rate: float) -> None:
        self.start, self.rate, self.written = start, rate, 0

    def ticks_before(self, time_: float) -> int:
        # A frame may land 1 % of an output frame early: decord's float timestamps are not exact.
        return max(0, math.ceil((time_ - self.start) * self.rate - 0.01))

    def repeats(self, shown_until: float) -> int:
        """Output frames for the source frame shown until ``shown_until`` (the next frame's time)."""
        target = self.ticks_before(shown_until)
        count, self.written = max(target - self.written, 0), max(target, self.written)
        return count


def render_video(result: CaptionResult, out_path: str | Path, video: Video, progress: bool = True,
                 metadata: dict[str, str] | None = None) -> dict[str, float]:
    """Write the captioned MP4 of the result's range from the source ``video`` (with the container ``metadata``
    tags); returns its timing.

    The MP4 has a constant frame rate (``output_rate``) and each of its frames is the source frame shown at
    that time, so a variable-rate source keeps its timing (frames held through a gap, repeated in a slow
    part) and the subtitles, which use the source's times from the range's start, stay on the picture.
    """
    started = time.perf_counter()
    info = result.video
    source = video.info
    if (source.width, source.height, source.frame_count) != (info.width, info.height, info.frame_count):
        raise UserError(f"{video.path} is not the video these captions were made from ({source.width}x{source.height}, "
                        f"{source.frame_count} frames; expected {info.width}x{info.height}, {info.frame_count} "
                        "frames): pass the right one with --video")
    frame_range = FrameRange(result.frame_range.start, result.frame_range.end, 1)
    overlay = VideoOverlay(result)
    audio = dict(audio_from=video.path, audio_start=result.start_time + video.start_in_file,
                 audio_duration=result.end_time - result.start_time) if source.has_audio else {}
    rate = output_rate(video, frame_range, result.end_time)
    picker = FramePicker(result.start_time, rate)
    with (video.read(frame_range) as reader, progress_bar(len(frame_range), "rendering", "frame", progress) as bar,
          H264Writer(out_path, rate, (info.width, info.height), metadata=metadata, **audio) as writer):
        for frame in reader:
            following = frame.index + 1
            repeats = picker.repeats(video.time_of(following) if following < frame_range.end else result.end_time)
            objects = overlay.objects_at(frame.index, frame.time)  # also advances the overlay's state
            if repeats:
                drawn = overlay.overlay.draw(frame.image, objects)
                for _ in range(repeats):
                    writer.write(drawn)
            bar.update(1)
    elapsed = time.perf_counter() - started
    return {"render_seconds": round(elapsed, 3),
            "render_frames_per_second": round(writer.frames_written / max(elapsed, 1e-9), 2),
            "frames_rendered": writer.frames_written, "output_fps": round(rate, 6)}
