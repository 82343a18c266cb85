"""Every bad input is exit 2 with one line saying what to do, before any model loads; a missing input file
is reported in under a second of CPU by every command (before torch, cv2 or ultralytics are imported)."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videocap.cli import main
from videocap.dam.outdir import MARKER, check_out_dir, replace_dir
from videocap.errors import UserError
from videocap.resources import DEMO_DAM, DEMO_DAM_ARCHITECTURE
from videocap.results import Caption

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "shapes.mp4"

MISSING = {
    "caption": ["caption", "{missing}.mp4", "--class", "circle", "--out", "{tmp}/out"],
    "track": ["track", "{missing}.mp4", "--class", "circle", "--out", "{tmp}/t.json"],
    "image": ["image", "{missing}.jpg", "--class", "circle", "--out", "{tmp}/out"],
    "render": ["render", "{missing}.json"],
    "subtitles": ["subtitles", "{missing}.json"],
    "describe": ["describe", "{missing}.mp4", "--mask", "{missing}.png", "--dam", "x"],
    "train-dam": ["train-dam", "--data", "{missing}.jsonl", "--init", "x.yaml", "--out", "{tmp}/m"],
}

def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]

@pytest.mark.parametrize("command", list(MISSING))
def test_a_missing_input_is_reported_at_once(command, tmp_path):
    args = [a.format(missing=tmp_path / "nope", tmp=tmp_path) for a in MISSING[command]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, "-m", "videocap", *args], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert proc.returncode == 2, proc.stderr
    assert "nope" in proc.stderr and "Traceback" not in proc.stderr
    assert cpu < 1.0, f"{cpu:.2f} s of CPU to say a file is missing"
    assert not (tmp_path / "out").exists() and not (tmp_path / "m").exists()  # no folder for a failed run

def test_a_dam_folder_with_an_empty_config_fails_before_tracking(tmp_path, capsys):
    dam = tmp_path / "dam"
    shutil.copytree(DEMO_DAM, dam)
    (dam / "config.json").write_text("{}")
    assert main(["caption", str(SAMPLE), "--class", "circle", "--demo", "--dam", str(dam), "--no-cache",
                 "--out", str(tmp_path / "out")]) == 2
    line = one_line(capsys)
    assert "config.json" in line and "llava_llama" in line and "prompt" not in line
    assert not (tmp_path / "out").exists()

@pytest.mark.parametrize("code, says", [("english", "not an ISO 639-2"), ("ENG", "use eng"), ("en", "not an ISO")])
def test_language_must_be_an_iso_639_2_code(code, says, tmp_path, capsys):
    assert main(["caption", str(SAMPLE), "--class", "circle", "--demo", "--language", code,
                 "--out", str(tmp_path / "out")]) == 2
    assert says in one_line(capsys)
    assert not (tmp_path / "out").exists()

def test_iso_639_2_codes_both_forms_are_accepted():
    from videocap.languages import check_language

    for code in ("eng", "fre", "fra", "ger", "deu", "zho", "chi", "ara", "heb", "hin", "tha", "und", "mul", "qaa"):
        assert check_language(code) == code

def test_a_null_caption_text_is_no_text():
    caption = Caption.from_json({"start": 0, "end": 1, "first_frame": 0, "last_frame": 1, "text": None})
    assert caption.text == ""
    with pytest.raises(ValueError):
        Caption.from_json({"start": 0, "end": 1, "first_frame": 0, "last_frame": 1, "text": 12})

def test_track_out_naming_a_folder_fails_before_tracking(tmp_path, capsys):
    assert main(["track", str(SAMPLE), "--class", "circle", "--demo", "--out", str(tmp_path)]) == 2
    assert "is a folder" in one_line(capsys)

def _masks(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    mask = np.zeros((240, 320), np.uint8)
    mask[40:120, 60:160] = 255
    paths = [folder / f"m{n:03d}.png" for n in range(count)]
    for path in paths:
        Image.fromarray(mask).save(path)
    return paths

def test_describe_refuses_more_frames_than_the_context_holds(tmp_path, capsys):
    _masks(tmp_path / "masks", 100)
    assert main(["describe", str(SAMPLE), "--mask", str(tmp_path / "masks"), "--frames", "500",
                 "--dam", str(DEMO_DAM)]) == 2
    line = one_line(capsys)
    assert "--frames: 500 frames make a prompt of" in line and "1024" in line
    fits = int(line.rsplit("at most ", 1)[1].split()[0])
    assert 1 < fits < 500

def test_describe_on_a_truncated_video_is_one_line(tmp_path, capsys):
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(SAMPLE.read_bytes()[:60_000])
    masks = _masks(tmp_path / "masks", 8)
    assert main(["describe", str(truncated), *[a for m in masks for a in ("--mask", str(m))],
                 "--dam", str(DEMO_DAM)]) == 2
    assert "truncated or damaged" in one_line(capsys)

# -- train-dam: checked before any data is prepared or torch imported --

def _train(tmp_path, *args) -> list[str]:
    return ["train-dam", "--data", "shapes:1", "--init", str(DEMO_DAM_ARCHITECTURE), "--steps", "1",
            *map(str, args)]

def test_train_dam_never_touches_a_users_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    mode = out.stat().st_mode
    assert main(_train(tmp_path, "--out", out)) == 2
    assert "not a videocap checkpoint" in one_line(capsys)
    assert (out / "notes.txt").read_text() == "mine" and (out / "sub").is_dir() and out.stat().st_mode == mode
    assert not (tmp_path / "mine.state").exists()

@pytest.mark.parametrize("out, says", [("file", "is not a folder"), ("/proc/x", "cannot write a checkpoint")])
def test_train_dam_out_must_be_a_folder_it_can_write(out, says, tmp_path, capsys):
    if out == "file":
        out = tmp_path / "file"
        out.write_text("mine")
    assert main(_train(tmp_path, "--out", out)) == 2
    assert says in one_line(capsys)
    assert not Path(f"{out}.state").exists()

def test_train_dam_bad_yaml_lr_and_resume(tmp_path, capsys):
    bad = tmp_path / "arch.yaml"
    bad.write_text("llm_width: [1, 2\nvision: {")
    assert main(["train-dam", "--data", "shapes:1", "--init", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "not valid YAML (line" in one_line(capsys)
    assert main(_train(tmp_path, "--out", tmp_path / "m", "--lr", "-1")) == 2
    assert "--lr" in capsys.readouterr().err
    assert main(_train(tmp_path, "--out", tmp_path / "m", "--resume")) == 2
    assert "no training state" in one_line(capsys)
    assert not (tmp_path / "m").exists()

def test_a_checkpoint_folder_is_replaced_only_when_videocap_wrote_it(tmp_path):
    out = tmp_path / "ckpt"
    new = tmp_path / ".ckpt.new"
    new.mkdir()
    (new / "config.json").write_text("{}")
    replace_dir(new, out)  # a new folder
    assert (out / MARKER).is_file()
    again = tmp_path / ".ckpt.again"
    again.mkdir()
    (again / "config.json").write_text('{"v": 2}')
    replace_dir(again, out)  # an earlier checkpoint: replaced
    assert json.loads((out / "config.json").read_text()) == {"v": 2} and (out / MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]
    assert json.loads((out / MARKER).read_text())["files"] == ["config.json"]
    (out / "NOTES.md").write_text("my notes on this checkpoint\n")  # a user's file inside it: kept
    with pytest.raises(UserError, match=r"NOTES.md is not a file of the checkpoint videocap wrote there"):
        check_out_dir(out)
    (out / "NOTES.md").unlink()
    (out / MARKER).unlink()
    with pytest.raises(UserError, match="not a videocap checkpoint"):
        check_out_dir(out)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert check_out_dir(empty) == empty


LONG_QUERY = " ".join(["word"] * 3000)


@pytest.mark.parametrize("command, extra, message", [
    (["caption", str(SAMPLE)], ["--keyframes", "60"], "--keyframes: 60 frames make a prompt of 1051 tokens, more than "
                                                      "the 1024 this checkpoint takes: use at most 58 frames"),
    (["caption", str(SAMPLE)], ["--query", LONG_QUERY], "--query: the prompt is"),
    (["batch", str(SAMPLE)], ["--keyframes", "1000"], "use at most 58 frames"),
    (["image", str(REPO / "docs" / "captioned-frame.png")], ["--query", LONG_QUERY], "shorten the query"),
])
def test_prompts_longer_than_the_context_are_refused_before_the_work(command, extra, message, tmp_path, capsys):
    """Before, the prompt was cut to the model's 1024 tokens and the captions came out as garbage, exit 0."""
    assert main([*command, "--class", "circle", "--demo", *extra, "--out", str(tmp_path / "o")]) == 2
    assert message in one_line(capsys)
    assert not (tmp_path / "o").exists()


def test_device_without_a_gpu_is_one_line_at_once(tmp_path, capsys):
    if Path("/dev/nvidia0").exists():
        pytest.skip("this machine has a GPU")
    assert main(["caption", str(SAMPLE), "--class", "circle", "--demo", "--device", "cuda", "--out",
                 str(tmp_path / "o")]) == 2
    assert "no CUDA GPU" in one_line(capsys)


@pytest.mark.parametrize("address, says", [
    ("banana", "give auto, HOST:PORT of the head"),
    ("ray://head", "give auto, HOST:PORT of the head"),
    ("10.0.0.5:99999", "give auto, HOST:PORT of the head"),
    ("127.0.0.1:1", "no Ray head answers there"),
    ("ray://127.0.0.1:1", "no Ray head answers there"),
])
def test_a_bad_ray_address_is_one_line_before_any_model(address, says, tmp_path, capsys):
    assert main(["batch", str(SAMPLE), "--class", "circle", "--demo", "--engine", "ray", "--ray-address", address,
                 "--out", str(tmp_path / "o")]) == 2
    assert says in one_line(capsys)
    assert not (tmp_path / "o" / "index.jsonl").exists()


@pytest.mark.parametrize("text, says", [("hidden: 32\n", "unknown key(s) hidden; missing vision_width"),
                                        ("vocab_size: big\n", "missing vision_width"),
                                        (None, "vocab_size is 'big'")])
def test_train_dam_init_yaml_keys_and_types_are_checked_at_once(text, says, tmp_path, capsys):
    arch = (DEMO_DAM_ARCHITECTURE.read_text() + "vocab_size: big\n") if text is None else text
    (tmp_path / "arch.yaml").write_text(arch.replace("vocab_size: 512", "") if text is None else arch)
    assert main(["train-dam", "--data", "shapes:4", "--init", str(tmp_path / "arch.yaml"),
                 "--out", str(tmp_path / "m")]) == 2
    assert says in one_line(capsys)


def test_the_architecture_keys_are_synthetic_configs_arguments():
    import inspect

    from videocap.dam.config import synthetic_config
    from videocap.dam.outdir import ARCHITECTURE_KEYS

    params = inspect.signature(synthetic_config).parameters
    assert set(params) == set(ARCHITECTURE_KEYS)
    assert {k for k, p in params.items() if p.default is inspect.Parameter.empty} == {
        k for k, (_, required) in ARCHITECTURE_KEYS.items() if required}
