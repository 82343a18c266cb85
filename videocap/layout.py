"""Caption text layout shared by the burned-in video, the annotated photos and the ASS subtitles.

Text is set in Noto Sans CJK (OFL-1.1, from the ``noto-cjk-sans-otc`` package, installed with
videocap; nothing is fetched at run time), which covers Latin, Greek, Cyrillic, Chinese, Japanese and
Korean. Lines are wrapped at spaces, and between any two CJK characters (which have no spaces);
a word longer than a line is broken where it must. Long captions are cut into pages of a few lines
that follow each other over the time the caption is shown.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import warnings
from dataclasses import dataclass

from PIL import ImageFont

#: Face of the collection used for captions (0 JP, 1 KR, 2 SC, 3 TC, 4 HK: they differ only in CJK glyph forms).
FONT_INDEX = 2
FONT_NAME = "Noto Sans CJK SC"  # the family name ASS subtitles ask the player for

# Control characters, line/paragraph separators and U+FFFD (what a decoder leaves for broken bytes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ufffd]")
_SPACE = re.compile(r"\s+")


def font_path() -> str | None:
    """The bundled CJK font file, or None when the font package is missing."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    return str(noto_cjk_sans_otc.FONT_PATH)


@functools.lru_cache(maxsize=32)
def load_font(size: int) -> ImageFont.FreeTypeFont:
    """The caption font at ``size`` pixels (em size); Pillow's Latin-only default font if the package is gone."""
    path = font_path()
    if path is not None:
        return ImageFont.truetype(path, size=size, index=FONT_INDEX)
    warnings.warn("the noto-cjk-sans-otc package is missing: captions fall back to a Latin-only font "
                  "(reinstall videocap to get it back)", stacklevel=2)
    return ImageFont.load_default(size)


def clean_text(text: str) -> str:
    """One paragraph: control characters and U+FFFD dropped, every run of whitespace (newlines too) one space."""
    return _SPACE.sub(" ", _CONTROL.sub("", text)).strip()


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def _units(text: str) -> list[str]:
    """Breakable units: words (with their leading space) and single wide (CJK) characters."""
    units: list[str] = []
    word = ""
    for char in text:
        if char == " ":
            if word:
                units.append(word)
            word = " "
        elif _is_wide(char):
            if word.strip():
                units.append(word)
                word = ""
            units.append(word + char if word == " " else char)
            word = ""
        else:
            word += char
    if word.strip():
        units.append(word)
    return units


def wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """Lines of ``text`` no wider than ``max_width`` pixels in ``font``."""
    lines: list[str] = []
    line = ""
    for unit in _units(clean_text(text)):
        candidate = line + unit if line else unit.lstrip()
        if font.getlength(candidate) <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = unit.lstrip()
        while font.getlength(line) > max_width and len(line) > 1:  # a word longer than a line
            cut = len(line) - 1
            while cut > 1 and font.getlength(line[:cut]) > max_width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


@dataclass(frozen=True)
class TextStyle:
    """Sizes, in frame pixels, of the caption text for a frame of a given size."""

    font_size: int
    label_size: int
    line_height: int
    padding: int
    max_width: int  # of a caption box's text
    max_lines: int  # per page near an object

    @classmethod
    def for_frame(cls, width: int, height: int) -> "TextStyle":
        font_size = max(11, min(30, round(min(height, width * 0.75) / 24)))
        return cls(font_size=font_size, label_size=max(10, round(font_size * 0.9)),
                   line_height=round(font_size * 1.3), padding=max(3, font_size // 3),
                   max_width=max(font_size * 8, round(width * 0.42)), max_lines=4)

    @property
    def font(self) -> ImageFont.FreeTypeFont:
        return load_font(self.font_size)

    @property
    def label_font(self) -> ImageFont.FreeTypeFont:
        return load_font(self.label_size)

    def pages(self, text: str, max_width: int | None = None, max_lines: int | None = None) -> list[list[str]]:
        """The wrapped lines of ``text`` cut into pages of at most ``max_lines`` lines ([] for empty text)."""
        lines = wrap(text, self.font, max_width or self.max_width)
        per_page = max_lines or self.max_lines
        return [lines[i:i + per_page] for i in range(0, len(lines), per_page)]

    def block_size(self, lines: list[str]) -> tuple[int, int]:
        """Width and height of a box holding ``lines`` with padding."""
        width = max((self.font.getlength(line) for line in lines), default=0)
        return int(width + 2 * self.padding + 0.999), len(lines) * self.line_height + 2 * self.padding


def page_at(time: float, start: float, end: float, pages: int) -> int:
    """Which of ``pages`` equal shares of [start, end) ``time`` falls in."""
    if pages <= 1 or end <= start:
        return 0
    return min(pages - 1, max(0, int((time - start) / (end - start) * pages)))
