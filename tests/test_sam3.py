"""SAM 3 as segmenter and tracker, on a small random checkpoint built here (the real one is gated).

Random weights find random things; the checkpoint's thresholds are low and its tracker keeps objects
present (``videocap.testing.sam3_random``), so every frame has objects, some followed across frames. What is
checked is videocap's side: the streaming loop equals transformers' whole-clip propagation, ids, boxes,
masks and class names come from SAM 3's outputs, the session's state stays bounded, tracks, the CLI,
the cache key and the errors.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from videocap.errors import UserError
from videocap.io.video import Frame
from videocap.masks import BoxMask
from videocap.resources import DEMO_DAM
from videocap.results import FrameRange
from videocap.segment import cache
from videocap.segment.registry import segmenter_entry
from videocap.segment.sam3 import (
    Sam3Segmenter,
    Sam3Tracker,
    forget_old_state,
    prompts_of,
    resolve_sam3,
)
from videocap.segment.tracking import TrackBuilder, make_segmenter
from videocap.settings import ImageSettings, TrackSettings, load_config
from videocap.synthetic import make_clip
from videocap.testing.sam3_random import save_random_sam3, tiny_tokenizer

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ("circle", "square")
FRAMES = 9  # longer than the tiny tracker's memory window (4 frames), so pruning is exercised


@pytest.fixture(scope="session")
def sam3_checkpoint(tmp_path_factory) -> Path:
    return save_random_sam3(tmp_path_factory.mktemp("sam3") / "sam3-tiny", "tiny")


@pytest.fixture(scope="session")
def clip():
    return make_clip(3, num_frames=FRAMES, size=(64, 48), num_objects=2)


@pytest.fixture(scope="session")
def streamed(sam3_checkpoint, clip):
    """(tracker, per-frame Detections) of the clip streamed frame by frame."""
    tracker = Sam3Tracker(sam3_checkpoint, PROMPTS, device="cpu")
    tracker.reset()
    detections = [tracker.update(Frame(i, i / clip.fps, image)) for i, image in enumerate(clip.frames)]
    return tracker, detections


def test_tokenizer_keeps_words_whole():
    tokenizer = tiny_tokenizer()
    tokens = tokenizer.convert_ids_to_tokens(tokenizer("a red circle").input_ids)
    assert tokens == ["<|startoftext|>", "a</w>", "red</w>", "circle</w>", "<|endoftext|>"]
    assert len(tokenizer("forklift").input_ids) > 3  # unknown words fall back to bytes


def test_streamed_equals_whole_clip_propagation(streamed, clip):
    tracker, detections = streamed
    processor, model = tracker.processor, tracker.model
    session = processor.init_video_session(video=clip.frames, inference_device="cpu")
    processor.add_text_prompt(session, list(PROMPTS))
    whole = [tracker.detections(processor.postprocess_outputs(session, out), i, i / clip.fps)
             for i, out in enumerate(model.propagate_in_video_iterator(session))]
    assert len(whole) == len(detections) == FRAMES
    assert sum(len(d) for d in detections) > 0
    for ours, theirs in zip(detections, whole):
        assert ours.track_ids.tolist() == theirs.track_ids.tolist()
        assert ours.class_names == theirs.class_names
        np.testing.assert_array_equal(ours.boxes, theirs.boxes)
        np.testing.assert_allclose(ours.scores, theirs.scores, rtol=1e-6)
        assert ours.masks == theirs.masks


def test_detections_carry_sam3_ids_prompts_and_mask_boxes(streamed):
    _, detections = streamed
    first = detections[0]
    assert len(first) > 0
    assert set(first.class_names) <= set(PROMPTS)
    assert first.track_ids.min() >= 1  # SAM 3's object ids from 0, videocap's labels from 1
    for box, mask in zip(first.boxes, first.masks):
        assert isinstance(mask, BoxMask) and mask.area > 0 and mask.frame_size == (64, 48)
        assert tuple(box) == mask.box  # the box is the mask's tight box
    followed = set(detections[0].track_ids) & set(detections[-1].track_ids)
    assert followed, "the tracker follows some objects from the first frame to the last"


def test_session_state_stays_bounded(streamed):
    tracker, _ = streamed
    session, config = tracker.session, tracker.model.tracker_model.config
    window = max(config.num_maskmem, config.max_object_pointers_in_encoder)
    assert sum(p.numel() > 0 for p in session.processed_frames.values()) == 1  # only the newest frame's pixels
    for outputs in session.output_dict_per_obj.values():
        assert len(outputs["non_cond_frame_outputs"]) <= window + 1
        assert len(outputs["cond_frame_outputs"]) <= config.max_cond_frame_num
    assert len(session.obj_id_to_tracker_score_frame_wise) <= 1
    assert len(session.suppressed_obj_ids) <= 1


def test_forget_old_state_keeps_first_and_newest_conditioning_frames(streamed):
    tracker, _ = streamed
    session = tracker.session
    outputs = session.output_dict_per_obj[0]
    saved = dict(outputs["cond_frame_outputs"])
    outputs["cond_frame_outputs"].update({f: saved[min(saved)] for f in (100, 101, 102)})
    forget_old_state(session, tracker.model, 102)
    kept = sorted(outputs["cond_frame_outputs"])
    assert kept == [min(saved), 102][:tracker.model.tracker_model.config.max_cond_frame_num]
    outputs["cond_frame_outputs"].clear()
    outputs["cond_frame_outputs"].update(saved)


def test_tracks_from_streamed_detections(streamed):
    _, detections = streamed
    builder = TrackBuilder()
    for frame_detections in detections:
        builder.add(frame_detections)
    tracks = builder.tracks()
    assert tracks and all(t.class_name in PROMPTS for t in tracks)
    assert max(len(t.frames) for t in tracks) == FRAMES
    assert [t.id for t in tracks] == sorted({int(i) for d in detections for i in d.track_ids})


def test_reset_starts_ids_again(sam3_checkpoint, clip):
    tracker = Sam3Tracker(sam3_checkpoint, ["circle"], device="cpu")
    tracker.reset()
    first = tracker.update(Frame(0, 0.0, clip.frames[0]))
    tracker.select_classes(["square"])
    tracker.reset()
    again = tracker.update(Frame(0, 0.0, clip.frames[0]))
    assert again.track_ids.min() == first.track_ids.min() == 1
    assert set(again.class_names) == {"square"}


def test_photo_segmenter(sam3_checkpoint, clip):
    segmenter = make_segmenter(ImageSettings(("circle", "square"), segmenter="sam3", segmenter_model=str(sam3_checkpoint),
                                             conf=0.2, device="cpu"))
    assert isinstance(segmenter, Sam3Segmenter)
    found = segmenter(clip.frames[0])
    assert len(found) > 0 and set(found.class_names) <= {"circle", "square"}
    assert (found.track_ids == -1).all()
    assert list(found.scores) == sorted(found.scores, reverse=True)
    for box, mask in zip(found.boxes, found.masks):
        assert tuple(box) == mask.box and mask.area > 0


def test_prompt_tracker_follows_points_and_boxes_both_ways(sam3_checkpoint, clip, tmp_path):
    from clips import make_clip as encode_clip
    from sam_reference import assert_same, whole_video

    from videocap.io.video import Video
    from videocap.prompts import RegionPrompt

    video = Video(encode_clip(tmp_path / "c.mp4", FRAMES, size=(64, 48), pattern=lambda n, w, h: clip.frames[n]))
    prompts = (RegionPrompt("points", ((20.0, 20.0),), (1,), frame=4, label="a"),
               RegionPrompt("box", box=(30.0, 10.0, 60.0, 40.0), frame=4, label="b"))
    settings = TrackSettings((), prompts=prompts, segmenter="sam3", segmenter_model=str(sam3_checkpoint), device="cpu")
    tracker = segmenter_entry("sam3").make_prompt_tracker(settings)
    assert type(tracker.model).__name__ == "Sam3TrackerVideoModel"
    ours = list(tracker.track_prompts(video, FrameRange(0, FRAMES), prompts))
    frames = [f.image for f in video.read(FrameRange(0, FRAMES))]
    forward, backward = (whole_video(tracker, frames, prompts, 4, reverse) for reverse in (False, True))
    assert [d.frame_index for d in ours] == list(range(FRAMES))
    for detections in ours:
        assert_same(detections, forward[detections.frame_index] if detections.frame_index >= 4
                    else backward[detections.frame_index])
        assert detections.class_names == ("a", "b")


def _videocap(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "videocap", *args], cwd=REPO, capture_output=True, text=True,
                          check=False, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def test_cli_caption_with_sam3_writes_every_output(sam3_checkpoint, tmp_path):
    out = tmp_path / "o"
    run = _videocap("caption", str(REPO / "videocap/data/sample/shapes.mp4"), "--segmenter", "sam3",
                    "--sam3", str(sam3_checkpoint), "--class", "circle", "--dam", str(DEMO_DAM), "--end", "5",
                    "--min-score", "0", "--keyframes", "2", "--max-new-tokens", "8", "--temperature", "0",
                    "--device", "cpu", "--out", str(out), "--quiet")
    assert run.returncode == 0, run.stderr
    captions = json.loads((out / "captions.json").read_text())
    assert captions["tracks"] and all(t["class"] == "circle" for t in captions["tracks"])
    assert all(t["captions"] for t in captions["tracks"])
    for name in ("captioned.mp4", "captioned.mkv", "captions.ass"):
        assert (out / name).stat().st_size > 0
    assert len(list(out.glob("circle-*.srt"))) == len(captions["tracks"])
    assert len(list(out.glob("circle-*.vtt"))) == len(captions["tracks"])
    # the segmentation model recorded is the SAM 3 checkpoint that ran, not the YOLO default
    segmentation = captions["models"]["about"]["segmentation"]
    assert captions["models"]["segmentation"] == segmentation["name"] == str(sam3_checkpoint)
    assert segmentation["path"] == str(sam3_checkpoint) and segmentation["revision"].startswith("sha256:")
    assert "yolo" not in json.dumps(captions["models"]).lower() and captions["settings"]["tracker"] == "sam3"


def test_cli_image_with_sam3(sam3_checkpoint, clip, tmp_path):
    from PIL import Image

    photo = tmp_path / "shapes.png"
    Image.fromarray(clip.frames[0]).save(photo)
    run = _videocap("image", str(photo), "--segmenter", "sam3", "--sam3", str(sam3_checkpoint), "--class", "red car",
                    "--conf", "0.2", "--dam", str(DEMO_DAM), "--max-new-tokens", "8", "--device", "cpu",
                    "--out", str(tmp_path / "o"), "--quiet")
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "o" / "shapes.json").read_text())
    assert result["objects"] and all(o["class"] == "red car" and o["caption"] for o in result["objects"])
    assert (tmp_path / "o" / "shapes.captioned.png").stat().st_size > 0
    assert result["models"]["segmentation"] == result["models"]["about"]["segmentation"]["name"] == str(sam3_checkpoint)
    assert "yolo" not in json.dumps(result["models"]).lower()


def test_cli_without_checkpoint_says_how_to_get_it(tmp_path):
    run = _videocap("track", str(REPO / "videocap/data/sample/shapes.mp4"), "--segmenter", "sam3", "--class", "car",
                    "--out", str(tmp_path / "t.json"), env={"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path)})
    assert run.returncode == 2
    message = run.stderr.strip()
    assert len(message.splitlines()) == 1
    assert "facebook/sam3" in message and "hf download facebook/sam3" in message and "hf auth login" in message


def test_checkpoint_errors_are_one_line(tmp_path, sam3_checkpoint):
    with pytest.raises(UserError, match="no such folder"):
        resolve_sam3(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        resolve_sam3(tmp_path / "empty")
    pt_only = tmp_path / "pt"
    pt_only.mkdir()
    (pt_only / "config.json").write_text((sam3_checkpoint / "config.json").read_text())
    (pt_only / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(UserError, match="safetensors only"):
        resolve_sam3(pt_only)
    with pytest.raises(UserError, match="no text prompt"):
        prompts_of(["  "])


def test_gated_repo_says_accept_the_licence(monkeypatch):
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError

    def refuse(repo_id, local_files_only=False, **kwargs):
        if local_files_only:
            raise FileNotFoundError(repo_id)
        error = GatedRepoError.__new__(GatedRepoError)  # its constructor wants an HTTP response
        Exception.__init__(error, "gated")
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with pytest.raises(UserError, match=r"accept its licence .* `hf auth login`"):
        resolve_sam3("facebook/sam3")


def test_hub_id_resolves_from_the_cache(monkeypatch, tmp_path, sam3_checkpoint):
    import huggingface_hub

    repo = tmp_path / "models--videocap--sam3-tiny"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    for file in sam3_checkpoint.iterdir():
        (snapshot / file.name).symlink_to(file)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert resolve_sam3("videocap/sam3-tiny") == snapshot


def test_cache_key_names_segmenter_checkpoint_and_prompts(tmp_path, sam3_checkpoint):
    def key(**kw):
        settings = TrackSettings(**{"segmenter": "sam3", "segmenter_model": str(sam3_checkpoint),
                                    "classes": ("red car", "person"), **kw})
        identity = segmenter_entry(settings.segmenter).cache_identity(settings)
        return cache.tracking_key("v" * 64, FrameRange(0, 10, 1), identity)

    assert key() == key()
    assert key() != key(segmenter="yolo", segmenter_model="yolo11x-seg.pt")
    assert key() != key(classes=("person", "red car"))  # SAM 3 numbers objects in prompt order
    assert key() != key(segmenter_model="facebook/sam3")
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in sam3_checkpoint.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    assert key(segmenter_model=str(copy)) == key()  # keyed by content, not by where the folder is
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("0.2", "0.3", 1))
    assert key(segmenter_model=str(copy)) != key()


def test_settings_and_config_take_the_segmenter(tmp_path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("segmenter: sam3\nsam3: facebook/sam3\n")
    config = load_config(config_file)
    assert config["sam3"] == "facebook/sam3"  # a hub id is not taken for a path beside the config
    settings = TrackSettings.from_config(config, classes=("forklift",))
    assert (settings.segmenter, settings.segmenter_model) == ("sam3", "facebook/sam3")
    # the older keys are aliases of segmenter_model, each for its own segmenter
    assert TrackSettings.from_config({"model": "x.pt", **config}, classes=("a",)).segmenter_model == "facebook/sam3"
    assert TrackSettings.from_config({"model": "x.pt", "sam3": "y"}, classes=("a",)).segmenter_model == "x.pt"
    assert TrackSettings.from_config(config, classes=("a",), model="z/w").segmenter_model == "z/w"
    assert TrackSettings(("a",), segmenter="sam3").segmenter_model == "facebook/sam3"  # the registry's default
    assert ImageSettings.from_config(config, classes=("forklift",)).segmenter == "sam3"
    assert TrackSettings(("person",)).segmenter == "yolo"
    with pytest.raises(UserError, match="choose from yolo, sam3, sam2"):
        TrackSettings(("person",), segmenter="sam9")
