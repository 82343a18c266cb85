"""SAM 2.1 with region prompts, on a tiny random checkpoint built here (``videocap.testing.sam2_random``).

Random weights segment random things; what is checked is videocap's side: streamed propagation from a
mid-range prompt equals transformers' whole-video ``propagate_in_video_iterator`` forward and with
``reverse=True``, several objects share a session, the session's state stays bounded, the registry
entry, photos, the cache key and the errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from clips import make_clip as encode_clip
from sam_reference import assert_same, whole_video

from videocap.errors import UserError
from videocap.io.video import Video
from videocap.masks import BoxMask
from videocap.prompts import RegionPrompt
from videocap.results import FrameRange
from videocap.segment import cache
from videocap.segment.propagation import RegionPropagator
from videocap.segment.registry import segmenter_entry
from videocap.segment.sam2 import Sam2PhotoSegmenter, prompt_tracker, resolve_sam2
from videocap.settings import ImageSettings, TrackSettings
from videocap.synthetic import make_clip
from videocap.testing.sam2_random import save_random_sam2

FRAMES = 12  # longer than the tiny model's memory windows (4 frames), so pruning is exercised
MID = 6
SIZE = (64, 48)
PROMPTS = (RegionPrompt("points", ((20.0, 20.0), (50.0, 40.0)), (1, 0), frame=MID, label="left"),
           RegionPrompt("box", box=(30.0, 10.0, 60.0, 40.0), frame=MID, label="right"))


@pytest.fixture(scope="session")
def sam2_checkpoint(tmp_path_factory) -> Path:
    return save_random_sam2(tmp_path_factory.mktemp("sam2") / "sam2-tiny")


@pytest.fixture(scope="session")
def video(tmp_path_factory) -> Video:
    clip = make_clip(3, num_frames=40, size=SIZE, num_objects=2)
    path = tmp_path_factory.mktemp("video") / "shapes.mp4"
    return Video(encode_clip(path, 40, size=SIZE, pattern=lambda n, w, h: clip.frames[n]))


@pytest.fixture(scope="session")
def tracker(sam2_checkpoint) -> RegionPropagator:
    return prompt_tracker(sam2_checkpoint, "cpu")


def test_streamed_propagation_equals_whole_video_both_ways(tracker, video):
    frame_range = FrameRange(0, FRAMES)
    ours = list(tracker.track_prompts(video, frame_range, PROMPTS))
    assert [d.frame_index for d in ours] == list(range(FRAMES))  # every frame, in order
    frames = [f.image for f in video.read(frame_range)]
    forward = whole_video(tracker, frames, PROMPTS, MID, reverse=False)
    backward = whole_video(tracker, frames, PROMPTS, MID, reverse=True)
    assert sorted(forward) == list(range(MID, FRAMES)) and sorted(backward) == list(range(MID + 1))
    for detections in ours:
        index = detections.frame_index
        assert_same(detections, forward[index] if index >= MID else backward[index])
        assert detections.class_names == ("left", "right")
        assert all(tuple(box) == mask.box for box, mask in zip(detections.boxes, detections.masks))


def test_prompts_on_different_frames_each_start_there(tracker, video):
    early = RegionPrompt("box", box=(5.0, 5.0, 30.0, 30.0), frame=2, label="early")
    late = RegionPrompt("points", ((40.0, 30.0),), (1,), frame=8, label="late")
    frame_range = FrameRange(0, FRAMES)
    ours = list(tracker.track_prompts(video, frame_range, [early, late]))
    assert [d.frame_index for d in ours] == list(range(FRAMES))
    assert all(d.track_ids.tolist() == [1, 2] for d in ours)
    frames = [f.image for f in video.read(frame_range)]
    late_forward = whole_video(tracker, frames, [late], 8, reverse=False)  # alone, from its own frame
    for index in range(8, FRAMES):
        only_late = ours[index].track_ids == 2
        theirs = [(2, m, s) for _, m, s in late_forward[index]]
        assert list(np.asarray(ours[index].masks, object)[only_late]) == [BoxMask.from_mask(m) for _, m, _ in theirs]
        np.testing.assert_allclose(ours[index].scores[only_late], [s for *_, s in theirs], rtol=1e-5)


def test_strided_range_and_prompt_between_its_frames(tracker, video):
    frame_range = FrameRange(4, 30, 3)
    prompt = RegionPrompt("box", box=(10.0, 10.0, 40.0, 40.0), frame=15, label="x")  # between 13 and 16
    ours = list(tracker.track_prompts(video, frame_range, [prompt]))
    assert [d.frame_index for d in ours] == list(frame_range.indices)
    frames = [f.image for f in video.read(frame_range)]
    forward = whole_video(tracker, frames, [prompt], 4, reverse=False)  # frame 16 is position 4
    assert_same(ours[4], forward[4])


def test_session_state_stays_bounded(tracker, video):
    config = tracker.model.config
    window = max(config.num_maskmem, config.max_object_pointers_in_encoder)
    frames = tracker.track_prompts(video, FrameRange(0, 40), [at_frame(PROMPTS[1], 30)])
    next(frames)  # the backward pass (30 frames) is done: its session is the tracker's
    check_bounded(tracker.session, window)
    for _ in frames:
        pass
    check_bounded(tracker.session, window)


def at_frame(prompt: RegionPrompt, frame: int) -> RegionPrompt:
    return RegionPrompt.from_json({**prompt.to_json(), "frame": frame})


def check_bounded(session, window: int) -> None:
    assert not session.processed_frames  # no frame's pixels
    assert len(session.cache._vision_features) <= 1
    for obj_idx, outputs in session.output_dict_per_obj.items():
        assert len(outputs["non_cond_frame_outputs"]) <= window
        assert len(outputs["cond_frame_outputs"]) == 1  # the prompt's frame
        assert len(session.frames_tracked_per_obj[obj_idx]) <= 1


def test_mask_prompt_is_followed(tracker, video, tmp_path):
    from PIL import Image

    mask = np.zeros(SIZE[::-1], np.uint8)
    mask[10:30, 12:40] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    prompt = RegionPrompt("mask", mask=str(tmp_path / "m.png"), frame=3, label="m")
    ours = list(tracker.track_prompts(video, FrameRange(0, 8), [prompt]))
    given, got = BoxMask.from_mask(mask > 0), ours[3].masks[0]
    assert got.box == given.box  # on its frame SAM 2 gives back the mask (resized to its input size and back)
    assert (got.to_mask() & given.to_mask()).sum() / (got.to_mask() | given.to_mask()).sum() > 0.9
    assert all(d.track_ids.tolist() == [1] for d in ours)


def test_registry_entry_gives_a_prompt_tracker(sam2_checkpoint, video):
    settings = TrackSettings(classes=(), prompts=PROMPTS, segmenter="sam2", segmenter_model=str(sam2_checkpoint),
                             device="cpu")
    entry = segmenter_entry("sam2")
    found = list(entry.make_prompt_tracker(settings).track_prompts(video, FrameRange(0, FRAMES), PROMPTS))
    assert len(found) == FRAMES and found[MID].class_names == ("left", "right")
    assert entry.tracker_record() == "sam2"
    assert TrackSettings((), prompts=PROMPTS, segmenter="sam2").segmenter_model == "facebook/sam2.1-hiera-large"
    assert entry.model_record("facebook/sam2.1-hiera-large")["licence"] == "Apache-2.0"
    nothing = entry.make_tracker(settings)  # no class names: a tracker that finds nothing
    nothing.reset()
    assert len(nothing.update(next(iter(video.read(FrameRange(0, 1)))))) == 0
    with pytest.raises(UserError, match=r"region prompts \(--point, --box, --mask\)"):
        entry.make_tracker(TrackSettings(("person",), segmenter="sam2", segmenter_model=str(sam2_checkpoint)))


def test_photo_segmenter_takes_prompts(sam2_checkpoint, video):
    image = next(iter(video.read(FrameRange(0, 1)))).image
    settings = ImageSettings((), segmenter="sam2", segmenter_model=str(sam2_checkpoint), device="cpu",
                             prompts=PROMPTS)
    segmenter = segmenter_entry("sam2").make_photo_segmenter(settings)
    assert isinstance(segmenter, Sam2PhotoSegmenter)
    found = segmenter(image)
    assert found.track_ids.tolist() == [1, 2] and found.class_names == ("left", "right")
    assert all(m.area > 0 and tuple(b) == m.box for b, m in zip(found.boxes, found.masks))
    one = segmenter.segment_prompts(image, PROMPTS[1:])
    assert one.masks == found.masks[1:]  # prompts are segmented independently


def test_cache_key_names_checkpoint_content_and_prompts(sam2_checkpoint, tmp_path):
    def key(**kw):
        settings = TrackSettings(**{"classes": (), "prompts": PROMPTS, "segmenter": "sam2",
                                    "segmenter_model": str(sam2_checkpoint), **kw})
        return cache.tracking_key("v" * 64, FrameRange(0, 10, 1),
                                  segmenter_entry("sam2").cache_identity(settings))

    assert key() == key()
    assert key() != key(prompts=PROMPTS[::-1])  # objects are numbered in prompt order
    assert key() != key(prompts=(at_frame(PROMPTS[0], 2), PROMPTS[1]))
    assert key() != key(segmenter_model="facebook/sam2.1-hiera-large")
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in sam2_checkpoint.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    assert key(segmenter_model=str(copy)) == key()  # keyed by content, not by where the folder is
    (copy / "model.safetensors").write_bytes((copy / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    assert key(segmenter_model=str(copy)) != key()


def test_checkpoint_errors_are_one_line(tmp_path, monkeypatch):
    import huggingface_hub

    with pytest.raises(UserError, match="no such folder") as missing:
        resolve_sam2(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a transformers SAM 2 checkpoint") as empty:
        resolve_sam2(tmp_path / "empty")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(UserError, match="hf download facebook/sam2.1-hiera-large") as offline:
        resolve_sam2("facebook/sam2.1-hiera-large")
    for error in (missing, empty, offline):
        assert len(str(error.value).splitlines()) == 1


def test_prompt_outside_the_range_and_bad_mask(tracker, video, tmp_path):
    from PIL import Image

    with pytest.raises(UserError, match="outside the range"):
        list(tracker.track_prompts(video, FrameRange(0, 5), [at_frame(PROMPTS[0], 9)]))
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    with pytest.raises(UserError, match="the size of the frame"):
        list(tracker.track_prompts(video, FrameRange(0, 5), [RegionPrompt("mask", mask=str(tmp_path / "small.png"))]))
