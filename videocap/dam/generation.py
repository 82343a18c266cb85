"""Token-by-token generation over a batch of spliced prompts, sampling, and streamed text (spec §8)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch
from transformers import Cache, LlamaForCausalLM, StaticCache

from videocap.dam.tokenizer import DamTokenizer

STOP_TEXT = "</s>"  # the reference's stop string; it also cuts the text where it appears literally
_UNSETTLED_TAIL = re.compile(r"[\s\ufffd]+$")


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator | None,
                top_k: int = 0) -> torch.Tensor:
    """Next ids ``[B]`` from float logits ``[B, V]``: argmax at temperature 0, else temperature, top-k
    (0 = off) and top-p (nucleus) sampling, in the order transformers' ``generate`` applies them."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1)
        drop_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= 1 - top_p
        drop_sorted[:, -1] = False  # always keep the most likely token
        logits = logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


def positions_of(attention_mask: torch.Tensor | None, batch: int, length: int,
                 device: torch.device) -> torch.Tensor:
    """Position ids ``[B, L]``: 0, 1, ... over each row's real tokens, whichever side its padding is on."""
    if attention_mask is None:
        return torch.arange(length, device=device).expand(batch, -1)
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def generate_tokens(llm: LlamaForCausalLM, embeds: torch.Tensor, attention_mask: torch.Tensor | None,
                    max_new_tokens: int, temperature: float, top_p: float, eos_ids: torch.Tensor,
                    generator: torch.Generator | None = None, stop_at_eos: bool = True,
                    top_k: int = 0) -> Iterator[torch.Tensor]:
    """``decode_tokens`` after a prefill of already spliced, left-padded ``embeds`` ``[B, L, D]`` (``attention_mask``
    ``[B, L]`` marks their real positions, ``None`` when nothing is padded).

    For callers holding embeddings (benchmarks time the splice on its own); ``DamModel`` prefills through its
    ``forward`` and then calls ``decode_tokens``.
    """
    batch, length, _ = embeds.shape
    positions = positions_of(attention_mask, batch, length, embeds.device)
    cache = StaticCache(config=llm.config, max_cache_len=length + max_new_tokens)
    out = llm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions, cache=cache,
              use_cache=True, logits_to_keep=1)
    yield from decode_tokens(llm, out.logits[:, -1], cache, attention_mask, positions[:, -1:] + 1, max_new_tokens,
                             temperature, top_p, eos_ids, generator, stop_at_eos, top_k)


def decode_tokens(llm: LlamaForCausalLM, logits: torch.Tensor, cache: Cache, attention_mask: torch.Tensor | None,
                  next_pos: torch.Tensor, max_new_tokens: int, temperature: float, top_p: float, eos_ids: torch.Tensor,
                  generator: torch.Generator | None = None, stop_at_eos: bool = True,
                  top_k: int = 0) -> Iterator[torch.Tensor]:
    """Yield the next ids ``[B]`` of every row, one step at a time, after a prefill.

    ``logits`` ``[B, V]`` are the prefill's last logits, ``cache`` holds its keys and values (with room for
    ``max_new_tokens`` more), ``attention_mask`` ``[B, L]`` its real positions (``None``: nothing padded) and
    ``next_pos`` ``[B, 1]`` the position of each row's next token. Rows that produced an EOS keep yielding EOS;
    the loop ends when every row is done, or after ``max_new_tokens``.
    """
    batch = logits.shape[0]
    finished = torch.zeros(batch, dtype=torch.bool, device=logits.device)
    embed_tokens = llm.get_input_embeddings()
    for step in range(max_new_tokens):
        token = sample_next(logits.float(), temperature, top_p, generator, top_k)
        token = torch.where(finished, eos_ids[0], token)
        yield token
        finished |= torch.isin(token, eos_ids)
        if step + 1 == max_new_tokens or (stop_at_eos and bool(finished.all())):
            return
        if attention_mask is not None:
            attention_mask = torch.cat([attention_mask, attention_mask.new_ones(batch, 1)], dim=1)
        out = llm(inputs_embeds=embed_tokens(token)[:, None], attention_mask=attention_mask, position_ids=next_pos,
                  cache=cache, use_cache=True)
        logits = out.logits[:, -1]
        next_pos = next_pos + 1


def trim_at_eos(ids: list[int], eos_ids: set[int]) -> list[int]:
    """New ids up to and including the first EOS (the reference keeps the EOS it produced)."""
    for i, token in enumerate(ids):
        if token in eos_ids:
            return ids[:i + 1]
    return ids


def finish_text(text: str) -> str:
    """The reference's post-processing: strip, and drop the stop string and anything after it."""
    text = text.strip()
    cut = text.find(STOP_TEXT)
    return text if cut < 0 else text[:cut].strip()


class TextStream:
    """Turns ids into text pieces as they arrive; the pieces join up to ``finish_text`` of the whole.

    Text that may still change is held back: trailing whitespace (stripped at the end), an incomplete
    UTF-8 byte sequence (decoded as U+FFFD for now), and a partial stop string.
    """

    def __init__(self, tokenizer: DamTokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.sent = ""
        self.stopped = False  # the stop string appeared: nothing more will be emitted

    def push(self, token_id: int) -> str:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids).lstrip()
        cut = text.find(STOP_TEXT)
        if cut >= 0:
            self.stopped = True
            return self._emit(text[:cut].rstrip())
        text = _UNSETTLED_TAIL.sub("", text)
        for k in range(len(STOP_TEXT) - 1, 0, -1):
            if text.endswith(STOP_TEXT[:k]):
                text = text[:-k]
                break
        return self._emit(text)

    def finish(self) -> str:
        return self._emit(finish_text(self.tokenizer.decode(self.ids)))

    def _emit(self, text: str) -> str:
        if len(text) <= len(self.sent) or not text.startswith(self.sent):
            return ""
        piece, self.sent = text[len(self.sent):], text
        return piece
