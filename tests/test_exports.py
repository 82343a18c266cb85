"""Exports read back by the field's own readers: MOTChallenge text by TrackEval, YouTube-VIS RLE masks by
pycocotools."""

from __future__ import annotations

import json

import numpy as np
import pytest

from videocap.cli import main
from videocap.io.files import write_json
from videocap.masks import BoxMask
from videocap.outputs.exports import MOT, YTVIS, mot_lines, write_exports, ytvis_json
from videocap.resources import SAMPLE_TRUTH
from videocap.results import (
    Caption,
    CaptionResult,
    FrameRange,
    Track,
    TrackFrame,
    TrackingResult,
    VideoInfo,
    read_captions,
)
from videocap.settings import CaptionSettings, TrackSettings
from videocap.synthetic import draw_mask

STRIDE = 2
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def truth() -> dict:
    return json.loads(SAMPLE_TRUTH.read_text(encoding="utf-8"))


def result_from_truth() -> CaptionResult:
    """The sample's circles as tracks (boxes and disc masks from its ground truth), every 2nd frame."""
    data = truth()
    size = (data["width"], data["height"])
    tracks = []
    for obj in (o for o in data["objects"] if o["shape"] == "circle"):
        frames = []
        for index, box in zip(obj["frames"], obj["boxes"]):
            if index % STRIDE:
                continue
            centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            mask = BoxMask.from_mask(draw_mask("circle", centre, obj["radius"], 0.0, size))
            frames.append(TrackFrame(index, index / data["fps"], tuple(float(v) for v in box), 0.9, mask))
        track = Track(obj["id"], "circle", frames, [0, len(frames) - 1])
        track.captions = [Caption(0.0, 4.0, frames[0].index, frames[-1].index, [frames[0].index], "a circle")]
        tracks.append(track)
    info = VideoInfo("shapes.mp4", data["fps"], data["num_frames"], size[0], size[1], 4.0, False, "h264")
    tracking = TrackingResult(info, TrackSettings(classes=("circle",)), FrameRange(0, data["num_frames"], STRIDE),
                              tracks)
    return CaptionResult(tracking, CaptionSettings(dam=None), 0.0, 4.0)


def trackeval_dataset(tmp_path, gt_lines: list[str], tracker_lines: list[str], length: int):
    import trackeval

    (tmp_path / "gt" / "shapes" / "gt").mkdir(parents=True)
    (tmp_path / "gt" / "shapes" / "gt" / "gt.txt").write_text("\n".join(gt_lines) + "\n")
    (tmp_path / "trackers" / "videocap" / "data").mkdir(parents=True)
    (tmp_path / "trackers" / "videocap" / "data" / "shapes.txt").write_text("\n".join(tracker_lines) + "\n")
    config = {"GT_FOLDER": str(tmp_path / "gt"), "TRACKERS_FOLDER": str(tmp_path / "trackers"),
              "TRACKERS_TO_EVAL": ["videocap"], "SKIP_SPLIT_FOL": True, "SEQ_INFO": {"shapes": length},
              "PRINT_CONFIG": False, "DO_PREPROC": False}
    return trackeval.datasets.MotChallenge2DBox(config)


def test_mot_text_reads_back_in_trackeval_and_scores_against_the_truth(tmp_path):
    from trackeval.metrics import CLEAR, HOTA

    result = result_from_truth()
    write_exports(result, tmp_path, ("mot",))
    lines = (tmp_path / MOT).read_text().splitlines()
    assert lines == mot_lines(result) and lines[0].startswith("1,")  # frame 0 is frame 1
    assert all(len(line.split(",")) == 10 and line.endswith(",-1,-1,-1") for line in lines)
    # Ground truth in MOTChallenge's gt form (frame,id,x,y,w,h,consider,class,visibility), from the truth file.
    gt = [f"{index + 1},{obj['id']},{b[0]},{b[1]},{b[2] - b[0]},{b[3] - b[1]},1,1,1"
          for obj in truth()["objects"] if obj["shape"] == "circle"
          for index, b in zip(obj["frames"], obj["boxes"]) if index % STRIDE == 0]
    dataset = trackeval_dataset(tmp_path, gt, lines, result.video.frame_count)
    raw = dataset.get_raw_seq_data("videocap", "shapes")
    track = result.tracks[0]
    for f in track.frames:  # TrackEval's timestep t is MOT frame t + 1, our frame t
        ids = list(raw["tracker_ids"][f.index])
        det = raw["tracker_dets"][f.index][ids.index(track.id)]
        assert det == pytest.approx([f.box[0], f.box[1], f.box[2] - f.box[0], f.box[3] - f.box[1]], abs=0.01)
        assert raw["tracker_confidences"][f.index][ids.index(track.id)] == pytest.approx(0.9)
    assert sum(len(ids) for ids in raw["tracker_ids"]) == len(lines)
    data = dataset.get_preprocessed_seq_data(raw, "pedestrian")
    assert CLEAR({"PRINT_CONFIG": False}).eval_sequence(data)["MOTA"] == pytest.approx(1.0)
    assert float(np.mean(HOTA().eval_sequence(data)["HOTA"])) == pytest.approx(1.0)


def test_ytvis_json_masks_decode_with_pycocotools(tmp_path):
    from pycocotools import mask as coco_mask

    result = result_from_truth()
    write_exports(result, tmp_path, ("ytvis",))
    data = json.loads((tmp_path / YTVIS).read_text())
    assert data == json.loads(json.dumps(ytvis_json(result)))
    video = data["videos"][0]
    assert video["length"] == 50 and video["frame_indices"][:3] == [0, 2, 4] and len(video["file_names"]) == 50
    assert data["categories"] == [{"id": 1, "name": "circle"}]
    assert len(data["annotations"]) == len(result.tracks)
    for ann, track in zip(data["annotations"], result.tracks):
        assert ann["category_id"] == 1 and ann["video_id"] == 1 and ann["captions"][0]["text"] == "a circle"
        assert len(ann["segmentations"]) == len(ann["bboxes"]) == len(ann["areas"]) == video["length"]
        by_index = {f.index: f for f in track.frames}
        for n, index in enumerate(video["frame_indices"]):
            rle = ann["segmentations"][n]
            if index not in by_index:
                assert rle is None and ann["bboxes"][n] is None
                continue
            decoded = coco_mask.decode(rle).astype(bool)
            expected = by_index[index].mask.to_mask()
            assert decoded.shape == (240, 320) and np.array_equal(decoded, expected)
            assert int(coco_mask.area(rle)) == ann["areas"][n] == int(expected.sum())
            x, y, w, h = coco_mask.toBbox(rle)
            mx0, my0, mx1, my1 = by_index[index].mask.box
            assert (x, y, w, h) == (mx0, my0, mx1 - mx0, my1 - my0)


def test_export_command(tmp_path, capsys):
    result = result_from_truth()
    write_json(tmp_path / "captions.json", result.to_json())
    assert read_captions(tmp_path / "captions.json").tracks[0].id == result.tracks[0].id
    assert main(["export", str(tmp_path), "--format", "mot"]) == 0
    assert (tmp_path / MOT).is_file() and not (tmp_path / YTVIS).exists()
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "both")]) == 0
    assert (tmp_path / "both" / MOT).read_text() == (tmp_path / MOT).read_text()
    assert (tmp_path / "both" / YTVIS).is_file()
    assert main(["export", str(tmp_path / "nothing")]) == 2
    assert "no such file" in capsys.readouterr().err
