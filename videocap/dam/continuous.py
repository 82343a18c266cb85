"""Continuous batching: requests join a running decode batch at a step boundary and leave it when done.

A server's clients arrive one by one. ``DecodeBatch`` keeps one left-padded KV cache for every row being
decoded; ``admit`` prefills newcomers together (their frames through the vision side as one batch) and
places them beside the running rows; ``advance`` runs one decoding step for all rows and hands back each
row's new text. Rows that finish (EOS, the stop string, their token budget) or are cancelled leave at once,
and the cache is rebuilt without them, so a batch never decodes for a client that is gone.

Each row samples with its own settings and generator, from the same logits a batch of one would give, so
a greedy answer equals ``DamModel.generate_ids`` and a seeded one equals ``describe(..., seed=...)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from transformers import StaticCache

from videocap.dam.generation import DecodeStep, TextStream, sample_next, settle
from videocap.dam.model import DamModel, Prepared
from videocap.dam.records import DamInput


@dataclass(eq=False)
class Request:
    """One caption asked for: a prepared prompt (``prepare_request``) and how to sample it. ``ids`` grows
    with the new token ids; set ``cancelled`` from any thread to free its row at the next step."""

    prompt_ids: list[int]
    pixels: torch.Tensor  # uint8 cimages [frames, 8, S, S]
    prompt_tokens: int  # its length in the LLM: text and visual tokens
    max_new_tokens: int
    temperature: float
    top_p: float
    seed: int | None = None
    ids: list[int] = field(default_factory=list)
    cancelled: bool = False


@dataclass(frozen=True)
class Step:
    """What one step gave a request: its new ``text`` (possibly empty: text still unsettled) and, on its last
    step, why it ended (``"stop"`` or ``"length"``)."""

    request: Request
    text: str
    finish: str | None


def prepare_request(model: DamModel, item: DamInput, max_new_tokens: int, temperature: float, top_p: float,
                    seed: int | None = None) -> Request:
    """The CPU work of one request (checks, tokens, cimages), done before it waits for a row."""
    prepared = model.prepare([item])
    ids = prepared.ids[0]
    return Request(ids, prepared.pixels, model.sequence_length(ids), max_new_tokens, temperature, top_p, seed)


@dataclass(eq=False)
class _Row:
    request: Request
    stream: TextStream
    generator: torch.Generator | None
    length: int  # positions of this row in the cache
    pending: int = -1  # the sampled token not yet fed to the LLM


class DecodeBatch:
    """The rows being decoded together on one ``model`` (at most ``max_rows``); used from one thread."""

    def __init__(self, model: DamModel, max_rows: int) -> None:
        self.model, self.max_rows = model, max_rows
        self.rows: list[_Row] = []
        self.eos = set(model.config.eos_token_ids)
        self.cache: StaticCache | None = None
        self.width = 0  # cache columns in use: every row ends at this column
        self.step: DecodeStep | None = None

    @property
    def free(self) -> int:
        return self.max_rows - len(self.rows)

    @torch.inference_mode()
    def admit(self, requests: Sequence[Request]) -> list[Step]:
        """Prefill ``requests`` (at most ``free``) as one batch and add them; each one's first step."""
        if len(requests) > self.free:
            raise ValueError(f"{len(requests)} requests for {self.free} free rows")
        if not requests:
            return []
        prepared = Prepared(ids=[r.prompt_ids for r in requests], pixels=torch.cat([r.pixels for r in requests]))
        out, part = self.model.prefill(prepared, 0, self.model.decode_options()["prefill_rows"])
        limit = self.model.config.max_length or math.inf
        sources = [(self.cache, b, self.width, row) for b, row in enumerate(self.rows)]
        steps = []
        for j, request in enumerate(requests):
            row = _Row(request, TextStream(self.model.tokenizer), self._generator(request.seed),
                       int(min(request.prompt_tokens, limit)))
            step = self._sample(row, out.logits[j:j + 1, -1])
            steps.append(step)
            if step.finish is None:
                sources.append((part, j, part.layers[0].max_cache_len, row))
        self._rebuild(sources)
        return steps

    @torch.inference_mode()
    def advance(self) -> list[Step]:
        """One decoding step of every row (cancelled rows leave first, unanswered)."""
        if any(row.request.cancelled for row in self.rows):
            self._rebuild([(self.cache, b, self.width, row) for b, row in enumerate(self.rows)
                           if not row.request.cancelled])
        if not self.rows:
            return []
        logits = self.step(torch.tensor([row.pending for row in self.rows], device=self.model.device))
        self.width += 1
        steps = []
        for b, row in enumerate(self.rows):
            row.length += 1
            steps.append(self._sample(row, logits[b:b + 1]))
        if any(step.finish for step in steps):
            self._rebuild([(self.cache, b, self.width, row) for b, (row, step) in enumerate(zip(self.rows, steps))
                           if step.finish is None])
        return steps

    def _sample(self, row: _Row, logits: torch.Tensor) -> Step:
        request = row.request
        token = int(sample_next(logits.float(), request.temperature, request.top_p, row.generator,
                                self.model.config.top_k)[0])
        request.ids.append(token)
        row.pending = token
        text = row.stream.push(token)
        finish = None
        if token in self.eos or row.stream.stopped:
            finish = "stop"
        elif len(request.ids) >= request.max_new_tokens:
            finish = "length"
        if finish:
            text += row.stream.finish()
        return Step(request, text, finish)

    def _rebuild(self, sources: list[tuple[StaticCache, int, int, _Row]]) -> None:
        """A fresh cache holding, right-aligned, each source row's positions (``cache``, its row, the column its
        positions end at), with room for the most tokens any of them may still take."""
        self.rows = [row for *_, row in sources]
        if not self.rows:
            self.cache, self.step, self.width = None, None, 0
            return
        width = max(row.length for row in self.rows)
        room = max(row.request.max_new_tokens - len(row.request.ids) for row in self.rows)
        cache = StaticCache(config=self.model.llm.config, max_cache_len=width + room)
        for layer_index, layer in enumerate(cache.layers):
            first = sources[0][0].layers[layer_index]
            layer.lazy_initialization(first.keys[:1].expand(len(self.rows), -1, -1, -1),
                                      first.values[:1].expand(len(self.rows), -1, -1, -1))
            for b, (source, r, end, row) in enumerate(sources):
                old = source.layers[layer_index]
                layer.keys[b, :, width - row.length:width] = old.keys[r, :, end - row.length:end]
                layer.values[b, :, width - row.length:width] = old.values[r, :, end - row.length:end]
        settle(cache, width)
        device = self.model.device
        mask = torch.tensor([[0] * (width - row.length) + [1] * row.length for row in self.rows], device=device)
        next_pos = torch.tensor([[row.length] for row in self.rows], device=device)
        self.cache, self.width = cache, width
        self.step = DecodeStep(self.model.llm, cache, mask, next_pos, width)

    def _generator(self, seed: int | None) -> torch.Generator | None:
        return None if seed is None else torch.Generator(device=self.model.device).manual_seed(seed)
