"""Caption placement: place_block's rules, the side panel, the ASS as libass draws it, and the drawn video's Overlay.

The libass tests render each track's ASS events alone (positions from the placement over all tracks, as
the MKV's per-object streams have them) with ffmpeg's ``ass`` filter and the packaged font, over black,
and take each caption's box as the non-black pixels of each frame.
"""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import numpy as np
import pytest

from videocap.io.encode import ffmpeg_exe
from videocap.masks import BoxMask
from videocap.outputs.layout import font_path
from videocap.outputs.placement import (
    CaptionBlock,
    Move,
    Rect,
    meet,
    overlaps,
    panel_on_right,
    place_block,
    place_captions,
    stack_panel,
)
from videocap.outputs.render import VideoOverlay
from videocap.outputs.subtitles import AssWriter
from videocap.results import Caption, CaptionResult, Track

FRAME = (320, 240)
BOX = Rect(100, 80, 140, 120)
SIZE = (60, 30)

# Wraps to 9 lines at 640x360: pages of 4 lines under the label, 5-line blocks (the reported case).
LONG = ("A small white square sits still in the middle of a textured grey background while a circle "
        "slides past it from the left, its edges soft and a little blurred, casting no shadow at all, "
        "and the light from above makes its face look flat and pale against the pattern of the floor.")


# -- place_block --

def test_below_is_preferred():
    spot = place_block(SIZE, BOX, FRAME, [], [], gap=4)
    assert (spot.x, spot.y, spot.side) == (100, 124, "below")
    assert spot.rect == Rect(100, 124, 160, 154) and not overlaps(spot.rect, BOX)


def test_falls_to_above_right_left_at_the_frame_edges():
    at_bottom = Rect(100, 200, 140, 240)
    assert place_block(SIZE, at_bottom, FRAME, [], [], gap=4).side == "above"
    full_height = Rect(100, 0, 140, 240)
    spot = place_block(SIZE, full_height, FRAME, [], [], gap=4)
    assert (spot.side, spot.x, spot.y) == ("right", 144, 0)
    right_edge = Rect(270, 0, 320, 240)
    spot = place_block(SIZE, right_edge, FRAME, [], [], gap=4)
    assert (spot.side, spot.x) == ("left", 270 - 4 - 60)


def test_above_goes_over_the_label():
    spot = place_block(SIZE, BOX, FRAME, [Rect(100, 124, 160, 154)], [], gap=4, label_height=12)
    assert spot.side == "above" and spot.y == 80 - 12 - 4 - 30


def test_block_is_clamped_into_the_frame():
    spot = place_block(SIZE, Rect(290, 80, 319, 120), FRAME, [], [], gap=4)
    assert spot.side == "below" and spot.rect.x1 == 320 and spot.rect.inside(FRAME)


def test_avoids_occupied_rects():
    below, above = Rect(100, 124, 160, 154), Rect(100, 46, 160, 76)
    assert place_block(SIZE, BOX, FRAME, [below], [], gap=4).side == "above"
    assert place_block(SIZE, BOX, FRAME, [below, above], [], gap=4).side == "right"
    assert place_block(SIZE, BOX, FRAME, [below, above, Rect(144, 80, 204, 110)], [], gap=4).side == "left"


def test_avoids_other_objects_when_it_can():
    other_below = Rect(110, 130, 130, 150)
    assert place_block(SIZE, BOX, FRAME, [], [other_below], gap=4).side == "above"
    everywhere = [Rect(0, 0, 320, 78), Rect(0, 122, 320, 240), Rect(0, 78, 98, 122), Rect(142, 78, 320, 122)]
    spot = place_block(SIZE, BOX, FRAME, [], everywhere, gap=4)
    assert spot is not None and spot.side == "below"  # covering an object rather than nothing


def test_none_when_nothing_fits():
    assert place_block((400, 30), BOX, FRAME, [], [], gap=4) is None  # wider than the frame
    walls = [Rect(0, 0, 320, 80), Rect(0, 120, 320, 240), Rect(0, 80, 100, 120), Rect(140, 80, 320, 120)]
    assert place_block(SIZE, BOX, FRAME, walls, [], gap=4) is None


def test_keeps_the_previous_side_while_it_fits():
    assert place_block(SIZE, BOX, FRAME, [], [], gap=4, prefer="left").side == "left"
    assert place_block(SIZE, BOX, FRAME, [], [], gap=4, prefer="right").side == "right"
    assert place_block(SIZE, Rect(20, 80, 60, 120), FRAME, [], [], gap=4, prefer="left").side == "below"
    assert place_block(SIZE, BOX, FRAME, [], [], gap=4, prefer=None).side == "below"


def test_moving_rects_meet_on_the_way():
    a = Move(Rect(0, 0, 10, 10), Rect(100, 0, 110, 10))
    b = Move(Rect(100, 0, 110, 10), Rect(0, 0, 10, 10))
    assert not overlaps(a.start, b.start) and not overlaps(a.end, b.end) and meet(a, b)  # they swap places
    assert not meet(a, Move(Rect(20, 0, 30, 10), Rect(120, 0, 130, 10)))  # one follows the other
    assert meet(a, Rect(50, 5, 52, 7)) and not meet(a, Rect(50, 10, 52, 12))  # touching is not meeting
    assert meet(Rect(0, 0, 5, 5), Rect(4, 4, 9, 9)) and not meet(Rect(0, 0, 5, 5), Rect(5, 0, 9, 5))


def test_a_moving_block_keeps_clear_all_the_way():
    crossing = Move(Rect(200, 124, 260, 154), Rect(40, 124, 100, 154))  # a caption moving left below BOX
    spot = place_block(SIZE, BOX, FRAME, [crossing], [], gap=4, box_end=Rect(104, 80, 144, 120))
    assert spot.side == "above" and (spot.x_end, spot.y_end) == (104, 46)
    assert not meet(spot.move, crossing)


# -- the side panel --

def more_size(count: int) -> tuple[int, int]:
    return (40 + 5 * len(str(count)), 20)


def test_panel_stacks_blocks_down_one_side():
    panel = stack_panel([(60, 50), (80, 40)], FRAME, True, 4, more_size)
    assert panel.entries == [Rect(256, 4, 316, 54), Rect(236, 58, 316, 98)] and panel.more is None
    assert stack_panel([(60, 50)], FRAME, False, 4, more_size).entries == [Rect(4, 4, 64, 54)]
    assert panel_on_right([10.0, 150.0], 320) and not panel_on_right([200.0, 150.0], 320) and panel_on_right([], 320)


def test_full_panel_ends_with_more_and_nothing_overlaps():
    sizes = [(60, 70)] * 5  # 3 fit in 240 px with a "+N more" below; the last 2 do not
    panel = stack_panel(sizes, FRAME, True, 4, more_size)
    assert len(panel.entries) == 2 and panel.more == Rect(320 - 4 - 45, 4 + 2 * 74, 316, 4 + 2 * 74 + 20)
    rects = panel.entries + [panel.more]
    assert all(r.inside(FRAME) for r in rects)
    assert not any(overlaps(a, b) for n, a in enumerate(rects) for b in rects[n + 1:])
    assert len(stack_panel(sizes[:3], FRAME, True, 4, more_size).entries) == 3  # the last needs no "+N more"
    tall = stack_panel([(60, 300), (60, 20)], FRAME, True, 4, more_size)
    assert tall.entries == [Rect(256, 4, 316, 304)] and tall.more is not None  # the first is always shown


# -- place_captions: near, else the panel, until stable --

def test_crowded_captions_go_to_the_panel_until_the_rest_fit_near():
    """Three wide captions fit nowhere near; the panel they make pushes one near caption to its object's left
    and the other (whose only spot reached into the panel) into the panel too, which then holds two and a
    "+3 more"."""
    corner = Rect(10, 200, 20, 210)  # out of the way: the wide captions' objects
    wide = CaptionBlock(corner, (400, 30), (60, 70))
    pushed_aside = CaptionBlock(Rect(260, 20, 300, 60), (60, 30), (60, 70))  # below, until the panel is there
    pushed_out = CaptionBlock(Rect(40, 100, 80, 140), (180, 135), (60, 70))  # right only, into the panel's 2nd slot
    captions = [wide, pushed_aside, pushed_out, wide, wide, wide]
    layout = place_captions(captions, FRAME, [], [], 4, True, more_size)
    assert list(layout.near) == [1] and layout.near[1].side == "left" and layout.near[1].rect == Rect(196, 20, 256, 50)
    assert layout.panel == {0: Rect(256, 4, 316, 74), 2: Rect(256, 78, 316, 148)}
    assert layout.hidden == [3, 4, 5] and layout.more == Rect(271, 152, 316, 172)  # more_size(3): 45 x 20
    rects = [spot.rect for spot in layout.near.values()] + list(layout.panel.values()) + [layout.more]
    assert all(r.inside(FRAME) for r in rects)
    assert not any(overlaps(a, b) for n, a in enumerate(rects) for b in rects[n + 1:])


def test_place_captions_near_objects_clear_of_labels_each_other_and_bystanders():
    label_below = Rect(100, 124, 160, 154)
    first = CaptionBlock(BOX, SIZE, SIZE, label_height=12)  # below is taken by a label: above, over its own label
    second = CaptionBlock(Move(Rect(200, 20, 240, 60), Rect(210, 20, 250, 60)), SIZE, SIZE, prefer="left")
    layout = place_captions([first, second], FRAME, [label_below], [Rect(130, 0, 160, 30)], 4, True, more_size)
    assert layout.panel == {} and layout.hidden == [] and layout.more is None
    assert layout.near[0].side == "above" and layout.near[0].rect == Rect(100, 34, 160, 64)
    # Its preferred left side would cover the first caption (and the bystander): below, moving with its object.
    assert layout.near[1].side == "below"
    assert layout.near[1].move == Move(Rect(200, 64, 260, 94), Rect(210, 64, 270, 94))


# -- scenes --

def scene(size: tuple[int, int], objects: list[tuple], frames: int = 75, fps: float = 25.0) -> CaptionResult:
    """A caption result (as ``captions.json`` holds it) of objects moving in straight lines, one caption each.

    ``objects``: (class, box at frame 0, velocity in pixels a frame, caption text).
    """
    width, height = size
    tracks = []
    for track_id, (name, box, (vx, vy), text) in enumerate(objects, 1):
        rows = []
        for i in range(frames):
            b = [box[0] + vx * i, box[1] + vy * i, box[2] + vx * i, box[3] + vy * i]
            mask = np.zeros((height, width), bool)
            mask[max(int(b[1]), 0):int(b[3]), max(int(b[0]), 0):int(b[2])] = True
            rows.append({"frame": i, "time": round(i / fps, 4), "box": b, "score": 0.9,
                         "mask": BoxMask.from_mask(mask).to_rle()})
        tracks.append({"id": track_id, "class": name, "frames": rows, "keyframes": [0],
                       "captions": [{"start": 0.0, "end": frames / fps, "first_frame": 0, "last_frame": frames - 1,
                                     "keyframes": [0], "text": text}]})
    return CaptionResult.from_json({
        "schema": "videocap.captions/1",
        "video": {"path": "scene.mp4", "fps": fps, "frame_count": frames, "width": width, "height": height,
                  "duration": frames / fps, "has_audio": False, "codec": "h264"},
        "settings": {"classes": sorted({o[0] for o in objects})},
        "range": {"start_frame": 0, "end_frame": frames, "stride": 1, "start_time": 0.0, "end_time": frames / fps},
        "captioning": {"dam": "none"},
        "tracks": tracks,
    })


SCENES = {
    # Two objects passing each other, one just above the other, fast: their captions above and below
    # them slide past each other (before, one's 5-line block was drawn inside the other's).
    "passing": ((640, 360), [("circle", (150, 126, 200, 171), (3, 0), LONG),
                             ("square", (450, 181, 500, 226), (-3, 0), LONG)]),
    # Side by side with 5-line captions that only just fit next to each other (before, libass drew them
    # wider than estimated, into each other), and a third object with a short caption.
    "side by side": ((640, 360), [("circle", (30, 200, 80, 250), (0.5, 0), LONG),
                                  ("square", (310, 200, 360, 250), (0, 0), LONG),
                                  ("star", (500, 40, 540, 80), (-0.5, 0.3), "A yellow star, spinning slowly.")]),
}

# As many long captions as the samples' 320x240 shapes have objects: they fit nowhere near their objects
# at once, so the drawn video moves some to its side panel.
CROWDED = ((320, 240), [("square", (139, 124, 192, 177), (0, 0), LONG),
                        ("circle", (20, 130, 61, 171), (2.4, 0), LONG),
                        ("circle", (263, 53, 298, 88), (-1.6, 0), LONG),
                        ("star", (48, 35, 96, 84), (0, 0), "A star."),
                        ("triangle", (212, 10, 249, 42), (0, 1.6), LONG)])


def libass_boxes(ass: str, size: tuple[int, int], seconds: float, tmp_path: Path) -> tuple[list, str]:
    """The bounding box of the non-black pixels of every frame (25 fps) that libass draws of ``ass``."""
    path = tmp_path / "render.ass"
    path.write_text(ass, encoding="utf-8")
    width, height = size
    # The filter graph's own escaping: ':' and '\' would end or break the file name.
    fonts = str(Path(font_path()).parent).replace("\\", "/").replace(":", "\\:")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "verbose", "-f", "lavfi", "-i",
                           f"color=black:s={width}x{height}:d={seconds}:r=25", "-vf",
                           f"ass={path.as_posix()}:fontsdir={fonts}", "-f", "rawvideo", "-pix_fmt", "gray", "-"],
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    frames = np.frombuffer(proc.stdout, np.uint8).reshape(-1, height, width)
    background = frames[0].min()  # black as gray (0, or 16 when limited range)
    boxes = []
    for frame in frames:
        ys, xs = np.nonzero(frame > background)
        boxes.append(None if ys.size == 0 else Rect(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    return boxes, proc.stderr.decode(errors="replace")


def estimate_at(events, time: float) -> Rect | None:
    """Where the placement says the track's caption box is at ``time`` (its \\move interpolated)."""
    for event in events:
        if event.start <= time < event.end:
            w = (time - event.start) / (event.end - event.start)
            a, b = event.rect, event.end_rect
            return Rect(*(round(p + (q - p) * w) for p, q in zip((a.x0, a.y0, a.x1, a.y1), (b.x0, b.y0, b.x1, b.y1))))
    return None


def check_libass(result: CaptionResult, tmp_path: Path) -> None:
    """Every track's caption boxes, as libass draws them, inside their estimates and apart from the others'."""
    size = (result.video.width, result.video.height)
    writer = AssWriter(result)
    events = writer.events()
    assert events
    seconds = result.end_time - result.start_time
    drawn = {}
    for track in result.tracks:
        boxes, log = libass_boxes(writer.document([track]), size, seconds, tmp_path)
        # libass found the packaged font through fontsdir (fontconfig does not know it).
        assert "fontselect: (Noto Sans CJK SC, 400, 0) -> NotoSansCJKsc-Regular" in log
        mine = [e for e in events if e.track_id == track.id]
        for i, box in enumerate(boxes):
            estimate = estimate_at(mine, i / 25)
            assert (box is None) == (estimate is None), (track.id, i)
            if box is not None:  # the estimate bounds what libass draws (1 px for rounding the \move)
                assert (box.x0 >= estimate.x0 - 1 and box.y0 >= estimate.y0 - 1 and box.x1 <= estimate.x1 + 1
                        and box.y1 <= estimate.y1 + 1), (track.id, i / 25, box, estimate)
        drawn[track.id] = boxes
    ids = list(drawn)
    for i in range(len(drawn[ids[0]])):
        for n, a in enumerate(ids):
            for b in ids[n + 1:]:
                box_a, box_b = drawn[a][i], drawn[b][i]
                assert not (box_a and box_b and overlaps(box_a, box_b)), (i / 25, a, box_a, b, box_b)


@pytest.mark.parametrize("name", list(SCENES))
def test_libass_draws_caption_boxes_apart(name, tmp_path):
    result = scene(*SCENES[name])
    assert any(e.text.count("\\N") == 4 for e in AssWriter(result).events()), "5-line blocks: label, 4 lines"
    check_libass(result, tmp_path)


def test_libass_keeps_crowded_captions_apart_with_the_panel(tmp_path):
    """Five long captions at 320x240: the panel takes those that fit nowhere, "+N more" when it is full."""
    result = scene(*CROWDED)
    events = AssWriter(result).events()
    assert any(e.side == "panel" and e.text.count("\\N") == 4 for e in events)
    assert any(e.side == "panel" and e.text.endswith(" more") for e in events)
    check_libass(result, tmp_path)


def test_libass_keeps_the_sample_circles_long_captions_apart(captioned, tmp_path):
    """The reported case: the sample's two circles (real tracks) with captions that wrap to 5-line blocks at
    320x240; at 1.48 s one's block was drawn inside the other's. Every frame rendered by libass."""
    captioned_result = captioned[0]
    tracks = [Track(t.id, t.class_name, t.frames, t.keyframe_positions,
                    [Caption(c.start, c.end, c.first_frame, c.last_frame, c.keyframes, LONG) for c in t.captions])
              for t in captioned_result.tracks]
    result = CaptionResult(dataclasses.replace(captioned_result.tracking, tracks=tracks), captioned_result.settings,
                           captioned_result.start_time, captioned_result.end_time)
    assert (result.video.width, result.video.height) == (320, 240) and len(tracks) == 2
    events = AssWriter(result).events()
    assert all(e.text.count("\\N") == 4 for e in events if e.start < 1.48 < e.end), "5-line blocks at 1.48 s"
    assert any(e.side == "panel" for e in events if e.start <= 1.48 < e.end), "no spot near an object fits"
    check_libass(result, tmp_path)


def test_libass_boxes_within_estimates_in_a_large_frame(tmp_path):
    """Kerned pairs, accents, Cyrillic and CJK in large text: libass kerns (Kerning: yes) as Pillow measures."""
    text = "AVAVAV Tower, Type, Yoke, WAVY — «Ölfass» Привет мир 日本語のテキスト 한국어 텍스트 " * 2
    result = scene((1280, 720), [("circle", (100, 60, 200, 160), (2, 1), text),
                                 ("square", (1000, 500, 1100, 600), (-2, 0), text)], frames=25)
    check_libass(result, tmp_path)


def test_a_track_file_has_the_joint_placement():
    """What an MKV stream holds: one track's events, where the file of all tracks has them."""
    result = scene(*SCENES["passing"])
    everything = [line for line in AssWriter(result).document().splitlines() if line.startswith("Dialogue:")]
    names = set()
    for track in result.tracks:
        alone = [line for line in AssWriter(result).document([track]).splitlines() if line.startswith("Dialogue:")]
        [name] = {line.split(",")[4] for line in alone}
        assert alone == [line for line in everything if line.split(",")[4] == name]
        names.add(name)
    assert len(names) == len(result.tracks)


@pytest.mark.parametrize("name", [*SCENES, "crowded"])
def test_drawn_captions_never_overlap(name):
    size, objects = CROWDED if name == "crowded" else SCENES[name]
    result = scene(size, objects)
    video = VideoOverlay(result)
    overlay = video.overlay
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for index in range(result.frame_range.start, result.frame_range.end):
        overlay.draw(image, video.objects_at(index, index / result.video.fps))
        rects = overlay.caption_rects
        # Every caption drawn (the crowded panel ends with a "+N more" box instead of the last ones).
        assert len(rects) == len(objects) if name != "crowded" else len(rects) >= 3, (index, rects)
        for n, a in enumerate(rects):
            assert all(not overlaps(a, b) for b in rects[n + 1:]), (index, rects)
