"""DLC-Bench (``nvidia/DLC-Bench``) scored as NVIDIA's evaluator scores it.

Inputs: ``qa.json`` (region key -> its positive and negative questions) and ``class_names.json`` (region key
-> class name), plus the captions (region key -> caption: the evaluator's ``model_outputs_cache`` format).
The judge's answers are cached per region in the evaluator's ``<captions>_eval.json`` format; a region whose
prompts are all in that cache is not asked again, so a rerun after a failure asks only what is missing.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from videocap.errors import UserError
from videocap.evaluate.dlc_questions import judge_prompt, region_questions
from videocap.evaluate.dlc_scoring import Summary, score_region, summarise
from videocap.evaluate.judge import Judge, run_bounded
from videocap.io.files import atomic_write_text, write_json
from videocap.progress import progress_bar

CHECKPOINT_SECONDS = 2.0  # how often judged regions are saved while the judge works


@dataclass(frozen=True)
class Questions:
    qa: dict[str, list[dict]]
    class_names: dict[str, str]

    @property
    def keys(self) -> list[str]:
        return list(self.qa)


def read_json_file(path: Path, what: str) -> object:
    if not path.is_file():
        raise UserError(f"{path}: no such file ({what})")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({' '.join(str(exc).split())})") from exc


def read_questions(data: Path) -> Questions:
    """``qa.json`` and ``class_names.json`` of a DLC-Bench folder; every region must have a class name."""
    qa = read_json_file(data / "qa.json", "DLC-Bench's questions: give the DLC-Bench folder with --data")
    names = read_json_file(data / "class_names.json", "DLC-Bench's class names: give the DLC-Bench folder with --data")
    if not isinstance(qa, dict) or not all(isinstance(q, list) for q in qa.values()):
        raise UserError(f"{data / 'qa.json'}: expected an object of region key -> list of questions")
    if not isinstance(names, dict):
        raise UserError(f"{data / 'class_names.json'}: expected an object of region key -> class name")
    missing = [key for key in qa if key not in names]
    if missing:
        raise UserError(f"{data / 'class_names.json'}: no class name for {len(missing)} regions (first: {missing[0]})")
    return Questions({str(k): v for k, v in qa.items()}, {str(k): str(v) for k, v in names.items()})


def read_captions(path: Path, keys: list[str]) -> dict[str, str]:
    """Captions (region key -> caption) for every key; the evaluator's ``"query"`` entry is ignored."""
    captions = read_json_file(path, "the captions to score: region key -> caption")
    if not isinstance(captions, dict):
        raise UserError(f"{path}: expected an object of region key -> caption")
    missing = [key for key in keys if not isinstance(captions.get(key), str)]
    if missing:
        raise UserError(f"{path}: no caption for {len(missing)} of {len(keys)} regions (first: {missing[0]})")
    failed = [key for key in keys if captions[key].startswith("Error:")]
    if failed:
        raise UserError(f"{path}: the caption of region {failed[0]} is an error: {captions[failed[0]][:80]!r}")
    return {key: captions[key] for key in keys}


def eval_path_for(captions_path: Path, out: Path) -> Path:
    """Where the judge's answers go: ``<captions stem>_eval.json`` in the output folder, as the evaluator names it."""
    return out / f"{captions_path.stem}_eval.json"


def read_judged(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    cached = read_json_file(path, "cached judge answers")
    if not isinstance(cached, dict):
        raise UserError(f"{path}: not a DLC-Bench _eval.json file: delete it to judge again")
    return {key: value for key, value in cached.items() if isinstance(value, dict)}


def judge_regions(questions: Questions, captions: dict[str, str], judge: Judge, eval_path: Path) -> dict[str, dict]:
    """Every region's record, asking the judge only for regions not already in ``eval_path``."""
    judged = read_judged(eval_path)
    records, tasks = {}, []
    for key in questions.keys:
        asked = region_questions(questions.class_names[key], questions.qa[key])
        prompts = [judge_prompt(captions[key], question) for question in asked]
        if judged.get(key, {}).get("prompt") == prompts and len(judged[key].get("response", [])) == len(prompts):
            records[key] = score_region(key, captions[key], asked, prompts, judged[key]["response"])
        else:
            tasks.append(_region_task(key, captions[key], asked, prompts, judge))
    saver = _Checkpoints(eval_path, questions.keys, records)
    with progress_bar(len(questions.keys), "judging", "region") as bar:
        bar.update(len(records))
        try:
            run_bounded(tasks, judge.settings.workers, lambda record: (saver.add(*record), bar.update(1)))
        finally:
            saver.save()
    return {key: records[key] for key in questions.keys}


def _region_task(key: str, caption: str, asked: list[dict], prompts: list[str],
                 judge: Judge) -> Callable[[], tuple[str, dict]]:
    def task() -> tuple[str, dict]:
        return key, score_region(key, caption, asked, prompts, [judge.ask(prompt) for prompt in prompts])
    return task


class _Checkpoints:
    """The judged regions, saved to the ``_eval.json`` now and then (a 2 MB file: not after every region)."""

    def __init__(self, path: Path, keys: list[str], records: dict[str, dict]) -> None:
        self.path, self.keys, self.records = path, keys, records
        self.saved_at = time.monotonic()

    def add(self, key: str, record: dict) -> None:
        self.records[key] = record
        if time.monotonic() - self.saved_at >= CHECKPOINT_SECONDS:
            self.save()

    def save(self, summary: Summary | None = None) -> None:
        ordered = {key: self.records[key] for key in self.keys if key in self.records}
        if summary is not None:
            ordered |= {"avg_pos": summary.positive, "avg_neg": summary.negative, "avg": summary.average}
        atomic_write_text(self.path, json.dumps(ordered, indent=4))
        self.saved_at = time.monotonic()


def score_captions(questions: Questions, captions_path: Path, judge: Judge, out: Path) -> Summary:
    """Judge the captions in ``captions_path``, write the ``_eval.json`` and the per-region scores."""
    captions = read_captions(captions_path, questions.keys)
    eval_path = eval_path_for(captions_path, out)
    records = judge_regions(questions, captions, judge, eval_path)
    summary = summarise(records)
    _Checkpoints(eval_path, questions.keys, records).save(summary)
    write_scores(records, questions, summary, out)
    return summary


def region_rows(records: dict[str, dict], questions: Questions) -> list[dict]:
    return [{"key": key, "class_name": questions.class_names[key], "recognised": record["recognition_result"],
             "score_pos": record["score_pos"], "score_neg": record["score_neg"], "score": record["score"]}
            for key, record in records.items()]


def write_scores(records: dict[str, dict], questions: Questions, summary: Summary, out: Path) -> None:
    """``scores.json`` (the summary and every region's scores) and ``scores.csv`` (one row per region)."""
    rows = region_rows(records, questions)
    write_json(out / "scores.json", {"pos": summary.positive, "neg": summary.negative, "avg": summary.average,
                                     "regions": rows})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({**row, "score_neg": "" if row["score_neg"] is None else row["score_neg"]} for row in rows)
    atomic_write_text(out / "scores.csv", text.getvalue())
