"""``videocap eval captions``: reference-caption metrics, objects paired by mask IoU or by id, and the
VideoRefer-Bench-D reader. Java is hidden (METEOR and the PTB tokenizer need it and take seconds)."""

from __future__ import annotations

import json

import pytest
from support import hand_made_result

from videocap.cli import main
from videocap.evaluate import caption_metrics
from videocap.evaluate.caption_metrics import CaptionPair, caption_scores


@pytest.fixture(autouse=True)
def no_java(monkeypatch):
    monkeypatch.setattr(caption_metrics, "java_available", lambda: False)


@pytest.fixture
def run_dir(tmp_path):
    result = hand_made_result(track_frames=4, caption="a red circle moves to the right", track_ids=(7,))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "captions.json").write_text(json.dumps(result.to_json()))
    return tmp_path / "run", result


def test_run_folder_matched_by_mask_iou(run_dir, tmp_path, capsys):
    folder, result = run_dir
    masks = {str(f.index): f.mask.to_rle() for f in result.tracking.tracks[0].frames}
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"objects": [{"id": 1, "caption": "A red circle moving right.", "masks": masks}]}))
    assert main(["eval", "captions", "--pred", str(folder), "--ref", str(ref)]) == 0
    captured = capsys.readouterr()
    assert "1 of 1 reference objects matched by iou" in captured.err
    first, skipped = captured.out.splitlines()
    assert first.startswith("1 objects: BLEU-4 ") and "ROUGE-L" in first and "CIDEr" in first
    assert first.endswith("(tokenizer: simple)") and skipped.startswith("METEOR skipped: it needs Java")


def test_videorefer_bench_d_references_matched_by_id(tmp_path, capsys):
    ref = tmp_path / "VideoRefer-Bench-D.json"
    ref.write_text(json.dumps([{"id": 0, "video": "a.mp4", "caption": "A dog runs on the grass.",
                                "annotation": [{"2": {"segmentation": {"size": [4, 4], "counts": [16]}}}]},
                               {"id": 1, "video": "b.mp4", "caption": "A cat sleeps."}]))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps([{"id": 0, "pred": "A dog runs on the grass."}, {"id": 5, "pred": "x"}]))
    assert main(["eval", "captions", "--pred", str(pred), "--ref", str(ref)]) == 0
    captured = capsys.readouterr()
    assert "1 of 2 reference objects matched by id" in captured.err
    assert "ROUGE-L 1.000" in captured.out


def test_identical_captions_score_one():
    scores = caption_scores([CaptionPair("1", "a red circle moves left", ["a red circle moves left"])])
    assert scores.scores["BLEU-4"] == pytest.approx(1.0, abs=1e-6) and scores.scores["ROUGE-L"] == 1.0


def test_bad_inputs(run_dir, tmp_path, capsys):
    folder, _ = run_dir
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"objects": [{"id": 1, "caption": "c"}]}))
    assert main(["eval", "captions", "--pred", str(folder), "--ref", str(tmp_path / "none.json")]) == 2
    assert main(["eval", "captions", "--pred", str(folder), "--ref", str(ref), "--match", "iou"]) == 2
    assert main(["eval", "captions", "--pred", str(folder), "--ref", str(ref)]) == 2  # id 1 is not track 7
    errors = capsys.readouterr().err.strip().splitlines()
    assert "none.json: no such file" in errors[0]
    assert "needs masks for every reference object" in errors[1]
    assert errors[-1] == "videocap: error: no predicted object matches a reference object by id"
