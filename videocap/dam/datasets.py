"""Training data for DAM: dataset specs -> (frames, masks, caption) examples -> encoded sets ready for batches.

A spec is a .jsonl file of items (frames, masks, caption), ``shapes:N`` or ``shapes-stills:N`` (generated
clips, see ``shapes_data``). Encoding (cimages and token ids) happens once and is cached beside the
model folder being trained.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from videocap.dam.examples import Example
from videocap.dam.preprocess import check_inputs, make_cimages
from videocap.dam.prompt import prompt_ids
from videocap.errors import UserError

if TYPE_CHECKING:
    from videocap.dam.model import DamModel

SHAPES_PREFIX = "shapes:"
STILLS_PREFIX = "shapes-stills:"
SHAPES_SEED_BASE = 2_000_000  # training clips; evaluations use seeds below 1_000_000
STILLS_SEED_BASE = 2_500_000


@dataclass
class EncodedSet:
    """Examples preprocessed once: cimages and token ids, ready for batches."""

    pixels: torch.Tensor  # uint8 [items, frames, 8, S, S]
    prompt: list[list[int]]  # prompt ids with IMAGE_TOKEN_ID placeholders
    caption: list[list[int]]  # caption ids + EOS
    attributes: list[dict | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.caption)


def encode_examples(model: DamModel, examples: Sequence[Example]) -> EncodedSet:
    """Cimages, prompt ids and caption ids (+ EOS) of ``examples``, which must all have the same number of frames;
    a UserError for an item longer than the model's ``max_length``."""
    pixels, prompts, captions = [], [], []
    tokenizer = model.tokenizer
    eos = model.config.eos_token_ids[0]
    limit = model.config.max_length
    for n, ex in enumerate(examples):
        rgb, masks = check_inputs(ex.frames, ex.masks)
        pixels.append(make_cimages(rgb, masks, model.config.preprocess))
        prompts.append(prompt_ids(tokenizer, model.default_query(len(rgb)), len(rgb)))
        ids = tokenizer.encode(ex.caption)
        captions.append((ids[1:] if tokenizer.add_bos else ids) + [eos])
        length = model.sequence_length(prompts[-1], captions[-1])
        if limit and length > limit:
            raise UserError(f"training item {n} is {length} tokens long (prompt, {len(rgb)} frames and a caption of "
                            f"{len(captions[-1])} tokens), more than the model's max_length of {limit}: "
                            "shorten its caption or raise max_length")
    sizes = {p.shape for p in pixels}
    if len(sizes) != 1:
        raise UserError(f"all training items need the same number of frames; got shapes {sorted(sizes)}")
    return EncodedSet(torch.stack(pixels), prompts, captions, [ex.attributes for ex in examples])


def read_jsonl(path: str | Path) -> list[Example]:
    """A dataset file: one JSON object per line, {"frames": [image paths], "masks": [mask paths], "caption": str};
    relative paths are relative to the file."""
    from videocap.io.files import open_image, to_rgb

    path = Path(path)
    examples = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            frames = [np.asarray(to_rgb(open_image(path.parent / p))) for p in item["frames"]]
            masks = [np.asarray(open_image(path.parent / p).convert("L")) for p in item["masks"]]
            examples.append(Example(frames, masks, str(item["caption"])))
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path}:{n}: bad training item ({type(exc).__name__}: {exc})") from exc
    if not examples:
        raise UserError(f"{path}: no training items")
    return examples


def load_examples(data: str, processes: int = 2) -> list[Example]:
    """The items of one ``--data`` spec: a .jsonl file (see ``read_jsonl``), ``shapes:N`` (N generated clips of
    8 frames) or ``shapes-stills:N`` (still frames of N clips); ``processes`` generate the shapes data."""
    from videocap.dam.shapes_data import shape_examples

    for prefix, base, frames in ((SHAPES_PREFIX, SHAPES_SEED_BASE, 8), (STILLS_PREFIX, STILLS_SEED_BASE, 1)):
        if data.startswith(prefix):
            count = data[len(prefix):]
            if not count.isdigit() or int(count) < 1:
                raise UserError(f"--data {data}: use {prefix}N with N generated clips, e.g. {prefix}3000")
            return shape_examples(range(base, base + int(count)), processes=processes, num_frames=frames)
    path = Path(data)
    if not path.is_file():
        raise UserError(f"--data {data}: no such file (give a .jsonl of frames, masks and captions, or shapes:N)")
    return read_jsonl(path)


def cached_encoding(model: DamModel, examples: Sequence[Example], data: str, folder: str | Path) -> EncodedSet:
    """``encode_examples``, kept in ``folder`` (the training state folder) under a key of the data spec
    ``data``, the preprocessing, the tokenizer and the captions, so that a restart or resume skips it."""
    folder = Path(folder)
    key = hashlib.sha256(repr((data, model.config.preprocess, model.tokenizer.model_proto,
                               [e.caption for e in examples])).encode()).hexdigest()[:16]
    path = folder / f"data-{key}.pt"
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        return EncodedSet(saved["pixels"], saved["prompt"], saved["caption"], saved["attributes"])
    encoded = encode_examples(model, examples)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    torch.save({"pixels": encoded.pixels, "prompt": encoded.prompt, "caption": encoded.caption,
                "attributes": [_plain(a) for a in encoded.attributes]}, tmp)
    tmp.replace(path)
    return encoded


def _plain(attributes: dict | None) -> dict | None:
    """Attributes as types torch.load(weights_only=True) accepts (lists, not tuples)."""
    return None if attributes is None else {k: list(v) if isinstance(v, tuple) else v for k, v in attributes.items()}
