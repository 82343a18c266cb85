"""Model references and the default models' path: hub ids through a stand-in Hugging Face cache and a
local stand-in hub server, ultralytics asset names, what captions.json records, memory and CPU notes.

The stand-ins (see hub_fixtures.py) are the bundled demo DAM under the real ids nvidia/DAM-3B-Video
and nvidia/DAM-3B, and the bundled demo YOLO-seg as yolo11x-seg.pt: the default config runs end to
end with no --demo, --dam or --model, offline.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import hub_fixtures
import numpy as np
import pytest
from hub_fixtures import DAM_IDS, YOLO_NAME, StandInHub, commit_of
from PIL import Image

from videocap import checkpoints
from videocap.cli import main
from videocap.resources import (
    DEFAULT_CONFIG,
    DEMO_CONFIG,
    DEMO_DAM,
    DEMO_YOLO,
    SAMPLE_VIDEO,
)
from videocap.settings import load_config

REPO = Path(__file__).resolve().parents[1]
hf_home, stand_in_hub_cache, yolo_stand_in = (hub_fixtures.hf_home, hub_fixtures.stand_in_hub_cache,
                                               hub_fixtures.yolo_stand_in)  # the stand-ins, as this module's fixtures


@pytest.fixture(autouse=True)
def own_tracking_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOCAP_CACHE_DIR", str(tmp_path / "tracks-cache"))


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# -- the rule --

@pytest.mark.parametrize("value, kind", [
    ("yolo11x-seg.pt", checkpoints.ASSET), ("nvidia/DAM-3B-Video", checkpoints.HUB), ("nvidia/DAM-3B", checkpoints.HUB),
    ("./DAM-3B-Video", checkpoints.PATH), ("../models/x.pt", checkpoints.PATH), ("/opt/dam", checkpoints.PATH),
    ("~/models/DAM-3B", checkpoints.PATH), ("models/sub/dam", checkpoints.PATH), ("org/weights.pt", checkpoints.PATH),
])
def test_classify(value, kind):
    assert checkpoints.classify(value).kind == kind


def test_an_existing_folder_is_a_path_even_when_it_reads_as_an_id(tmp_path):
    (tmp_path / "nvidia" / "DAM-3B").mkdir(parents=True)
    assert checkpoints.classify("nvidia/DAM-3B", base=tmp_path).kind == checkpoints.PATH
    assert checkpoints.classify("nvidia/DAM-3B").kind == checkpoints.HUB  # not in the current folder


def test_configs_keep_hub_ids_and_names_and_resolve_paths():
    default = load_config(DEFAULT_CONFIG)
    assert default["dam"] == "nvidia/DAM-3B-Video" and default["model"] == "yolo11x-seg.pt"
    demo = load_config(DEMO_CONFIG)
    assert Path(demo["dam"]) == DEMO_DAM.resolve() and Path(demo["model"]) == DEMO_YOLO.resolve()


# -- the default config end to end, offline, from the stand-in cache --

def test_caption_with_the_default_config(stand_in_hub_cache, yolo_stand_in, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["caption", str(SAMPLE_VIDEO), "--class", "circle", "--end", "40", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "circle #1" in captured.out
    for name in ("captions.json", "captioned.mp4", "captioned.mkv", "captions.ass", "circle-1.srt", "circle-1.vtt"):
        assert (out / name).stat().st_size > 0, name
    about = json.loads((out / "captions.json").read_text())["models"]["about"]
    assert about["captioning"]["name"] == "nvidia/DAM-3B-Video"
    assert about["captioning"]["revision"] == commit_of("nvidia/DAM-3B-Video")
    assert "NVIDIA Noncommercial" in about["captioning"]["licence"]
    assert about["segmentation"]["name"] == YOLO_NAME and "AGPL-3.0" in about["segmentation"]["licence"]
    assert about["segmentation"]["revision"] == "sha256:" + checkpoints.content_sha256(DEMO_YOLO)


def test_image_with_the_default_config(stand_in_hub_cache, yolo_stand_in, tmp_path, capsys):
    frame = tmp_path / "frame.png"
    subprocess.run([_ffmpeg(), "-v", "error", "-i", str(SAMPLE_VIDEO), "-frames:v", "1", str(frame)], check=True)
    assert main(["image", str(frame), "--class", "circle", "--out", str(tmp_path / "o"), "--quiet"]) == 0
    data = json.loads((tmp_path / "o" / "frame.json").read_text())
    assert data["objects"] and data["objects"][0]["caption"]
    assert data["models"]["about"]["captioning"]["revision"] == commit_of("nvidia/DAM-3B-Video")
    assert (tmp_path / "o" / "frame.captioned.png").exists()
    capsys.readouterr()


def test_describe_with_the_hub_ids(stand_in_hub_cache, tmp_path, capsys):
    image = tmp_path / "shape.png"
    mask = tmp_path / "mask.png"
    pixels = np.full((96, 96, 3), 230, np.uint8)
    pixels[30:60, 30:60] = (220, 30, 30)
    Image.fromarray(pixels).save(image)
    Image.fromarray(((pixels[..., 1] < 100) * 255).astype(np.uint8)).save(mask)
    for dam in ([], ["--dam", "nvidia/DAM-3B"]):  # the default is nvidia/DAM-3B-Video
        assert main(["describe", str(image), "--mask", str(mask), *dam, "--temperature", "0",
                     "--max-new-tokens", "24"]) == 0
        assert capsys.readouterr().out.strip()


def test_without_the_cache_each_default_is_a_one_line_error(hf_home, yolo_stand_in, tmp_path, capsys):
    assert main(["caption", str(SAMPLE_VIDEO), "--class", "circle", "--out", str(tmp_path / "o")]) == 2
    err = _one_line_error(capsys)
    assert "nvidia/DAM-3B-Video" in err and "huggingface-cli" not in err  # huggingface_hub 1.x+ installs only `hf`
    assert "hf download nvidia/DAM-3B-Video" in err and "--dam DIR" in err
    assert not (tmp_path / "o" / "captions.json").exists()


def test_every_missing_default_is_named_in_one_line(hf_home, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # neither yolo11x-seg.pt nor DAM-3B-Video on this machine, and offline
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(photo)
    for command in (["caption", str(SAMPLE_VIDEO), "--class", "circle"], ["batch", str(SAMPLE_VIDEO), "--class", "circle"],
                    ["image", str(photo), "--class", "circle"]):
        assert main([*command, "--out", str(tmp_path / "o")]) == 2
        err = _one_line_error(capsys)
        assert f"yolo model {YOLO_NAME} is not here" in err and "hf download nvidia/DAM-3B-Video" in err, err
        assert err.index(YOLO_NAME) < err.index("nvidia/DAM-3B-Video")
    assert not (tmp_path / "o").exists()


def test_yolo_asset_offline_names_where_to_put_it(stand_in_hub_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no yolo11x-seg.pt here
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    assert main(["caption", str(SAMPLE_VIDEO), "--class", "circle", "--out", str(tmp_path / "o")]) == 2
    err = _one_line_error(capsys)
    assert YOLO_NAME in err and str(tmp_path) in err and "--model /path/to/yolo11x-seg.pt" in err
    assert f"releases/latest/download/{YOLO_NAME}" in err


def test_model_flags_follow_the_same_rule(stand_in_hub_cache, yolo_stand_in, tmp_path, capsys):
    assert main(["caption", str(SAMPLE_VIDEO), "--class", "circle", "--model", "ultralytics/yolo11", "--out",
                 str(tmp_path / "o")]) == 2
    assert "not loaded from the Hugging Face hub" in _one_line_error(capsys)
    assert main(["caption", str(SAMPLE_VIDEO), "--class", "circle", "--dam", "./DAM-3B-Video", "--out",
                 str(tmp_path / "o")]) == 2
    assert "DAM checkpoint folder not found" in _one_line_error(capsys)


# -- the download itself, through a local stand-in hub --

def test_first_run_downloads_and_the_second_uses_the_cache(tmp_path):
    """`videocap caption` with the default config and an empty cache, the hub client pointed (HF_ENDPOINT) at a
    stand-in hub on 127.0.0.1: the first run downloads DAM with a progress bar, the second makes no request."""
    work = tmp_path / "work"
    work.mkdir()
    (work / YOLO_NAME).write_bytes(DEMO_YOLO.read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE", "YOLO_"))}
    env.update(HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(REPO), VIDEOCAP_CACHE_DIR=str(tmp_path / "tracks"))
    command = [sys.executable, "-m", "videocap", "caption", str(SAMPLE_VIDEO), "--class", "circle", "--end", "12",
               "--no-video", "--max-new-tokens", "24", "--out", "o"]
    with StandInHub({repo_id: DEMO_DAM for repo_id in DAM_IDS}) as hub:
        env["HF_ENDPOINT"] = hub.url
        runs = []
        for _ in range(2):
            before = len(hub.requests)
            done = subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr
            runs.append((done, hub.requests[before:]))
    (first, first_requests), (second, second_requests) = runs
    assert any("/nvidia/DAM-3B-Video/resolve/" in r for r in first_requests)
    assert "Fetching" in first.stderr  # huggingface_hub's progress bar
    assert second_requests == [] and "Fetching" not in second.stderr
    assert "circle #1" in first.stdout and first.stdout == second.stdout
    snapshot = tmp_path / "hf" / "hub" / "models--nvidia--DAM-3B-Video" / "snapshots"
    snapshot /= commit_of("nvidia/DAM-3B-Video")
    weights = "llm/model.safetensors"
    assert (snapshot / weights).read_bytes() == (DEMO_DAM / weights).read_bytes()
    about = json.loads((work / "o" / "captions.json").read_text())["models"]["about"]
    assert about["captioning"]["path"] == str(snapshot) and about["captioning"]["revision"] == commit_of(
        "nvidia/DAM-3B-Video")


# -- records, memory --

def test_model_records():
    demo = checkpoints.model_record(str(DEMO_DAM), DEMO_DAM)
    assert demo["revision"] == "sha256:" + checkpoints.content_sha256(DEMO_DAM) and "demo" in demo["licence"]
    assert checkpoints.model_record("yolo11n-seg.pt")["licence"].startswith("AGPL-3.0")
    assert checkpoints.model_record("someone/else")["licence"] is None


def _fake_weights(folder: Path, parameters: int) -> None:
    """A safetensors header claiming ``parameters`` bfloat16 values (the data itself is left out)."""
    header = json.dumps({"w": {"dtype": "BF16", "shape": [parameters], "data_offsets": [0, 2 * parameters]}}).encode()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)


def test_memory_notes(tmp_path, monkeypatch):
    _fake_weights(tmp_path / "big" / "llm", 3_500_000_000)
    monkeypatch.setattr(checkpoints, "free_memory", lambda device: (4 * 10**9, 8 * 10**9))
    with pytest.raises(checkpoints.UserError, match=r"needs about 8\.0 GB of GPU memory in bfloat16.*4\.0 GB free"):
        checkpoints.memory_notes("nvidia/DAM-3B-Video", tmp_path / "big", "cuda:0", "bfloat16", 2)
    notes = checkpoints.memory_notes("nvidia/DAM-3B-Video", tmp_path / "big", "cpu", "float32", 4)
    assert any("16.1 GB of RAM" in n for n in notes) and any("3.5 billion parameters" in n for n in notes)
    monkeypatch.setattr(checkpoints, "free_memory", lambda device: (64 * 10**9, 128 * 10**9))
    assert checkpoints.memory_notes("small", DEMO_DAM, "cpu", "float32", 4) == []


def _ffmpeg() -> str:
    from videocap.io.encode import ffmpeg_exe

    return ffmpeg_exe()
