"""`videocap.settings`: config files and flags make each stage's settings in one call."""

from __future__ import annotations

import pytest

from videocap.errors import UserError
from videocap.resources import DEFAULT_CONFIG, DEMO_CONFIG, DEMO_DAM, DEMO_YOLO
from videocap.settings import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_TEMPERATURE,
    DEFAULT_TOP_P,
    CaptionSettings,
    ImageSettings,
    TrackSettings,
    load_config,
)


def test_demo_config_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository: the packaged config must still find its models
    config = load_config(demo=True)
    assert config["model"] == str(DEMO_YOLO) and config["dam"] == str(DEMO_DAM)
    assert load_config(DEMO_CONFIG) == config


def test_flags_override_the_config_and_none_means_unset():
    config = load_config(demo=True)
    settings = TrackSettings.from_config(config, classes=("circle",), conf=None, min_frames=7, keyframe_count=None)
    assert settings.min_frames == 7 and settings.conf == config["conf"] and settings.keyframe_count == 8
    captioning = CaptionSettings.from_config(config, temperature=None, max_new_tokens=12, dtype="auto", query=None)
    assert captioning.temperature == 0.0 and captioning.max_new_tokens == 12 and captioning.dtype is None
    image = ImageSettings.from_config(config, classes=("circle",), conf=0.5)
    assert image.conf == 0.5 and image.imgsz == config["imgsz"]  # the config's conf is the tracker's, not photos'


def test_dam_sampling_defaults_are_the_references_and_the_default_config_does_not_repeat_them():
    settings = CaptionSettings.from_config(load_config(DEFAULT_CONFIG))
    assert (settings.temperature, settings.top_p, settings.max_new_tokens) == (0.2, 0.5, 512)
    assert (DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_MAX_NEW_TOKENS) == (0.2, 0.5, 512)
    assert "temperature:" not in DEFAULT_CONFIG.read_text()


@pytest.mark.parametrize("text, message", [
    ("model: [1, 2\n", "cannot read it as YAML"),
    ("- a list\n", "expected a mapping"),
    ("colour: red\n", "unknown setting(s) colour"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(path)


def test_config_errors():
    with pytest.raises(UserError, match="no such file"):
        load_config("/nowhere/c.yaml")
    with pytest.raises(UserError, match="give one of them"):
        load_config("c.yaml", demo=True)


@pytest.mark.parametrize("build, message", [
    (lambda: TrackSettings(classes=()), "no class and no prompt given"),
    (lambda: TrackSettings(classes=("a",), stride=0), "--stride"),
    (lambda: TrackSettings(classes=("a",), keyframe_method="best"), "keyframe_method"),
    (lambda: CaptionSettings(batch_size=0), "--batch-size"),
    (lambda: CaptionSettings(segment_seconds=0), "--segment-seconds"),
    (lambda: CaptionSettings(query="What is <image>?"), "--query"),
    (lambda: CaptionSettings(dtype="int8"), "--dtype"),
])
def test_bad_settings_say_which_flag(build, message):
    with pytest.raises(UserError, match=message):
        build()


@pytest.mark.parametrize("line, message", [
    ("conf: high", "conf: 'high' is not allowed; give a number from 0 to 1"),
    ("imgsz: big", "imgsz: 'big' is not allowed; give a whole number of 32 or more or null"),
    ("temperature: hot", "temperature: 'hot' is not allowed; give a number of 0 or more"),
    ("top_p: [1]", "top_p: [1] is not allowed; give a number from 0 to 1"),
    ("language: 42", "language: 42 is not allowed; give text"),
    ("keyframe_count: 0", "keyframe_count: 0 is not allowed; give a whole number of 1 or more"),
    ("max_new_tokens: true", "max_new_tokens: True is not allowed; give a whole number of 1 or more"),
    ("min_score: .nan", "min_score: nan is not allowed"),
    ("batch_size: 2.5", "batch_size: 2.5 is not allowed; give a whole number"),
])
def test_config_values_of_the_wrong_type_are_one_line_errors(tmp_path, line, message):
    config = tmp_path / "c.yaml"
    config.write_text(line + "\n")
    with pytest.raises(UserError) as caught:
        load_config(config)
    assert str(caught.value) == f"config {config}: {message}" or message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_nulls_and_good_values_pass(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("imgsz: null\nseed: ~\nconf: 0.3\ntemperature: 0\ndevice: cpu\n")
    assert load_config(config)["conf"] == 0.3


@pytest.mark.parametrize("device, message", [
    ("banana", "give cpu, cuda, cuda:N or GPU numbers"),
    ("cuda", "no CUDA GPU"), ("0", "no CUDA GPU"), ("cuda:1", "no CUDA GPU"),
])
def test_devices_are_checked_at_once(device, message, monkeypatch):
    monkeypatch.setattr("glob.glob", lambda pattern: [])  # this machine, or CI's: no NVIDIA device files
    for make in (lambda: TrackSettings(("person",), device=device), lambda: CaptionSettings(device=device),
                 lambda: ImageSettings(("person",), device=device)):
        with pytest.raises(UserError, match=message):
            make()
    assert TrackSettings(("person",), device="cpu").device == "cpu"
