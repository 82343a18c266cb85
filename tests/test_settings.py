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
