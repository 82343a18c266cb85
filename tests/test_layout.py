"""`videocap.outputs.layout`: wrapping caption text (spaces, CJK, long words) and cutting it into pages."""

from __future__ import annotations

from videocap.outputs.layout import TextStyle, clean_text, load_font, page_at, wrap


def test_wrap_breaks_at_spaces_and_keeps_every_word():
    font = load_font(16)
    text = "a medium red circle moving right across the frame while a blue one moves left"
    lines = wrap(text, font, 120)
    assert len(lines) > 2
    assert all(font.getlength(line) <= 120 for line in lines)
    assert " ".join(lines) == text  # nothing lost, nothing added, breaks only at spaces
    assert not any(line.startswith(" ") or line.endswith(" ") for line in lines)


def test_wrap_breaks_cjk_between_any_two_characters():
    font = load_font(16)
    text = "一个红色的圆形物体正在画面中向右移动并且越来越快"
    lines = wrap(text, font, 80)
    assert len(lines) > 2 and "".join(lines) == text
    assert all(font.getlength(line) <= 80 for line in lines)


def test_wrap_mixed_scripts_keeps_latin_words_whole():
    font = load_font(16)
    lines = wrap("The 圆形 circle is 红色 and moves", font, 70)
    words = {"The", "circle", "is", "and", "moves"}
    assert words <= {w for line in lines for w in line.split()}


def test_a_word_longer_than_a_line_is_cut_where_it_must():
    font = load_font(16)
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis"
    lines = wrap(f"a {word} b", font, 90)
    assert "".join(lines).replace(" ", "") == f"a{word}b"
    assert all(font.getlength(line) <= 90 for line in lines)
    assert len(lines) >= 4


def test_clean_text_makes_one_paragraph():
    assert clean_text("  two\n\nlines\tand\x07 a bell\u2028 ") == "two lines and a bell"
    assert clean_text("broken \ufffd byte") == "broken byte"


def test_pages_and_page_at():
    style = TextStyle.for_frame(320, 240)
    text = " ".join(["word"] * 200)
    pages = style.pages(text)
    assert len(pages) > 1 and all(len(page) <= style.max_lines for page in pages)
    assert " ".join(" ".join(page) for page in pages) == text
    assert style.pages("") == []
    # Equal shares of the caption's time, the last page until the end.
    assert [page_at(t, 2.0, 6.0, 4) for t in (2.0, 2.99, 3.0, 5.99, 6.0, 7.0)] == [0, 0, 1, 3, 3, 3]
    assert page_at(3.0, 2.0, 6.0, 1) == 0


def test_text_sizes_follow_the_frame():
    small, large = TextStyle.for_frame(320, 240), TextStyle.for_frame(1920, 1080)
    assert small.font_size < large.font_size <= 30
    assert small.font_size >= 11 and small.max_width <= 320
