"""A stand-in DLC-Bench folder in the published layout (``images/``, ``annotations.json``, ``qa.json``,
``class_names.json``), and the published qa.json and class_names.json rebuilt from the evaluator's cache."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as coco_mask

DETAIL_FIELDS = ("pred_answer", "pred_index", "question_index", "eval_result")  # what the evaluator adds


def colour_question(part: str, colour: str) -> dict:
    return {"question": "Which of the following is applicable to the description?", "type": "positive",
            "choices": [[f"The {part} is not mentioned.", 0], [f"The {part} is mentioned and is {colour}.", 1],
                        [f"The {part} is mentioned but is not {colour}.", -1]]}


def hallucination_question(thing: str) -> dict:
    return {"question": "Which of the following is applicable to the description?", "type": "negative",
            "subtype": "negative part",
            "choices": [[f"The {thing} is not mentioned in the description.", 1],
                        [f"The {thing} is mentioned in the description.", -1]]}


def make_bench(root: Path) -> Path:
    """Two images, three regions: a polygon, a compressed RLE and an uncompressed RLE mask."""
    (root / "images").mkdir(parents=True)
    canvas = np.zeros((48, 64, 3), np.uint8)
    canvas[8:24, 8:24] = (255, 0, 0)
    canvas[28:44, 36:60] = (0, 0, 255)
    Image.fromarray(canvas).save(root / "images" / "one.jpg")
    Image.fromarray(canvas[:, ::-1].copy()).save(root / "images" / "two.jpg")
    square = np.zeros((48, 64), np.uint8, order="F")
    square[28:44, 36:60] = 1
    compressed = coco_mask.encode(square)
    compressed["counts"] = compressed["counts"].decode()
    annotations = [
        {"id": 11, "image_id": 1, "category_id": 1, "segmentation": [[8, 8, 24, 8, 24, 24, 8, 24]], "area": 256},
        {"id": 12, "image_id": 1, "category_id": 2, "segmentation": compressed, "area": 384},
        {"id": 21, "image_id": 2, "category_id": 2, "area": 256,
         "segmentation": {"size": [48, 64], "counts": [400, 16, 48 * 64 - 416]}},
    ]
    coco = {"images": [{"id": 1, "file_name": "one.jpg", "height": 48, "width": 64},
                       {"id": 2, "file_name": "two.jpg", "height": 48, "width": 64}],
            "annotations": annotations, "categories": [{"id": 1, "name": "tile"}, {"id": 2, "name": "box"}]}
    (root / "annotations.json").write_text(json.dumps(coco))
    qa = {"11": [colour_question("tile", "red"), hallucination_question("handle")],
          "12": [colour_question("box", "blue")],
          "21": [colour_question("box", "blue"), hallucination_question("lid")]}
    (root / "qa.json").write_text(json.dumps(qa))
    (root / "class_names.json").write_text(json.dumps({"11": "tile", "12": "boxes", "21": "box"}))
    return root


def bench_from_cache(eval_cache: dict, root: Path) -> Path:
    """qa.json and class_names.json as published, read back from the questions the cached ``_eval.json`` holds."""
    root.mkdir(parents=True, exist_ok=True)
    qa, names = {}, {}
    for key, record in eval_cache.items():
        if not isinstance(record, dict):
            continue
        asked = sorted(record["details_positives"] + record["details_negatives"], key=lambda d: d["question_index"])
        qa[key] = [{k: v for k, v in d.items() if k not in DETAIL_FIELDS} for d in asked]
        names[key] = class_name_in(record["details_recognition"][0]["question"])
    (root / "qa.json").write_text(json.dumps(qa))
    (root / "class_names.json").write_text(json.dumps(names))
    return root


def class_name_in(recognition_question: str) -> str:
    return re.search(r" (?:are|is an?) (.+) or (?:an )?objects? of a similar type", recognition_question).group(1)
