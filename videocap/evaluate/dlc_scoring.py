"""How DLC-Bench turns the judge's answers into scores, as NVIDIA's evaluator does: the answer is matched
to a choice (``choice_index``), each choice carries a score, a failed recognition caps the region's scores
at 0, and the summary averages positive and negative means over the regions."""

from __future__ import annotations

from dataclasses import dataclass

from videocap.errors import UserError

LETTERS = "abcde"


def choice_index(answer: str, choices: list[str]) -> int | None:
    """The choice the judge's answer names, or None (then the question scores 0)."""
    answer = answer.strip().lower()
    options = [choice.strip().lower() for choice in choices]
    for index, option in enumerate(options):
        if answer in (option, f"{LETTERS[index]}. {option}", LETTERS[index]):
            return index
    if not answer:
        return None
    contained = [(index, answer.index(option), len(option)) for index, option in enumerate(options) if option in answer]
    if len(contained) == 1:
        return contained[0][0]
    if answer[0] in LETTERS and answer[1:2] == ".":  # "c. something else": the letter decides
        return LETTERS.index(answer[0])
    if contained:  # several choices quoted: the one that starts last, then the longest (as MMMU does)
        return max(contained, key=lambda item: (item[1], item[2], -item[0]))[0]
    containing = [(index, len(option)) for index, option in enumerate(options) if answer in option]
    if containing:  # the answer is part of choices: the longest of them
        return max(containing, key=lambda item: (item[1], -item[0]))[0]
    if answer[0] in LETTERS and (len(answer) == 1 or answer[1] == "\n"):
        return LETTERS.index(answer[0])
    return None


def choice_score(question: dict, index: int | None) -> float | str:
    if index is None:
        return 0
    if index >= len(question["choices"]):
        raise UserError(f"the judge answered choice {LETTERS[index].upper()} to a question with "
                        f"{len(question['choices'])} choices")
    return question["choices"][index][1]


def score_region(key: str, caption: str, questions: list[dict], prompts: list[str], answers: list[str]) -> dict:
    """One region's record in the evaluator's ``_eval.json`` format (details, prompts, answers and scores)."""
    details: dict[str, list[dict]] = {"positive": [], "negative": [], "recognition": []}
    recognised = None
    for number, (question, answer) in enumerate(zip(questions, answers, strict=True)):
        index = choice_index(answer.strip(), [text for text, _score in question["choices"]])
        result = choice_score(question, index)
        detail = {**question, "pred_answer": answer.strip(), "pred_index": index}
        if question["type"] == "recognition":
            if result not in ("correct", "incorrect"):
                raise UserError(f"region {key}: the judge's answer to the recognition question is neither Yes "
                                f"nor No: {answer.strip()[:80]!r}")
            recognised = result == "correct"
        elif question["type"] in ("positive", "negative"):
            if recognised is None:
                raise UserError(f"region {key}: a {question['type']} question comes before the recognition question")
            result = result if recognised else min(0, result)  # the gate: a wrong object earns nothing
            detail["question_index"] = number - 1  # its place in qa.json (the recognition question is not there)
        else:
            raise UserError(f"region {key}: unknown question type {question['type']!r} in qa.json")
        details[question["type"]].append({**detail, "eval_result": result})
    return _region_record(caption, details, prompts, answers, recognised)


def _region_record(caption: str, details: dict[str, list[dict]], prompts: list[str], answers: list[str],
                   recognised: bool | None) -> dict:
    positives = [d["eval_result"] for d in details["positive"]]
    negatives = [d["eval_result"] for d in details["negative"]]
    if not positives:
        raise UserError("a region has no positive question in qa.json")
    return {
        "pred": caption,
        "details_positives": details["positive"],
        "details_negatives": details["negative"],
        "details_recognition": details["recognition"],
        "prompt": prompts,
        "response": answers,
        "score": (sum(positives) + sum(negatives)) / (len(positives) + len(negatives)),
        "score_pos": sum(positives) / len(positives),
        "score_neg": sum(negatives) / len(negatives) if negatives else None,  # regions without negatives skip Neg
        "neg_valid_num": len(negatives),
        "recognition_result": recognised,
    }


@dataclass(frozen=True)
class Summary:
    positive: float
    negative: float

    @property
    def average(self) -> float:
        return (self.positive + self.negative) / 2

    def line(self) -> str:
        """The evaluator's summary line, tabs and all."""
        return (f"Summary (Pos\tNeg\tAvg(Pos, Neg)):\t{self.positive:.3f},\t{self.negative:.3f},"
                f"\t{self.average:.3f}")


def summarise(records: dict[str, dict]) -> Summary:
    positives = [r["score_pos"] for r in records.values()]
    negatives = [r["score_neg"] for r in records.values() if r["score_neg"] is not None]
    if not positives or not negatives:
        raise UserError("no region to summarise (qa.json has no regions, or none with negative questions)")
    return Summary(sum(positives) / len(positives), sum(negatives) / len(negatives))
