"""Token-by-token generation over a batch of spliced prompts, sampling, and streamed text (spec §8)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import torch
from transformers import LlamaForCausalLM, StaticCache

from videocap.dam.tokenizer import DamTokenizer

STOP_TEXT = "</s>"  # the reference's stop string; it also cuts the text where it appears literally
_UNSETTLED_TAIL = re.compile(r"[\s\ufffd]+$")


Generators = torch.Generator | Sequence[torch.Generator] | None


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, generator: Generators,
                top_k: int = 0) -> torch.Tensor:
    """Next ids ``[B]`` from float logits ``[B, V]``: argmax at temperature 0, else temperature, top-k
    (0 = off) and top-p (nucleus) sampling, in the order transformers' ``generate`` applies them.

    ``generator`` is one generator for the batch, or one per row: then each row draws from its own, as it
    would alone, so that its text does not depend on the rows beside it."""
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
    probs = logits.softmax(dim=-1)
    if generator is None or isinstance(generator, torch.Generator):
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
    return torch.cat([torch.multinomial(row, 1, generator=g) for row, g in zip(probs, generator, strict=True)])


def positions_of(attention_mask: torch.Tensor | None, batch: int, length: int,
                 device: torch.device) -> torch.Tensor:
    """Position ids ``[B, L]``: 0, 1, ... over each row's real tokens, whichever side its padding is on."""
    if attention_mask is None:
        return torch.arange(length, device=device).expand(batch, -1)
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def decode_tokens(llm: LlamaForCausalLM, logits: torch.Tensor, cache: StaticCache,
                  attention_mask: torch.Tensor | None, next_pos: torch.Tensor, max_new_tokens: int,
                  temperature: float, top_p: float, eos_ids: torch.Tensor, generator: Generators = None,
                  stop_at_eos: bool = True, top_k: int = 0, cuda_graph: bool = False,
                  eos_check_every: int = 1) -> Iterator[torch.Tensor]:
    """Yield the next ids ``[B]`` of every row, one step at a time, after a prefill.

    ``logits`` ``[B, V]`` are the prefill's last logits, ``cache`` holds its keys and values (a static cache
    with room for ``max_new_tokens`` more), ``attention_mask`` ``[B, L]`` its real positions (``None``: nothing
    padded) and ``next_pos`` ``[B, 1]`` the position of each row's next token. Rows that produced an EOS keep
    yielding EOS; the loop ends when every row is done (looked at every ``eos_check_every`` steps, since each
    look waits for the device), or after ``max_new_tokens``. ``cuda_graph`` replays the decoding step as one
    captured CUDA graph (see ``DecodeStep``).
    """
    batch = logits.shape[0]
    length = attention_mask.shape[1] if attention_mask is not None else int(next_pos[0, 0])
    step = DecodeStep(llm, cache, attention_mask, next_pos, length, cuda_graph)
    finished = torch.zeros(batch, dtype=torch.bool, device=logits.device)
    for n in range(max_new_tokens):
        token = sample_next(logits.float(), temperature, top_p, generator, top_k)
        token = torch.where(finished, eos_ids[0], token)
        yield token
        finished |= torch.isin(token, eos_ids)
        if n + 1 == max_new_tokens or (stop_at_eos and (n + 1) % eos_check_every == 0 and bool(finished.all())):
            return
        logits = step(token)


def place_rows(cache: StaticCache, part: StaticCache, r0: int, batch: int, skip: int) -> None:
    """Copy the keys and values of a group of left-padded prompts, prefilled on their own (``part``), into rows
    ``r0``... of the batch's ``cache`` from column ``skip`` on (the padding the group did without)."""
    for layer, small in zip(cache.layers, part.layers, strict=True):
        if not layer.is_initialized:  # allocated by the first group, for the whole batch
            layer.lazy_initialization(small.keys[:1].expand(batch, -1, -1, -1),
                                      small.values[:1].expand(batch, -1, -1, -1))
        length = skip + small.keys.shape[2]
        layer.keys[r0:r0 + len(small.keys), :, skip:length] = small.keys
        layer.values[r0:r0 + len(small.values), :, skip:length] = small.values


def settle(cache: StaticCache, length: int) -> None:
    """After ``place_rows``: the cache holds ``length`` positions of every row."""
    for layer in cache.layers:
        layer.cumulative_length.fill_(length)


class DecodeStep:
    """One decoding step of the whole batch on fixed buffers: logits ``[B, V]`` of the next ``token`` ``[B]``.

    Every step reads and writes the same tensors (the token, the positions, a full-length attention mask
    and the static cache) and never waits for the device, so that on CUDA the step is captured once as a
    graph and replayed: the host then launches one graph per token instead of hundreds of kernels.
    """

    def __init__(self, llm: LlamaForCausalLM, cache: StaticCache, attention_mask: torch.Tensor | None,
                 next_pos: torch.Tensor, length: int, cuda_graph: bool = False) -> None:
        batch, device = next_pos.shape[0], next_pos.device
        cache_len = cache.layers[0].max_cache_len
        self.llm, self.cache = llm, cache
        self.embed_tokens = llm.get_input_embeddings()
        self.token = torch.zeros(batch, dtype=torch.long, device=device)
        self.positions = next_pos.clone()  # [B, 1]: the position of each row's next token
        self.slot = torch.full((1,), length, dtype=torch.long, device=device)  # the cache slot written next
        # [B, 1, 1, cache_len] (True: attend); a 4D mask goes to attention as it is.
        self.mask = torch.zeros(batch, 1, 1, cache_len, dtype=torch.bool, device=device)
        self.mask[:, 0, 0, :length] = True if attention_mask is None else attention_mask.bool()
        self.use_graph = cuda_graph and device.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None
        self.steps = 0

    def __call__(self, token: torch.Tensor) -> torch.Tensor:
        self.token.copy_(token)
        self.steps += 1
        if not self.use_graph or self.steps == 1:  # the first step runs eagerly: it warms up the kernels
            return self._forward()
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.logits = self._forward()
        self.graph.replay()
        return self.logits

    def _forward(self) -> torch.Tensor:
        self.mask.index_fill_(-1, self.slot, True)
        out = self.llm(inputs_embeds=self.embed_tokens(self.token)[:, None], attention_mask=self.mask,
                       position_ids=self.positions, cache=self.cache, use_cache=True)
        self.positions.add_(1)
        self.slot.add_(1)
        return out.logits[:, -1]


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
