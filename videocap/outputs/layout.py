"""Caption text layout shared by the burned-in video, the annotated photos and the ASS subtitles.

Text is set in Noto Sans CJK (OFL-1.1, from the ``noto-cjk-sans-otc`` package), which covers Latin, Greek,
Cyrillic, Chinese, Japanese and Korean, falling back character by character along a chain of Noto fonts for
the scripts it lacks (Arabic, Hebrew, Devanagari, Thai and the other scripts of ``manimgx-fonts``, OFL-1.1,
then Noto Sans Symbols and Noto Emoji). Both packages are installed with videocap; nothing is fetched at
run time. A line is cut into runs of one font each (combining marks, joiners and variation selectors stay
with their base); each run is shaped by Pillow's Raqm layout (Arabic joining, Indic reordering,
right-to-left order inside the run), and the runs are put in visual order: in a line whose first strong
character is right-to-left, right to left, keeping left-to-right stretches in their own order. Bidi
control characters (U+202A-U+202E, U+2066-U+2069) are removed from captions, so a caption cannot
reverse or hide text. Lines are wrapped at spaces, and between any two CJK characters (which have no spaces);
a word longer than a line is broken where it must. Long captions are cut into pages of a few lines
that follow each other over the time the caption is shown.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import ImageFont

#: Face of the collection used for captions (0 JP, 1 KR, 2 SC, 3 TC, 4 HK: they differ only in CJK glyph forms).
FONT_INDEX = 2
FONT_NAME = "Noto Sans CJK SC"  # the family name ASS subtitles ask the player for

# Control characters, line/paragraph separators, bidi embeddings/overrides/isolates, and U+FFFD (what a
# decoder leaves for broken bytes).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffd]")
_SPACE = re.compile(r"\s+")


#: Fallback fonts of ``manimgx-fonts``, in the order they are tried after the CJK face (file name stems).
FALLBACK_FONTS = ("NotoSans[wght]", "NotoSansArabic[wght]", "NotoSansHebrew[wght]", "NotoSansDevanagari[wght]",
                  "NotoSansThai[wght]", "NotoSansBengali[wght]", "NotoSansTamil[wght]", "NotoSansTelugu[wght]",
                  "NotoSansKannada[wght]", "NotoSansMalayalam[wght]", "NotoSansGujarati[wght]",
                  "NotoSansGurmukhi[wght]", "NotoSansOriya[wght]", "NotoSansSinhala[wght]", "NotoSansKhmer[wght]",
                  "NotoSansLao[wght]", "NotoSansMyanmar[wght]", "NotoSansArmenian[wght]", "NotoSansGeorgian[wght]",
                  "NotoSansEthiopic[wght]", "NotoSansSymbols[wght]", "NotoEmoji[wght]")
_LATIN = 0x180  # below: Basic Latin to Latin Extended-A, all in the CJK face (no coverage lookup needed)
_RTL = ("R", "AL")


def font_path() -> str | None:
    """The bundled CJK font file, or None when the font package is missing."""
    try:
        import noto_cjk_sans_otc
    except ImportError:
        return None
    return str(noto_cjk_sans_otc.FONT_PATH)


@functools.cache
def font_chain() -> tuple[tuple[str, int, str], ...]:
    """(file, face index, family name) of every caption font, in fallback order; the CJK face first."""
    chain = []
    path = font_path()
    if path is not None:
        chain.append((path, FONT_INDEX, FONT_NAME))
    try:
        import manimgx_fonts
    except ImportError:
        warnings.warn("the manimgx-fonts package is missing: Arabic, Hebrew, Indic, Thai and emoji captions show "
                      "as boxes (reinstall videocap to get it back)", stacklevel=2)
        return tuple(chain)
    folder = Path(manimgx_fonts.__file__).parent
    for stem in FALLBACK_FONTS:
        if (folder / f"{stem}.ttf").is_file():
            chain.append((str(folder / f"{stem}.ttf"), 0, _family(stem)))
    return tuple(chain)


def _family(stem: str) -> str:
    """The family name a player looks the font up by: "NotoSansArabic[wght]" -> "Noto Sans Arabic"."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", stem.split("[")[0])


@functools.cache
def _coverage(index: int) -> frozenset[int]:
    """The code points font ``index`` of the chain has glyphs for."""
    from fontTools.ttLib import TTFont

    path, face, _ = font_chain()[index]
    return frozenset(TTFont(path, fontNumber=face, lazy=True).getBestCmap())


def font_for(char: str) -> int:
    """Index in ``font_chain()`` of the first font with a glyph for ``char`` (0, the main face, if none has)."""
    code = ord(char)
    if code < _LATIN:
        return 0
    return next((i for i in range(len(font_chain())) if code in _coverage(i)), 0)


def _attaches(char: str) -> bool:
    """Characters drawn with the character before them: spaces, combining marks, joiners, variation selectors."""
    return char == " " or unicodedata.category(char) in ("Mn", "Me", "Cf") or 0xFE00 <= ord(char) <= 0xFE0F


def font_runs(text: str) -> list[tuple[int, str]]:
    """``text`` cut into (font index, run) pieces in logical order, each drawn with one font of the chain."""
    runs: list[tuple[int, str]] = []
    for char in text:
        index = runs[-1][0] if runs and _attaches(char) else font_for(char)
        if runs and runs[-1][0] == index:
            runs[-1] = (index, runs[-1][1] + char)
        else:
            runs.append((index, char))
    return runs


def _direction(text: str) -> str | None:
    """"rtl" or "ltr" by the first strong character of ``text``; None when it has none (digits, symbols)."""
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in _RTL:
            return "rtl"
        if kind == "L":
            return "ltr"
    return None


def visual_runs(text: str) -> list[tuple[int, str]]:
    """The font runs of one line in the order they are drawn, left to right (each is shaped on its own).

    Spaces between runs become runs of their own, so that they stay between the runs they separate whatever
    the runs' directions. In a right-to-left line, stretches of left-to-right runs keep their order and the
    stretches go right to left.
    """
    runs: list[tuple[int, str]] = []
    for index, run in font_runs(text):
        body = run.rstrip(" ")
        runs += [(index, part) for part in (body, run[len(body):]) if part]
    if _direction(text) != "rtl":
        return runs
    stretches: list[tuple[bool, list[tuple[int, str]]]] = []
    for run in runs:
        ltr = _direction(run[1]) == "ltr"
        if ltr and stretches and stretches[-1][0]:
            stretches[-1][1].append(run)
        else:
            stretches.append((ltr, [run]))
    return [run for _, group in reversed(stretches) for run in group]


def one_line(text: str) -> str:
    """``text`` with each control character (a newline or tab in a file name, say) as a space: a drawn line
    holds none, and Pillow's layout fails on some."""
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text)


class ChainFont:
    """The caption fonts at one size, used like a Pillow font: ``getlength``, ``getmetrics`` and ``draw``."""

    def __init__(self, size: int) -> None:
        self.size = size

    def face(self, index: int) -> ImageFont.FreeTypeFont:
        return _face(index, self.size)

    def getlength(self, text: str) -> float:
        return sum(self.face(i).getlength(run) for i, run in font_runs(one_line(text)))

    def getmetrics(self) -> tuple[int, int]:
        return self.face(0).getmetrics()

    def draw(self, draw, xy: tuple[float, float], text: str, fill, anchor: str = "ls") -> None:
        """``text`` drawn at ``xy`` (its left end, on the ``anchor``'s vertical position) in visual order."""
        x, y = xy
        for index, run in visual_runs(one_line(text)):
            face = self.face(index)
            direction = _direction(run)
            draw.text((x, y), run, font=face, fill=fill, anchor=anchor,
                      **({"direction": direction} if direction and _raqm() else {}))
            x += face.getlength(run)


@functools.cache
def _raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


@functools.lru_cache(maxsize=64)
def _face(index: int, size: int) -> ImageFont.FreeTypeFont:
    chain = font_chain()
    if not chain:
        warnings.warn("the noto-cjk-sans-otc package is missing: captions fall back to a Latin-only font "
                      "(reinstall videocap to get it back)", stacklevel=2)
        return ImageFont.load_default(size)
    path, face, _ = chain[index]
    layout = ImageFont.Layout.RAQM if _raqm() else ImageFont.Layout.BASIC
    return ImageFont.truetype(path, size=size, index=face, layout_engine=layout)


@functools.lru_cache(maxsize=32)
def load_font(size: int) -> ChainFont:
    """The caption fonts at ``size`` pixels (em size)."""
    return ChainFont(size)


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


def wrap(text: str, font: ChainFont, max_width: float) -> list[str]:
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
    def font(self) -> ChainFont:
        return load_font(self.font_size)

    @property
    def label_font(self) -> ChainFont:
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
