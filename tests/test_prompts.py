"""`videocap.prompts`: the prompt forms of the flags and of NVIDIA's reference, and their one-line errors."""

from __future__ import annotations

import pytest

from videocap.errors import UserError
from videocap.prompts import (
    RegionPrompt,
    check_prompt,
    parse_box,
    parse_point,
    parse_prompts,
)


def test_points_with_background_and_time():
    prompt = parse_point("120,80;-200,90.5@2.5s")
    assert prompt.points == ((120.0, 80.0), (200.0, 90.5)) and prompt.point_labels == (1, 0)
    assert prompt.time == "2.5s" and prompt.label == "object"
    assert parse_point("5,6").time is None
    assert parse_point("5,6@00:01:02.5").time == "00:01:02.5"


def test_box_and_the_reference_forms():
    assert parse_box("10,20,200,180@12").box == (10, 20, 200, 180)
    assert parse_box("[1612, 364, 1920, 430]").box == (1612, 364, 1920, 430)
    prompts = parse_prompts(reference_points=["[[1824, 397], [1830, 400]]"], boxes=["1,2,3,4"], labels=["the dog"])
    assert prompts[0].points == ((1824, 397), (1830, 400)) and prompts[0].label == "the dog"
    assert prompts[1].label == "object"


def test_json_round_trip():
    prompt = parse_point("1,2;-3,4@2s").with_label("cat")
    assert RegionPrompt.from_json(prompt.to_json()) == prompt
    box = parse_box("1,2,3,4")
    assert RegionPrompt.from_json(box.to_json()) == box


@pytest.mark.parametrize("call, message", [
    (lambda: parse_point("1"), "expected 2 numbers"),
    (lambda: parse_point("a,b"), "numbers separated by commas"),
    (lambda: parse_point("-1,2"), "every point is a background point"),
    (lambda: parse_point("1,2@"), "nothing after '@'"),
    (lambda: parse_box("10,10,5,20"), "X1 < X2"),
    (lambda: parse_box("10,10,20,10"), "area above zero"),
    (lambda: parse_box("[1,2,3"), "not a JSON list"),
    (lambda: parse_prompts(points=["1,2"], labels=["a", "b"]), "one --label per"),
    (lambda: check_prompt(parse_point("300,10"), 256, 256), "outside the 256x256 frame"),
])
def test_bad_prompts_are_one_line(call, message):
    with pytest.raises(UserError, match=message) as caught:
        call()
    assert "\n" not in str(caught.value)


def test_mask_file_must_exist(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        parse_prompts(masks=[str(tmp_path / "none.png")])
