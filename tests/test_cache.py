"""`videocap.segment.cache`: a tracking cache entry is reused only for the same video, range, model and settings."""

from __future__ import annotations

import pytest

from videocap.resources import DEMO_YOLO
from videocap.results import FrameRange
from videocap.segment import cache, yolo
from videocap.segment.registry import segmenter_entry
from videocap.settings import TrackSettings

BASE = dict(classes=("circle",), segmenter_model=str(DEMO_YOLO), conf=0.1, imgsz=256, device="cpu")


def key(video_sha256: str = "0" * 64, start: int = 0, end: int = 100, stride: int = 1, **changes) -> str:
    settings = TrackSettings(**{**BASE, **changes})
    identity = segmenter_entry(settings.segmenter).cache_identity(settings)
    return cache.tracking_key(video_sha256, FrameRange(start, end, stride), identity)


def test_same_inputs_same_key_and_class_order_does_not_matter():
    assert key() == key()
    assert key(classes=("circle", "star")) == key(classes=("Star ", "circle"))


@pytest.mark.parametrize("change", [
    {"video_sha256": "1" * 64}, {"start": 1}, {"end": 99}, {"stride": 2}, {"classes": ("star",)},
    {"conf": 0.2}, {"imgsz": 320}, {"device": None},
])
def test_a_changed_setting_misses(change):
    assert key(**change) != key()


def test_settings_that_do_not_change_tracks_share_the_entry():
    assert key(min_frames=10, keyframe_count=4) == key()  # filters and keyframes are redone on every run


def test_a_changed_model_file_misses_even_under_the_same_name(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights one")
    first = key(segmenter_model=str(model))
    model.write_bytes(b"weights two!")  # same path, new content (size and mtime change too)
    assert key(segmenter_model=str(model)) != first
    assert key(segmenter_model="yolo11x-seg.pt") != key(segmenter_model="yolo11n-seg.pt")  # ultralytics names by name


def test_a_changed_tracker_config_misses(tmp_path, monkeypatch):
    first = key()
    changed = tmp_path / "bytetrack.yaml"
    changed.write_text(yolo.BYTETRACK_CONFIG.read_text().replace("track_buffer: 30", "track_buffer: 60"))
    monkeypatch.setattr(yolo, "BYTETRACK_CONFIG", changed)
    assert key() != first


def test_store_and_load_round_trip_and_damaged_entries_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOCAP_CACHE_DIR", str(tmp_path))
    cache.store("k", {"tracks": [1, 2]})
    assert cache.load("k") == {"tracks": [1, 2]}
    (tmp_path / "tracks" / "k.json.gz").write_bytes(b"not gzip")
    assert cache.load("k") is None
    assert cache.load("absent") is None


def test_file_hash_is_remembered_but_follows_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOCAP_CACHE_DIR", str(tmp_path / "cache"))
    video = tmp_path / "v.mp4"
    video.write_bytes(b"a" * 10)
    first = cache.file_sha256(video)
    assert cache.file_sha256(video) == first
    video.write_bytes(b"b" * 11)
    assert cache.file_sha256(video) != first

