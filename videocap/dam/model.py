"""The Describe Anything Model: a mask-aware SigLIP with a context provider, a projector and a Llama LLM.

Data flow for one call (spec §0):

    frames + masks --preprocess--> uint8 cimages [N, 8, S, S]   (full view RGB+mask, focal view RGB+mask)
    full view  --tower (mask-aware SigLIP)--> context features [N, T, C]
    focal view --tower, each layer followed by a gated cross-attention block on the context--> [N, T, C]
    --projector (2x2 merge + MLP)--> visual tokens [N, T/4, D], spliced into the prompt at each <image>
    --LlamaForCausalLM--> logits / generated ids

All frames of all objects in a call go through the vision side as one batch.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    Cache,
    LlamaForCausalLM,
    SiglipVisionModel,
    StaticCache,
)

from videocap.dam import batching, loading
from videocap.dam.config import (
    OWN_PARTS,
    PROMPT_STYLES,
    TOWER_PREFIX,
    TOWER_UNUSED,
    DamConfig,
)
from videocap.dam.defaults import MAX_NEW_TOKENS, TEMPERATURE, TOP_P
from videocap.dam.generation import (
    Generators,
    TextStream,
    decode_tokens,
    finish_text,
    place_rows,
    positions_of,
    settle,
    trim_at_eos,
)
from videocap.dam.preprocess import (
    FrameImage,
    Mask,
    check_inputs,
    make_cimages,
)
from videocap.dam.prompt import IMAGE_TOKEN_ID, make_query, prompt_ids
from videocap.dam.records import DamInput
from videocap.dam.tokenizer import DamTokenizer
from videocap.dam.vision import VisionEncoder

log = logging.getLogger(__name__)

Seeds = int | Sequence[int] | None  # one seed for a batch, or one per item

IGNORE = -100  # the label of a position that carries no loss (prompt, images, padding)


@dataclass
class Prepared:
    """A batch ready for the model: prompt ids (``IMAGE_TOKEN_ID`` per image), all frames' cimages and, to
    train, each item's target ids (its caption and EOS), which follow its prompt and carry the loss."""

    ids: list[list[int]]
    pixels: torch.Tensor  # uint8 [total frames, 8, S, S], in item order (on any device)
    targets: list[list[int]] | None = None


@dataclass
class Spliced:
    """The LLM's input for a batch: one row per item, padded on one side."""

    embeds: torch.Tensor  # [B, L, D]
    attention_mask: torch.Tensor | None  # [B, L], 1 on real positions; None when no row is padded
    position_ids: torch.Tensor  # [B, L]
    labels: torch.Tensor | None  # [B, L]: the target ids where they sit, IGNORE elsewhere; None without targets


@dataclass
class DamOutput:
    """What ``DamModel.forward`` returns."""

    logits: torch.Tensor  # [B, L, V], or the last ``logits_to_keep`` positions only
    loss: torch.Tensor | None  # mean cross-entropy of predicting the targets' tokens; None without targets
    visual: torch.Tensor  # [total frames, T', D]: the visual tokens spliced in (the auxiliary heads read them)
    attention_mask: torch.Tensor | None
    position_ids: torch.Tensor


class DamModel(nn.Module):
    """Describe Anything: captions for masked regions of images and videos.

    Build it with ``DamModel.from_pretrained``. ``frames`` are HxWx3 uint8 RGB arrays or PIL images,
    ``masks`` HxW arrays (non-zero inside), one per frame; a ``query`` holds one ``<image>`` per frame and
    defaults to the checkpoint's own query (see ``prompt_style``).
    """

    def __init__(self, config: DamConfig, tokenizer: DamTokenizer, vision: VisionEncoder,
                 llm: LlamaForCausalLM) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.vision = vision
        self.llm = llm
        self.prompt_style = config.prompt_style  # "dam-3b" or "dam-3b-video": chooses the default queries
        self.vision_batch_size = 32  # frames per vision forward; bounds activation memory for big batches
        self.prefill_rows: int | None = None  # prompts prefilled together; None: 1 on CPU, all on GPU
        self.cuda_graphs = True  # on CUDA, each decoding step is replayed as one captured graph
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def from_config(cls, config: DamConfig, tokenizer: DamTokenizer, device: str | torch.device | None = None,
                    dtype: torch.dtype | None = None) -> DamModel:
        """A model with random weights (for tests and benchmarks)."""
        device, dtype = _defaults(device, dtype)
        config.validate()
        with torch.device(device):
            tower = AutoModel.from_config(config.vision, attn_implementation="sdpa", dtype=dtype)
            llm = AutoModelForCausalLM.from_config(config.llm, attn_implementation="sdpa", dtype=dtype)
            vision = VisionEncoder(config, tower)
        return cls(config, tokenizer, vision.to(device, dtype), llm.to(device, dtype))

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path | loading.DamCheckpoint, device: str | torch.device | None = None,
                        dtype: torch.dtype | None = None, prompt_style: str | None = None) -> DamModel:
        """Load a checkpoint in the official layout: a local folder, a hub id from the Hugging Face cache, or
        a ``DamCheckpoint`` opened before (``loading.open_checkpoint``).

        ``device`` defaults to CUDA when available, else CPU; ``dtype`` to bfloat16 on GPU, float32 on CPU.
        ``prompt_style`` ("dam-3b" or "dam-3b-video") picks the default queries; by default a name with
        "video" in it means DAM-3B-Video. Raises ``DamLoadError`` (a ``UserError``) for a bad checkpoint.
        """
        device, dtype = _defaults(device, dtype)
        checkpoint = loading.open_checkpoint(path_or_id, prompt_style)
        root, config, tokenizer = checkpoint.root, checkpoint.config, checkpoint.tokenizer

        # Check every file and shape against skeletons on the meta device before reading any weights.
        with torch.device("meta"):
            llm_shapes = _shapes(LlamaForCausalLM(config.llm))
            if config.llm.tie_word_embeddings:
                llm_shapes.pop("lm_head.weight", None)
            skeleton = VisionEncoder(config, SiglipVisionModel(config.vision))
        expected: dict[str, dict[str, tuple[int, ...]]] = {"vision_tower": _prefixed(TOWER_PREFIX, skeleton.tower)}
        for attr, (folder, prefix) in OWN_PARTS.items():
            expected[folder] = expected.get(folder, {}) | _prefixed(prefix, getattr(skeleton, attr))
        loading.check_weights(root / "llm", llm_shapes)
        files = {folder: loading.check_weights(root / folder, shapes,
                                               optional=TOWER_UNUSED if folder == "vision_tower" else ())
                 for folder, shapes in expected.items()}

        llm = loading.load_hf_model(LlamaForCausalLM, root / "llm", config.llm, device, dtype)
        if len(tokenizer) < config.llm.vocab_size:
            llm.resize_token_embeddings(len(tokenizer))  # as the reference does after loading its tokenizer
        tower = loading.load_hf_model(SiglipVisionModel, root / "vision_tower", config.vision, device, dtype)
        skeleton.tower = tower
        for attr, (folder, prefix) in OWN_PARTS.items():
            module = getattr(skeleton, attr)
            if module is not None:
                module.load_state_dict(loading.read_tensors(files[folder], prefix), strict=True, assign=True)
        return cls(config, tokenizer, skeleton.to(device, dtype), llm)

    @property
    def device(self) -> torch.device:
        return self.llm.lm_head.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.llm.lm_head.weight.dtype

    def default_query(self, num_frames: int, question: str | None = None) -> str:
        """The checkpoint's query for ``num_frames`` frames (spec §6.2), optionally with another question."""
        if self.prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {PROMPT_STYLES}, got {self.prompt_style!r}")
        return make_query(self.prompt_style, num_frames, question)

    # -- pipeline stages (also timed one by one by benchmarks/dam_bench.py) --

    def prepare(self, items: Sequence[DamInput]) -> Prepared:
        """Check the inputs, tokenize the prompts and build every frame's cimage (CPU work)."""
        ids, images, masks = [], [], []
        for item in items:
            rgb, bin_masks = check_inputs(list(item.frames), list(item.masks))
            question = item.question
            query = question if question is not None and "<image>" in question else self.default_query(len(rgb), question)
            ids.append(prompt_ids(self.tokenizer, query, len(rgb)))
            images += rgb
            masks += bin_masks
        return Prepared(ids=ids, pixels=make_cimages(images, masks, self.config.preprocess))

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """Visual tokens ``[N, T', D]`` of uint8 cimages ``[N, 8, S, S]``."""
        pixels = pixels.to(self.device, non_blocking=True)
        chunks = [self.vision(chunk) for chunk in pixels.split(batching.vision_chunk(self))]
        return torch.cat(chunks)

    def sequence_length(self, ids: Sequence[int], targets: Sequence[int] = ()) -> int:
        """The length in the LLM of a prompt (each placeholder a frame's visual tokens) and its targets, uncut."""
        images = sum(1 for t in ids if t == IMAGE_TOKEN_ID)
        return len(ids) + images * (self.config.image_tokens - 1) + len(targets)

    def splice(self, prepared: Prepared, visual: torch.Tensor, padding_side: str = "right") -> Spliced:
        """The one splice of training and inference: each prompt's text embeddings with the k-th image's visual
        tokens at its k-th placeholder, then its targets; rows padded on ``padding_side`` ("left" to generate,
        so that every row's next token goes at the end; "right" to train, the reference's tokenizer_padding_side).

        A prompt longer than ``config.max_length`` is cut to it with a warning, as the reference does. An
        item with targets that long is a ValueError: cut, it would train on a caption without its end.
        """
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
        targets = prepared.targets if prepared.targets is not None else [[] for _ in prepared.ids]
        counts = [sum(1 for t in ids if t == IMAGE_TOKEN_ID) for ids in prepared.ids]
        if len(targets) != len(prepared.ids) or len(visual) != sum(counts):
            raise ValueError(f"{len(prepared.ids)} prompts with {sum(counts)} placeholders, {len(targets)} targets "
                             f"and {len(visual)} images: they must match")
        limit, rows, labels = self.config.max_length, [], []
        for n, (ids, target, images) in enumerate(zip(prepared.ids, targets, visual.split(counts), strict=True)):
            row = self._splice_row(ids, target, images)
            if limit and len(row) > limit:
                if target:
                    raise ValueError(f"item {n}: {len(row)} tokens of prompt, images and target exceed the model's "
                                     f"max_length of {limit}")
                log.warning("prompt of %d tokens cut to the model's %d", len(row), limit)
                row = row[:limit]
            rows.append(row)
            if prepared.targets is not None:
                labels.append(torch.tensor([IGNORE] * (len(row) - len(target)) + list(target), device=row.device))
        embeds = _pad(rows, padding_side, 0)
        batch, length = embeds.shape[:2]
        mask = None
        if any(len(row) != length for row in rows):
            mask = _pad([torch.ones(len(row), dtype=torch.long, device=row.device) for row in rows], padding_side, 0)
        return Spliced(embeds, mask, positions_of(mask, batch, length, embeds.device),
                       None if prepared.targets is None else _pad(labels, padding_side, IGNORE))

    def _splice_row(self, ids: list[int], target: list[int], images: torch.Tensor) -> torch.Tensor:
        text = self.llm.get_input_embeddings()(torch.tensor(list(ids) + list(target), device=self.device).clamp(min=0))
        parts, start = [], 0
        for pos, image in zip((i for i, t in enumerate(ids) if t == IMAGE_TOKEN_ID), images, strict=True):
            parts += [text[start:pos], image]
            start = pos + 1
        parts.append(text[start:])
        return torch.cat(parts)

    def forward(self, prepared: Prepared, visual: torch.Tensor | None = None, padding_side: str = "right",
                cache: Cache | None = None, logits_to_keep: int = 0) -> DamOutput:
        """The model on a prepared batch, for training and inference alike: vision (unless its ``visual`` tokens
        are given), the splice, the LLM, and with ``prepared.targets`` the loss on them.

        ``cache`` (a KV cache to fill) and ``logits_to_keep`` (only the last positions' logits) are for
        generation's prefill.
        """
        if visual is None:
            visual = self.encode_images(prepared.pixels)
        x = self.splice(prepared, visual, padding_side)
        out = self.llm(inputs_embeds=x.embeds, attention_mask=x.attention_mask, position_ids=x.position_ids,
                       cache=cache, use_cache=cache is not None, logits_to_keep=logits_to_keep)
        loss = None
        if x.labels is not None:
            if logits_to_keep:
                raise ValueError("the loss needs every position's logits: give no logits_to_keep with targets")
            loss = F.cross_entropy(out.logits[:, :-1].flatten(0, 1).float(), x.labels[:, 1:].flatten(),
                                   ignore_index=IGNORE)
        return DamOutput(out.logits, loss, visual, x.attention_mask, x.position_ids)

    def prefill(self, prepared: Prepared, max_new_tokens: int,
                rows: int | None = None) -> tuple[DamOutput, StaticCache]:
        """Generation's first step: ``forward`` on the left-padded prompts, keeping the last logits, into a KV
        cache with room for ``max_new_tokens`` more.

        With ``rows``, ``forward`` takes the prompts ``rows`` at a time, each group without the padding it does
        not need, and their keys and values are copied into the batch's cache (on a CPU one prompt at a time costs
        what a batch of one does, where a whole batch's activations pass glibc's mmap threshold and are
        page-faulted afresh at every layer; and it is numerically the batch-1 prefill).
        """
        limit = self.config.max_length or math.inf
        lengths = [int(min(self.sequence_length(ids), limit)) for ids in prepared.ids]
        cache = StaticCache(config=self.llm.config, max_cache_len=max(lengths) + max_new_tokens)
        if not rows or rows >= len(lengths):
            return self(prepared, padding_side="left", cache=cache, logits_to_keep=1), cache
        return self._prefill_rows(prepared, lengths, cache, rows), cache

    def _prefill_rows(self, prepared: Prepared, lengths: list[int], cache: StaticCache, rows: int) -> DamOutput:
        """``prefill`` ``rows`` prompts at a time into ``cache``; the batch's output (last logits only)."""
        batch, length = len(lengths), max(lengths)
        counts = [sum(1 for t in ids if t == IMAGE_TOKEN_ID) for ids in prepared.ids]
        visual = self.encode_images(prepared.pixels)
        ends = [0, *itertools.accumulate(counts)]
        logits = []
        for r0 in range(0, batch, rows):
            r1 = min(r0 + rows, batch)
            group = Prepared(ids=prepared.ids[r0:r1], pixels=prepared.pixels[ends[r0]:ends[r1]])
            part = StaticCache(config=self.llm.config, max_cache_len=max(lengths[r0:r1]))
            logits.append(self(group, visual[ends[r0]:ends[r1]], "left", cache=part, logits_to_keep=1).logits)
            place_rows(cache, part, r0, batch, length - max(lengths[r0:r1]))
        settle(cache, length)
        mask = None
        if min(lengths) != length:
            mask = torch.tensor([[0] * (length - n) + [1] * n for n in lengths], device=self.device)
        return DamOutput(torch.cat(logits), None, visual, mask, positions_of(mask, batch, length, self.device))

    def decode_steps(self, prepared: Prepared, max_new_tokens: int, temperature: float, top_p: float, seed: Seeds,
                stop_at_eos: bool = True) -> Iterator[torch.Tensor]:
        """The new ids ``[B]`` of every item, step by step: the prefill (vision, splice, prompts) before the
        first, then ``generation.decode_tokens``. The one generation path: every public method goes through it."""
        options = self.decode_options()
        out, cache = self.prefill(prepared, max_new_tokens, options["prefill_rows"])
        eos = torch.tensor(self.config.eos_token_ids, device=self.device)
        return decode_tokens(self.llm, out.logits[:, -1], cache, out.attention_mask, out.position_ids[:, -1:] + 1,
                             max_new_tokens, temperature, top_p, eos, self._generator(seed), stop_at_eos,
                             self.config.top_k, options["cuda_graph"], options["eos_check_every"])

    # -- public API --

    @torch.inference_mode()
    def logits(self, frames: Sequence[FrameImage], masks: Sequence[Mask],
               query: str | None = None) -> torch.Tensor:
        """float32 logits ``[seq_len, vocab]`` (on the CPU) at every position of the spliced prompt."""
        return self(self.prepare([DamInput(frames, masks, query)])).logits[0].float().cpu()

    def generate_ids(self, frames: Sequence[FrameImage], masks: Sequence[Mask], query: str | None = None,
                     max_new_tokens: int = MAX_NEW_TOKENS, temperature: float = 0.0, top_p: float = TOP_P,
                     seed: int | None = None) -> list[int]:
        """The new token ids (greedy by default), up to and including the EOS when one is produced."""
        return self.generate_batch_ids([DamInput(frames, masks, query)], max_new_tokens, temperature, top_p, seed)[0]

    @torch.inference_mode()
    def generate_batch_ids(self, items: Sequence[DamInput], max_new_tokens: int = MAX_NEW_TOKENS,
                           temperature: float = 0.0, top_p: float = TOP_P, seed: Seeds = None,
                           stop_at_eos: bool = True) -> list[list[int]]:
        """New token ids of several objects generated together (left padding; greedy equals one-by-one).

        ``seed`` is one seed for the batch, or one per item: then each row samples as it would alone."""
        if not items:
            return []
        steps = list(self.decode_steps(self.prepare(items), max_new_tokens, temperature, top_p, seed, stop_at_eos))
        if not steps:
            return [[] for _ in items]
        ids = torch.stack(steps, dim=1).tolist()
        return [trim_at_eos(row, set(self.config.eos_token_ids)) if stop_at_eos else row for row in ids]

    def describe(self, frames: Sequence[FrameImage], masks: Sequence[Mask], query: str | None = None,
                 max_new_tokens: int = MAX_NEW_TOKENS, temperature: float = TEMPERATURE, top_p: float = TOP_P,
                 seed: int | None = None) -> str:
        """The description of the masked object (reference defaults: temperature 0.2, top-p 0.5)."""
        return self.describe_batch([DamInput(frames, masks, query)], max_new_tokens=max_new_tokens, temperature=temperature,
                                   top_p=top_p, seed=seed)[0]

    def describe_batch(self, items: Sequence[DamInput], max_new_tokens: int = MAX_NEW_TOKENS,
                       temperature: float = TEMPERATURE, top_p: float = TOP_P, seed: Seeds = None,
                       batch_size: int = 16) -> list[str]:
        """Descriptions of many objects, ``batch_size`` at a time in one batched generation each (on a GPU,
        fewer when that many do not fit in its free memory: see ``batching.fitting_batch_size``).

        Objects with the same number of frames are batched together, so that little padding is needed.
        ``seed``: one seed (the objects from ``start`` on sample with ``seed + start``), or one per item,
        which makes each text what ``describe(..., seed=its seed)`` gives, whatever the batch.
        """
        order = sorted(range(len(items)), key=lambda i: len(items[i].frames))
        texts = [""] * len(items)
        if items:
            frames = max(len(item.frames) for item in items)
            batch_size = batching.fitting_batch_size(self, batch_size, frames, max_new_tokens)
        for start in range(0, len(order), batch_size):
            group = order[start:start + batch_size]
            seed_k = seed + start if isinstance(seed, int) else None if seed is None else [seed[i] for i in group]
            ids = self.generate_batch_ids([items[i] for i in group], max_new_tokens, temperature, top_p, seed_k)
            for i, row in zip(group, ids, strict=True):
                texts[i] = finish_text(self.tokenizer.decode(row))
        return texts

    @torch.inference_mode()
    def stream(self, frames: Sequence[FrameImage], masks: Sequence[Mask], query: str | None = None,
               max_new_tokens: int = MAX_NEW_TOKENS, temperature: float = TEMPERATURE, top_p: float = TOP_P,
               seed: int | None = None) -> Iterator[str]:
        """The description in pieces as it is generated; the pieces join to what ``describe`` returns."""
        text = TextStream(self.tokenizer)
        for token in self.decode_steps(self.prepare([DamInput(frames, masks, query)]), max_new_tokens, temperature, top_p, seed):
            piece = text.push(int(token[0]))
            if piece:
                yield piece
            if text.stopped:
                break
        piece = text.finish()
        if piece:
            yield piece

    def decode_options(self) -> dict:
        """How ``prefill`` and ``decode_tokens`` run on this model's device (see ``generation.DecodeStep``)."""
        cuda = self.device.type == "cuda"
        rows = self.prefill_rows if self.prefill_rows is not None else (None if cuda else 1)
        # A look at the EOS flags waits for the device: on CUDA look every 16 tokens.
        return {"prefill_rows": rows, "cuda_graph": cuda and self.cuda_graphs, "eos_check_every": 16 if cuda else 1}

    def _generator(self, seed: Seeds) -> Generators:
        if seed is None or isinstance(seed, int):
            return None if seed is None else torch.Generator(device=self.device).manual_seed(seed)
        return [torch.Generator(device=self.device).manual_seed(s) for s in seed]


def _defaults(device: str | torch.device | None, dtype: torch.dtype | None) -> tuple[torch.device, torch.dtype]:
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    return device, dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)


def _pad(rows: list[torch.Tensor], side: str, fill: float) -> torch.Tensor:
    """Rows of different lengths as one tensor ``[B, L, ...]``, ``fill`` on the left or the right of each."""
    length = max(len(row) for row in rows)
    out = rows[0].new_full((len(rows), length, *rows[0].shape[1:]), fill)
    for b, row in enumerate(rows):
        if side == "left":
            out[b, length - len(row):] = row
        else:
            out[b, :len(row)] = row
    return out


def _shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _prefixed(prefix: str, module: nn.Module | None) -> dict[str, tuple[int, ...]]:
    """The file keys and shapes of one of our own modules, stored under ``prefix`` in its checkpoint file."""
    return {} if module is None else {prefix + k: s for k, s in _shapes(module).items()}
