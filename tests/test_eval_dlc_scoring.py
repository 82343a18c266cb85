"""DLC-Bench's prompts, answer matching and region scores against NVIDIA's cached judge answers
(an excerpt in tests/data, so that this runs without ../shared)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dlc_stand_in import DETAIL_FIELDS, class_name_in

from videocap.errors import UserError
from videocap.evaluate.dlc_questions import is_plural, judge_prompt, region_questions
from videocap.evaluate.dlc_scoring import choice_index, score_region, summarise

EXCERPT = Path(__file__).parent / "data" / "dlc_bench_dam_3b_v1_eval_excerpt.json"
CHOICES = ["The leg is not mentioned.", "The leg is mentioned and is red.", "The leg is mentioned but is not red."]


def cached_regions() -> dict[str, dict]:
    return json.loads(EXCERPT.read_text())


@pytest.mark.parametrize("key", ["15050320", "7050495"])
def test_prompts_and_record_match_the_cache(key):
    cached = cached_regions()[key]
    asked = sorted(cached["details_positives"] + cached["details_negatives"], key=lambda d: d["question_index"])
    qa = [{k: v for k, v in d.items() if k not in DETAIL_FIELDS} for d in asked]
    questions = region_questions(class_name_in(cached["details_recognition"][0]["question"]), qa)
    prompts = [judge_prompt(cached["pred"], question) for question in questions]
    assert prompts == cached["prompt"]
    assert score_region(key, cached["pred"], questions, prompts, cached["response"]) == cached


def test_the_cache_asked_about_wine_glass_as_plural():
    assert is_plural("wine glass") and not is_plural("bus") and is_plural("skis") and not is_plural("bird")


@pytest.mark.parametrize("answer, index", [
    ("B", 1), ("b. the leg is mentioned and is red.", 1), ("The leg is not mentioned.", 0),
    ("C. something else", 2),  # the letter decides when no choice is quoted
    ("The leg is mentioned and is red. The leg is not mentioned.", 0),  # several quoted: the last one
    ("mentioned but is not", 2),  # part of one choice
    ("a\nbecause", 0), ("", None), ("banana", None),
])
def test_choice_index(answer, index):
    assert choice_index(answer, CHOICES) == index


def test_summary_is_the_mean_of_positive_and_negative_means():
    records = cached_regions()
    summary = summarise(records)
    assert summary.positive == pytest.approx(sum(r["score_pos"] for r in records.values()) / 2)
    assert summary.line().startswith("Summary (Pos\tNeg\tAvg(Pos, Neg)):\t")


def test_answer_beyond_the_choices_is_an_error():
    question = {"question": "q", "choices": [["x", 1], ["y", 0]], "type": "recognition"}
    with pytest.raises(UserError, match="choice D"):
        score_region("1", "c", [question], ["p"], ["D. z"])
