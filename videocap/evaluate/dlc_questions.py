"""The questions and prompts DLC-Bench's judge is asked, worded exactly as in NVIDIA's evaluator
(NVlabs/describe-anything ``evaluation/eval_model_outputs.py``), so that cached judge answers still apply."""

from __future__ import annotations

import functools

JUDGE_PROMPT = """Answer the multiple-choice question based on the text description of an object in an image. \
You need to follow these rules:
1. Do not output any reasoning. Do not perform correction. Please output exactly one answer from the choices for \
each question. Do not repeat the question.
2. There is no need for exact matching. Please choose the closest option based on the description.

The description is:
{caption}

From the description above, please answer the following question with one of the choices:
{question}
"""

CHOICE_LETTERS = "ABCDE"
RECOGNITION_CHOICES = [["Yes", "correct"], ["No", "incorrect"]]

# The number inflect gave these names when the published scores were made; inflect 7 judges "wine glass"
# singular (it reads the whole name), the cached prompts ask about "wine glass" as plural.
NUMBER_OVERRIDES = {"bus": False, "wine glass": True}


@functools.cache
def _inflect_engine():
    import inflect  # imported late: only the judge step needs it

    return inflect.engine()


def is_plural(name: str) -> bool:
    if name in NUMBER_OVERRIDES:
        return NUMBER_OVERRIDES[name]
    return _inflect_engine().singular_noun(name) is not False  # False: already singular


def recognition_question(class_name: str) -> dict:
    """The Yes/No question put before a region's own questions: is the described object of its class?"""
    if is_plural(class_name):
        text = (f"Is it likely that the objects in the description are {class_name} or objects of a similar type? "
                "Again, It does not have to be an exact match.")
    else:
        text = (f"Is it likely that the object in the description is {_inflect_engine().a(class_name)} or an object "
                "of a similar type? Again, It does not have to be an exact match.")
    return {"question": text, "choices": [list(choice) for choice in RECOGNITION_CHOICES], "type": "recognition"}


def region_questions(class_name: str, qa: list[dict]) -> list[dict]:
    """The recognition question first, then the region's positive and negative questions in file order."""
    return [recognition_question(class_name), *qa]


def judge_prompt(caption: str, question: dict) -> str:
    choices = "".join(f"{CHOICE_LETTERS[i]}. {text}\n" for i, (text, _score) in enumerate(question["choices"]))
    return JUDGE_PROMPT.format(caption=caption, question=f"{question['question']}\n{choices}".strip())
