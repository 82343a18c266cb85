"""DAM training: a step lowers the loss, checkpoints round-trip, the CLI trains and resumes, and the
committed demo captioner names what it sees."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from videocap.dam import DamModel
from videocap.dam.datasets import encode_examples
from videocap.dam.model import Prepared
from videocap.dam.prompt import IMAGE_TOKEN_ID
from videocap.dam.records import DamInput
from videocap.dam.saving import save_pretrained
from videocap.dam.shapes_data import MOTIONS, clip_examples, shape_examples
from videocap.dam.train import AuxHeads, TrainSettings, batch_loss, new_model, train
from videocap.errors import UserError
from videocap.synthetic import caption_words

REPO = Path(__file__).resolve().parents[1]
DEMO_DAM = REPO / "videocap" / "data" / "models" / "shapes-dam"
TINY = dict(image_size=32, patch_size=8, vision_width=32, vision_layers=3, vision_heads=2, vision_mlp=64,
            llm_width=32, llm_layers=2, llm_heads=2, llm_mlp=64, vocab_size=340, max_length=512)


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    examples = shape_examples(range(3_000_000, 3_000_004))
    model, proto = new_model(TINY, [e.caption for e in examples], seed=0)
    return model, proto, examples


def test_training_steps_lower_the_loss_on_a_batch(tiny):
    model, _, examples = tiny
    data = encode_examples(model, examples[:4])
    heads = AuxHeads(model.config.llm.hidden_size, 8, 6, 4, len(MOTIONS))
    model.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(heads.parameters()), lr=3e-3)
    losses = []
    for _ in range(5):
        optimizer.zero_grad()
        loss, caption_loss = batch_loss(model, data, range(4), heads, 0.5)
        loss.backward()
        optimizer.step()
        losses.append(caption_loss)
    model.eval().requires_grad_(False)
    assert losses[-1] < losses[0] - 0.5


def _reference_caption_loss(model: DamModel, data, index: list[int]) -> torch.Tensor:
    """The caption loss computed item by item, unpadded: sum of the caption tokens' losses / their count."""
    table = model.llm.get_input_embeddings()
    total, count = 0.0, 0
    for i in index:
        visual = model.vision(data.pixels[i].to(model.device))
        pieces, k = [], 0
        for t in data.prompt[i]:
            if t == IMAGE_TOKEN_ID:
                pieces.append(visual[k])
                k += 1
            else:
                pieces.append(table(torch.tensor([t])))
        caption = data.caption[i]
        embeds = torch.cat(pieces + [table(torch.tensor(caption))])[None]
        logits = model.llm(inputs_embeds=embeds).logits[0, -len(caption) - 1:-1]
        total = total + torch.nn.functional.cross_entropy(logits, torch.tensor(caption), reduction="sum")
        count += len(caption)
    return total / count


@torch.no_grad()
def test_forward_loss_is_the_caption_loss_and_returns_the_visual_tokens(tiny):
    model, _, examples = tiny
    data = encode_examples(model, examples)
    index = [2, 0, 3]
    assert len({len(data.caption[i]) for i in index}) == 3  # rows of different lengths: padding matters
    prepared = Prepared(ids=[data.prompt[i] for i in index], pixels=data.pixels[index].flatten(0, 1),
                        targets=[data.caption[i] for i in index])
    out = model(prepared)
    expected = _reference_caption_loss(model, data, index)
    assert torch.allclose(out.loss, expected, rtol=1e-5)
    assert batch_loss(model, data, index, None, 0.0)[1] == pytest.approx(out.loss.item(), rel=1e-6)
    assert torch.equal(out.visual, model.encode_images(prepared.pixels))
    left = model(prepared, padding_side="left")
    assert torch.allclose(left.loss, out.loss, rtol=1e-5)


def test_training_items_longer_than_max_length_are_an_error_prompts_are_cut(tiny, caplog):
    model, _, examples = tiny
    data = encode_examples(model, examples[:3])
    lengths = [model.sequence_length(p, c) for p, c in zip(data.prompt, data.caption)]
    prompt = model.sequence_length(data.prompt[0])
    config = model.config
    try:
        model.config = dataclasses.replace(config, max_length=max(lengths))
        assert len(encode_examples(model, examples[:3])) == 3  # exactly max_length fits
        model.config = dataclasses.replace(config, max_length=max(lengths) - 1)
        with pytest.raises(UserError, match=f"item {lengths.index(max(lengths))} .*max_length"):
            encode_examples(model, examples[:3])
        longest = lengths.index(max(lengths))
        too_long = Prepared(ids=[data.prompt[longest]], pixels=data.pixels[longest],
                            targets=[data.caption[longest]])
        with pytest.raises(ValueError, match="max_length"):
            model(too_long)
        model.config = dataclasses.replace(config, max_length=prompt - 5)  # inference: cut, as the reference does
        e = examples[0]
        with caplog.at_level(logging.WARNING, logger="videocap.dam.model"):
            assert model.logits(e.frames, e.masks).shape[0] == prompt - 5
        assert "cut" in caplog.text
        assert len(model.generate_ids(e.frames, e.masks, max_new_tokens=3)) <= 3
    finally:
        model.config = config


def test_caption_tokens_follow_the_prompt_and_end_with_eos(tiny):
    model, _, examples = tiny
    data = encode_examples(model, examples[:1])
    assert data.caption[0][-1] == model.config.eos_token_ids[0]
    assert model.tokenizer.decode(data.caption[0][:-1]).strip() == examples[0].caption


def test_save_then_load_gives_the_same_logits(tiny, tmp_path):
    model, proto, examples = tiny
    save_pretrained(model, tmp_path / "dam", proto)
    loaded = DamModel.from_pretrained(tmp_path / "dam", device="cpu")  # the folder's name says no "video"
    assert loaded.prompt_style == model.prompt_style == "dam-3b-video"
    e = examples[0]
    assert torch.equal(model.logits(e.frames, e.masks), loaded.logits(e.frames, e.masks))
    assert not list(tmp_path.glob(".*partial*"))


def test_train_writes_a_loadable_checkpoint_and_resumes(tiny, tmp_path):
    model, proto, examples = tiny
    data = encode_examples(model, examples)
    settings = TrainSettings(steps=2, batch_size=2, save_every=1, threads=1)
    train(model, proto, data, tmp_path / "m", settings)
    log = [json.loads(line) for line in (tmp_path / "m.state" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2]
    resumed = DamModel.from_pretrained(tmp_path / "m", device="cpu", prompt_style="dam-3b-video")
    train(resumed, proto, data, tmp_path / "m", TrainSettings(steps=3, batch_size=2, threads=1), resume=True)
    log = [json.loads(line) for line in (tmp_path / "m.state" / "log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [1, 2, 3]


def test_videos_and_still_images_train_together(tiny, tmp_path):
    model, proto, examples = tiny
    stills = shape_examples(range(3_000_000, 3_000_002), num_frames=1)
    assert all(len(e.frames) == 1 and "moving" not in e.caption for e in stills)
    sets = [encode_examples(model, examples), encode_examples(model, stills)]
    heads = AuxHeads(model.config.llm.hidden_size, 8, 6, 4, len(MOTIONS))
    train(model, proto, sets, tmp_path / "m", TrainSettings(steps=2, batch_size=2, aux_weight=0.5, threads=1), heads)
    log = [json.loads(line) for line in (tmp_path / "m.state" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 2
    assert isinstance(model.describe(stills[0].frames, stills[0].masks, max_new_tokens=3, temperature=0), str)


def test_train_dam_cli_on_a_jsonl_dataset(tmp_path, tiny):
    _, _, examples = tiny
    lines = []
    for n, e in enumerate(examples[:3]):
        frames, masks = [], []
        for k, (frame, mask) in enumerate(zip(e.frames, e.masks)):
            Image.fromarray(frame).save(tmp_path / f"f{n}_{k}.png")
            Image.fromarray(mask).save(tmp_path / f"m{n}_{k}.png")
            frames.append(f"f{n}_{k}.png")
            masks.append(f"m{n}_{k}.png")
        lines.append(json.dumps({"frames": frames, "masks": masks, "caption": e.caption}))
    (tmp_path / "items.jsonl").write_text("\n".join(lines))
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(TINY))
    proc = subprocess.run([sys.executable, "-m", "videocap", "train-dam", "--data", str(tmp_path / "items.jsonl"),
                           "--init", str(arch), "--out", str(tmp_path / "cli-model"), "--steps", "2",
                           "--batch-size", "2", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    model = DamModel.from_pretrained(tmp_path / "cli-model", device="cpu", prompt_style="dam-3b-video")
    assert isinstance(model.describe(examples[0].frames, examples[0].masks, max_new_tokens=4, temperature=0), str)


def test_train_dam_cli_rejects_bad_data(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "videocap", "train-dam", "--data", "shapes:x", "--init",
                           "videocap/data/configs/demo-dam.yaml", "--out", str(tmp_path / "m")], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 2 and "shapes:N" in proc.stderr and "Traceback" not in proc.stderr


def test_committed_demo_captioner_names_colour_and_shape_on_unseen_clips():
    model = DamModel.from_pretrained(DEMO_DAM, device="cpu", prompt_style="dam-3b-video")
    examples = [e for seed in range(900_000, 900_006) for e in clip_examples(seed, max_objects=2)]
    captions = model.describe_batch([DamInput(e.frames, e.masks) for e in examples], max_new_tokens=40, temperature=0.0)
    named = [caption_words(c)[:2] == e.attributes["truth"][:2] for e, c in zip(examples, captions)]
    assert len(examples) >= 6
    assert np.mean(named) >= 0.8, list(zip(captions, [e.attributes["truth"] for e in examples]))
