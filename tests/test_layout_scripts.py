"""Caption text in every script (videocap.outputs.layout, videocap.outputs.subtitles): the font fallback chain, shaping, bidi
the fonts the ASS names (videocap.outputs.layout, videocap.outputs.subtitles)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from videocap.outputs.layout import (
    ChainFont,
    clean_text,
    font_chain,
    font_runs,
    visual_runs,
)
from videocap.outputs.subtitles import ass_line, fonts_used

SAMPLES = {"Arabic": "دائرة حمراء", "Hebrew": "עיגול אדום", "Devanagari": "लाल वृत्त", "Thai": "วงกลมสีแดง",
           "Emoji": "😀", "CJK SC": "红色的圆", "CJK SC ": "A red circle"}


def families(text: str) -> list[str]:
    return [font_chain()[index][2] for index, _ in font_runs(text)]


@pytest.mark.parametrize("script", list(SAMPLES))
def test_every_script_gets_a_font_that_has_its_glyphs(script):
    assert families(SAMPLES[script]) == [f"Noto {'Sans ' if script != 'Emoji' else ''}{script.strip()}"]


def ink(draw_text, size=(400, 60)) -> np.ndarray:
    image = Image.new("L", size, 0)
    draw_text(ImageDraw.Draw(image))
    return np.asarray(image)


def test_right_to_left_text_is_drawn_right_to_left_and_shaped():
    font = ChainFont(28)
    path, face, _ = font_chain()[font_runs("א")[0][0]]
    unshaped = ImageFont.truetype(path, 28, index=face, layout_engine=ImageFont.Layout.BASIC)  # no bidi at all
    drawn = ink(lambda d: font.draw(d, (10, 40), "אב", fill=255))
    by_hand = ink(lambda d: d.text((10, 40), "בא", font=unshaped, fill=255, anchor="ls"))  # visual order, by hand
    as_typed = ink(lambda d: d.text((10, 40), "אב", font=unshaped, fill=255, anchor="ls"))
    assert drawn.any() and np.array_equal(drawn, by_hand) and not np.array_equal(drawn, as_typed)
    arabic = "ببب"  # joined: initial, medial and final forms, narrower than three isolated letters
    assert font.getlength(arabic) < 3 * font.getlength("ب")


def test_a_left_to_right_stretch_keeps_its_order_in_a_right_to_left_line():
    runs = [run for _, run in visual_runs("שלום ABC DEF עולם")]
    assert runs == ["עולם", " ", "ABC DEF", " ", "שלום"]
    assert [run for _, run in visual_runs("a שלום b")] == ["a", " ", "שלום", " ", "b"]


@pytest.mark.parametrize("control", [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))])
def test_bidi_controls_are_removed(control):
    assert clean_text(f"abc{control}def") == "abcdef"


def test_the_ass_names_the_font_of_each_run_and_the_mkv_gets_them():
    line = ass_line("a circle עיגול")
    assert line == "a circle {\\fnNoto Sans Hebrew}עיגול{\\fnNoto Sans CJK SC}"
    assert ass_line("a {b}") == "a ｛b｝"
    used = fonts_used(["a circle עיגול", "😀"])
    assert [path.rsplit("/", 1)[1] for path in used] == ["NotoSansHebrew[wght].ttf", "NotoEmoji[wght].ttf"]
