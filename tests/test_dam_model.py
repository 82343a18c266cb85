"""DAM inference: conformance with NVIDIA's reference outputs, edge cases, loading errors and the CLI.

The fixtures (``../shared/fixtures/dam``) are tiny random checkpoints in the official layout with the
reference's float32 outputs; see their README for how conformance is judged.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from videocap.dam import DamLoadError, DamModel
from videocap.dam.config import synthetic_config
from videocap.dam.loading import read_tokenizer
from videocap.dam.preprocess import focal_box
from videocap.dam.prompt import prompt_ids
from videocap.dam.records import DamInput
from videocap.errors import UserError

CASES = ["video8_synthetic", "image_videoquery", "image_dam3b_query"]
TOL = 1e-4
EOS = 2


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the conformance numbers hold at any thread count; keep CI machines free
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models(dam_fixtures_dir: Path) -> dict[str, DamModel]:
    return {name: DamModel.from_pretrained(dam_fixtures_dir / name, device="cpu", dtype=torch.float32)
            for name in ("tiny-video", "tiny-video-masked")}


def load_case(fixtures: Path, name: str) -> dict:
    folder = fixtures / "cases" / name
    manifest = {c["name"]: c for c in json.loads((fixtures / "manifest.json").read_text())["cases"]}[name]
    n = manifest["num_frames"]
    return {
        "checkpoint": manifest["checkpoint"],
        "frames": [np.asarray(Image.open(folder / f"frame_{i:02d}.png").convert("RGB")) for i in range(n)],
        "masks": [np.asarray(Image.open(folder / f"mask_{i:02d}.png")) for i in range(n)],
        "query": (folder / "query.txt").open(encoding="utf-8", newline="").read(),
        "expected": dict(np.load(folder / "expected.npz")),
    }


def upto_eos(ids: list[int]) -> list[int]:
    return ids[:ids.index(EOS) + 1] if EOS in ids else ids


# -- conformance with the reference --


@pytest.mark.parametrize("name", CASES)
def test_fixture_case(models: dict[str, DamModel], dam_fixtures_dir: Path, name: str) -> None:
    case = load_case(dam_fixtures_dir, name)
    model, exp = models[case["checkpoint"]], case["expected"]

    assert prompt_ids(model.tokenizer, case["query"], len(case["frames"])) == exp["input_ids"].tolist()
    assert [list(focal_box(m != 0)) for m in case["masks"]] == exp["focal_box"].tolist()

    logits = model.logits(case["frames"], case["masks"], case["query"]).numpy()
    assert logits.shape == exp["logits"].shape
    rel = np.abs(logits - exp["logits"]).max() / np.abs(exp["logits"]).max()
    assert rel <= TOL, f"{name}: max relative error {rel:.2e}"
    assert (logits[-16:].argmax(-1) == exp["logits"][-16:].argmax(-1)).all()

    ids = model.generate_ids(case["frames"], case["masks"], case["query"], max_new_tokens=16, temperature=0.0)
    assert upto_eos(ids) == upto_eos(exp["greedy_ids"].tolist())


def test_batch_equals_single_calls(models: dict[str, DamModel], dam_fixtures_dir: Path) -> None:
    model = models["tiny-video"]
    cases = [load_case(dam_fixtures_dir, name) for name in CASES]
    items = [DamInput(c["frames"], c["masks"], c["query"]) for c in cases]
    video = cases[0]
    items += [DamInput(video["frames"][:1], video["masks"][:1]), DamInput(video["frames"][3:4], video["masks"][3:4])]
    single = [model.describe(item.frames, item.masks, item.question, temperature=0, max_new_tokens=24) for item in items]
    assert model.describe_batch(items, temperature=0, max_new_tokens=24) == single
    assert model.describe_batch(items, temperature=0, max_new_tokens=24, batch_size=2) == single
    ids = model.generate_batch_ids(items, max_new_tokens=24)
    assert ids == [model.generate_ids(item.frames, item.masks, item.question, max_new_tokens=24) for item in items]


@torch.inference_mode()
def test_one_forward_gives_logits_and_the_generation_prefill(models: dict[str, DamModel],
                                                             dam_fixtures_dir: Path) -> None:
    model = models["tiny-video"]
    video, image = (load_case(dam_fixtures_dir, name) for name in ("video8_synthetic", "image_videoquery"))
    items = [DamInput(c["frames"], c["masks"], c["query"]) for c in (video, image)]
    single = [model.logits(item.frames, item.masks, item.question) for item in items]
    out = model(model.prepare(items[:1]))
    assert torch.equal(out.logits[0].float().cpu(), single[0]) and out.loss is None
    assert out.visual.shape == (8, model.config.image_tokens, model.config.llm.hidden_size)
    lengths = [len(x) for x in single]
    assert lengths[0] > lengths[1]  # the image's row is padded
    prepared = model.prepare(items)
    for side in ("left", "right"):  # generation's padding and training's: the same logits at the real positions
        logits = model(prepared, padding_side=side).logits.float().cpu()
        for row, n, expected in zip(logits, lengths, single):
            real = row[-n:] if side == "left" else row[:n]
            assert torch.allclose(real, expected, rtol=0, atol=1e-5 * expected.abs().max())
    prefill, _ = model.prefill(prepared, max_new_tokens=4)
    assert prefill.logits.shape[1] == 1
    for last, expected in zip(prefill.logits[:, -1].float().cpu(), single):
        assert torch.allclose(last, expected[-1], rtol=0, atol=1e-5 * expected.abs().max())


def test_stream_seed_and_defaults(models: dict[str, DamModel], dam_fixtures_dir: Path) -> None:
    model = models["tiny-video"]
    case = load_case(dam_fixtures_dir, "video8_synthetic")
    args = (case["frames"], case["masks"])
    # The folder name says "video": the DAM-3B-Video queries are the defaults.
    assert model.default_query(8) == case["query"]
    assert model.logits(*args).shape == model.logits(*args, case["query"]).shape
    pieces = list(model.stream(*args, max_new_tokens=32, seed=5))
    assert len(pieces) > 1 and "".join(pieces) == model.describe(*args, max_new_tokens=32, seed=5)
    assert model.describe(*args, max_new_tokens=32, seed=7) == model.describe(*args, max_new_tokens=32, seed=7)
    pil = ([Image.fromarray(f) for f in case["frames"]], [Image.fromarray(m) for m in case["masks"]])
    assert model.describe(*pil, temperature=0, max_new_tokens=8) == model.describe(*args, temperature=0,
                                                                                    max_new_tokens=8)


def test_tokenizer_and_pixels(models: dict[str, DamModel]) -> None:
    from videocap.dam import preprocess

    tokenizer = models["tiny-video"].tokenizer
    assert tokenizer.encode("</s>") == [1, 2]  # spec §6.3
    assert tokenizer.encode("a</s>b")[-2] == 2 and tokenizer.decode(tokenizer.encode("Hello world")) == "Hello world"
    # The GPU path of the uint8 -> float table lookup gives the same values as the CPU one.
    pixels = torch.randint(0, 256, (3, 8, 5, 7), dtype=torch.uint8)
    table = np.random.default_rng(0).random((8, 256), dtype=np.float32)
    assert torch.equal(preprocess._lookup_torch(pixels, table), preprocess._lookup_numpy(pixels, table))
    # image_aspect_ratio "pad": a wide frame is centred on a mean-grey square before resizing.
    cfg = dataclasses.replace(models["tiny-video"].config.preprocess, aspect_ratio="pad")
    mask = np.zeros((20, 60), dtype=np.uint8)
    mask[5:10, 5:10] = 1
    cimage = preprocess.make_cimage(np.full((20, 60, 3), 255, dtype=np.uint8), mask, cfg)
    assert (cimage[:3, 0] == 127).all() and (cimage[:3, 35] == 255).all() and (cimage[3, 0] == 127).all()


def test_sampling() -> None:
    from videocap.dam.generation import sample_next

    logits = torch.tensor([[0.0, 3.0, 2.9, -1.0]]).repeat(64, 1)
    gen = torch.Generator().manual_seed(0)
    assert (sample_next(logits, 0.0, 0.5, gen) == 1).all()
    assert set(sample_next(logits, 1.0, 1.0, gen, top_k=2).tolist()) == {1, 2}
    assert (sample_next(logits, 1.0, 0.4, gen).tolist()) == [1] * 64  # the top token alone holds > 40 %
    assert set(sample_next(logits, 1.0, 0.6, gen).tolist()) == {1, 2}


# -- edge cases --


def _edge_items(rng: np.random.Generator) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    items = []
    for h, w, box in [(37, 23, (0, 37, 0, 23)),          # odd size, mask covers the frame: focal = full
                      (480, 641, (200, 201, 300, 301)),  # one pixel
                      (301, 199, (0, 3, 0, 3)),          # top-left corner
                      (250, 333, (247, 250, 320, 333)),  # bottom-right border
                      (2000, 2000, (999, 1000, 999, 1000)),  # lost when resized: no patch overlaps it
                      (5, 7, (2, 3, 3, 4))]:             # tiny frame
        frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), dtype=np.uint8)
        mask[box[0]:box[1], box[2]:box[3]] = 255
        items.append(([frame], [mask]))
    ring = np.zeros((120, 160), dtype=bool)  # a mask with a hole
    ring[20:100, 30:130] = True
    ring[40:80, 60:100] = False
    items.append(([rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)], [ring]))
    return items


@pytest.mark.parametrize("checkpoint", ["tiny-video", "tiny-video-masked"])
def test_edge_cases(models: dict[str, DamModel], checkpoint: str) -> None:
    model = models[checkpoint]
    items = _edge_items(np.random.default_rng(0))
    for frames, masks in items:
        logits = model.logits(frames, masks)
        assert logits.shape == (len(prompt_ids(model.tokenizer, model.default_query(1), 1)) - 1 + 9, 512)
        assert torch.isfinite(logits).all()
    single = [model.generate_ids(*item, max_new_tokens=8) for item in items]
    assert model.generate_batch_ids([DamInput(*item) for item in items], max_new_tokens=8) == single


def test_bad_inputs(models: dict[str, DamModel]) -> None:
    model = models["tiny-video"]
    frame = np.zeros((40, 50, 3), dtype=np.uint8)
    mask = np.zeros((40, 50), dtype=np.uint8)
    with pytest.raises(ValueError, match="empty"):
        model.describe([frame], [mask])
    mask[5, 5] = 1
    with pytest.raises(ValueError, match="same size"):
        model.describe([frame], [mask[:30]])
    with pytest.raises(ValueError, match="placeholder"):
        model.describe([frame, frame], [mask, mask], "Image: <image>\nWhat is it?")
    with pytest.raises(ValueError, match="one mask per frame"):
        model.describe([frame, frame], [mask])
    with pytest.raises(ValueError, match="uint8"):
        model.describe([frame.astype(np.float32)], [mask])
    model.prompt_style = "dam-3b"
    try:
        with pytest.raises(ValueError, match="one image"):
            model.describe([frame, frame], [mask, mask])
        assert model.default_query(1) == "<image>\nDescribe the masked region in detail."
    finally:
        model.prompt_style = "dam-3b-video"


# -- the real 384 px / patch 14 geometry, random weights, saved and reloaded in the official layout --


def save_checkpoint(model: DamModel, root: Path, tokenizer_dir: Path) -> None:
    """Write ``model`` in the official DAM layout, with the LLM in two shards."""
    cfg, vision = model.config, model.vision
    for part in ("llm", "vision_tower", "mm_projector", "context_provider"):
        (root / part).mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({
        "model_type": "llava_llama", "mm_vision_select_layer": cfg.select_layer,
        "mm_vision_select_feature": "cls_patch", "image_aspect_ratio": "resize", "mask_encoder_cfg": None}))
    (root / "llm" / "config.json").write_text(json.dumps(
        cfg.llm.to_dict() | {"tokenizer_model_max_length": cfg.max_length}))
    for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tokenizer_dir / name, root / "llm" / name)
    llm = {k: v.contiguous() for k, v in model.llm.state_dict().items()}
    keys = sorted(llm)
    shards = {"model-00001-of-00002.safetensors": keys[:len(keys) // 2],
              "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
    for file, names in shards.items():
        save_file({k: llm[k] for k in names}, str(root / "llm" / file))
    (root / "llm" / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": sum(v.nbytes for v in llm.values())},
         "weight_map": {k: file for file, names in shards.items() for k in names}}))
    (root / "vision_tower" / "config.json").write_text(json.dumps(cfg.vision.to_dict()))
    pre = cfg.preprocess
    (root / "vision_tower" / "preprocessor_config.json").write_text(json.dumps({
        "size": {"height": pre.height, "width": pre.width}, "resample": pre.resample, "image_mean": pre.image_mean,
        "image_std": pre.image_std, "rescale_factor": pre.rescale_factor}))
    tower = {f"vision_model.{k}": v for k, v in vision.tower.state_dict().items()}
    tower |= {f"vision_model.embeddings.mask_patch_embedding.{k}": v
              for k, v in vision.mask_patch_embedding.state_dict().items()}
    save_file({k: v.contiguous() for k, v in tower.items()}, str(root / "vision_tower" / "model.safetensors"))
    (root / "mm_projector" / "config.json").write_text(json.dumps({"mm_projector_type": "mlp_downsample"}))
    save_file(vision.projector.state_dict(), str(root / "mm_projector" / "model.safetensors"))
    ctx = cfg.context
    (root / "context_provider" / "config.json").write_text(json.dumps(
        ctx.__dict__ | {"context_provider_type": "cross_attn_end_to_all"}))
    save_file({f"context_provider_module.{k}": v for k, v in vision.context_provider.state_dict().items()},
              str(root / "context_provider" / "model.safetensors"))


@pytest.mark.parametrize("masked", [False, True])
def test_real_geometry_random_weights(dam_fixtures_dir: Path, tmp_path: Path, masked: bool) -> None:
    torch.manual_seed(0)
    # With more LLM rows than tokenizer pieces, loading drops the extra rows as the reference does.
    vocab = 520 if masked else 512
    config = synthetic_config(vision_width=32, vision_layers=3, vision_heads=4, vision_mlp=64, llm_width=64,
                              llm_layers=2, llm_heads=4, llm_mlp=128, vocab_size=vocab, masked_cross_attn=masked)
    model = DamModel.from_config(config, read_tokenizer(dam_fixtures_dir / "tiny-video"), device="cpu")
    for block in model.vision.context_provider.layers:  # open the gates, which start at zero
        block.attn_factor.data.fill_(0.5)
        block.mlp_factor.data.fill_(0.3)

    rng = np.random.default_rng(1)
    video = ([rng.integers(0, 256, (333, 517, 3), dtype=np.uint8) for _ in range(8)], [])
    for i in range(8):
        mask = np.zeros((333, 517), dtype=np.uint8)
        mask[40 + 9 * i:140 + 9 * i, 60 + 20 * i:200 + 20 * i] = 1
        mask[80:90, 100 + 20 * i:110 + 20 * i] = 0  # a hole
        video[1].append(mask)
    image = _edge_items(rng)[1]
    logits = model.logits(*video)
    text_len = len(prompt_ids(model.tokenizer, model.default_query(8), 8)) - 8
    assert logits.shape == (text_len + 8 * 196, vocab)  # 27x27 patches -> 14x14 merged tokens per frame

    save_checkpoint(model, tmp_path / "dam-video", dam_fixtures_dir / "tiny-video" / "llm")
    loaded = DamModel.from_pretrained(tmp_path / "dam-video", device="cpu")
    assert torch.equal(loaded.logits(*video), logits[:, :512])

    items = [video, image, _edge_items(rng)[3], (video[0][:2], video[1][:2])]
    single = [model.generate_ids(*item, max_new_tokens=6) for item in items]
    assert model.generate_batch_ids([DamInput(*item) for item in items], max_new_tokens=6) == single


# -- loading errors --


@pytest.fixture
def ckpt(dam_fixtures_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "tiny-video"
    shutil.copytree(dam_fixtures_dir / "tiny-video", root)
    for f in root.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    return root


def _load_error(path: Path | str) -> str:
    start = time.monotonic()
    with pytest.raises(DamLoadError) as info:
        DamModel.from_pretrained(path, device="cpu")
    assert time.monotonic() - start < 5
    assert isinstance(info.value, UserError)
    return str(info.value)


def test_missing_folder_and_files(ckpt: Path) -> None:
    assert "not found" in _load_error(ckpt.parent / "nowhere")
    (ckpt / "context_provider" / "model.safetensors").unlink()
    assert str(ckpt / "context_provider" / "model.safetensors") in _load_error(ckpt)
    shutil.rmtree(ckpt / "mm_projector")
    assert str(ckpt / "mm_projector") in _load_error(ckpt)


def test_pickle_weights_refused(ckpt: Path) -> None:
    (ckpt / "llm" / "model.safetensors").rename(ckpt / "llm" / "pytorch_model.bin")
    assert "safetensors weights only" in _load_error(ckpt)


def test_shape_mismatch(ckpt: Path) -> None:
    path = ckpt / "llm" / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"intermediate_size": 96}))
    message = _load_error(ckpt)
    assert str(ckpt / "llm" / "model.safetensors") in message and "mlp" in message and "96" in message


def test_truncated_weights(ckpt: Path) -> None:
    path = ckpt / "vision_tower" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:50_000])
    assert str(path) in _load_error(ckpt)


def test_bad_config(ckpt: Path) -> None:
    path = ckpt / "vision_tower" / "config.json"
    path.write_text("{not json")
    assert f"cannot read {path}" in _load_error(ckpt)
    path.write_text(json.dumps({"model_type": "siglip_vision_model", "hidden_size": 30, "num_attention_heads": 4}))
    assert "vision_tower/config.json" in _load_error(ckpt)  # the default 224 px size does not fit the processor
    path.write_text(json.dumps({"model_type": "siglip_vision_model", "hidden_size": "wide"}))
    assert str(path) in _load_error(ckpt)


def test_hub_id_not_cached_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    message = _load_error("nvidia/DAM-3B-Video")
    assert "hf download nvidia/DAM-3B-Video --local-dir" in message and "huggingface-cli" not in message and "--dam" in message


# -- the CLI --


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from videocap.cli import main

    code = main(["describe", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_image_video_stream(dam_fixtures_dir: Path, tmp_path: Path, models: dict[str, DamModel],
                                capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    model = models["tiny-video"]
    ckpt = dam_fixtures_dir / "tiny-video"
    image = load_case(dam_fixtures_dir, "image_dam3b_query")
    folder = dam_fixtures_dir / "cases" / "image_dam3b_query"
    greedy = ["--temperature", "0", "--max-new-tokens", "12"]
    code, out, _ = _run_cli([folder / "frame_00.png", "--mask", folder / "mask_00.png", "--dam", ckpt, *greedy],
                            capsys)
    assert code == 0 and out == model.describe(image["frames"], image["masks"], temperature=0, max_new_tokens=12) + "\n"

    video = load_case(dam_fixtures_dir, "video8_synthetic")
    path = tmp_path / "clip.avi"  # lossless, so the decoded frames are the fixture's
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 8, (160, 120))
    for frame in video["frames"]:
        writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    writer.release()
    masks = [m for i in range(8) for m in ("--mask", dam_fixtures_dir / "cases" / "video8_synthetic" / f"mask_{i:02d}.png")]
    expected = model.describe(video["frames"], video["masks"], temperature=0, max_new_tokens=12)
    code, out, _ = _run_cli([path, *masks, "--dam", ckpt, *greedy, "--stream"], capsys)
    assert code == 0 and out == expected + "\n"

    mask_dir = tmp_path / "masks"
    mask_dir.mkdir()
    for i, m in enumerate(video["masks"]):
        Image.fromarray(m).save(mask_dir / f"{i:03d}.png")
    code, out, _ = _run_cli([path, "--mask", mask_dir, "--dam", ckpt, *greedy], capsys)
    assert code == 0 and out == expected + "\n"

    code, _, err = _run_cli([path, "--mask", mask_dir, "--dam", tmp_path / "missing"], capsys)
    assert code == 2 and "not found" in err
    empty = tmp_path / "empty.png"
    Image.fromarray(np.zeros((77, 123), dtype=np.uint8)).save(empty)
    code, _, err = _run_cli([folder / "frame_00.png", "--mask", empty, "--dam", ckpt], capsys)
    assert code == 2 and "empty" in err


def test_load_inputs_from_files(dam_fixtures_dir: Path) -> None:
    from videocap.dam.inputs import load_inputs

    folder = dam_fixtures_dir / "cases" / "image_dam3b_query"
    case = load_case(dam_fixtures_dir, "image_dam3b_query")
    frames, masks = load_inputs(folder / "frame_00.png", [folder / "mask_00.png"])
    assert np.array_equal(frames[0], case["frames"][0]) and np.array_equal(masks[0], case["masks"][0])
    with pytest.raises(UserError, match="exactly one"):
        load_inputs(folder / "frame_00.png", [folder / "mask_00.png"] * 2)
    with pytest.raises(UserError, match="mask"):
        load_inputs(folder / "frame_00.png", [])
