"""How many objects DAM runs together: on a GPU, the largest batch that fits in its free memory.

The estimate counts what grows with the batch: each object's KV cache (prompt and new tokens) and its
prefill activations. The vision tower runs ``vision_batch_size`` frames at a time whatever the batch,
so it is a fixed cost, left to the headroom. A batch that does not fit whole is cut to a power of two,
so that the same few batch shapes come back (and their CUDA graphs and kernel choices with them).
"""

from __future__ import annotations

import math

import torch

HEADROOM = 0.8  # the share of the free memory a batch may take (allocator slack, the vision tower, graphs)
PROMPT_TEXT_TOKENS = 128  # the system prompt and question around the images, generously


def object_bytes(config, frames: int, new_tokens: int, dtype: torch.dtype) -> int:
    """Device memory one more object in the batch needs: its KV cache and its prefill activations."""
    llm = config.llm
    head_dim = getattr(llm, "head_dim", None) or llm.hidden_size // llm.num_attention_heads
    merged = math.ceil(config.grid / 2) ** 2  # visual tokens per frame after the 2x2 merge
    prompt = frames * merged + PROMPT_TEXT_TOKENS
    size = torch.empty(0, dtype=dtype).element_size()
    kv = 2 * llm.num_hidden_layers * llm.num_key_value_heads * head_dim * (prompt + new_tokens) * size
    # One layer's activations at a time: the residual stream, q/k/v/o, and the MLP's gate, up and product.
    activations = prompt * (5 * llm.hidden_size + 3 * llm.intermediate_size) * size
    return kv + activations + llm.vocab_size * 4  # and its float32 logits while decoding


def pick_batch_size(limit: int, per_object: int, free: int) -> int:
    """``limit`` when that many fit in ``free`` bytes, else the largest power of two that does (at least 1)."""
    budget = free * HEADROOM
    if limit * per_object <= budget:
        return limit
    size = 1
    while size * 2 < limit and size * 2 * per_object <= budget:
        size *= 2
    return size


def free_memory(device: torch.device) -> int | None:
    """Free bytes on a CUDA device (``None`` elsewhere: a CPU batch is bounded by the settings alone)."""
    if device.type != "cuda":
        return None
    return torch.cuda.mem_get_info(device)[0]


def fitting_batch_size(model, limit: int, frames: int, new_tokens: int) -> int:
    """The objects per batch for ``model``: ``limit``, or fewer on a GPU without the memory for them."""
    free = free_memory(model.device)
    if free is None:
        return limit
    return pick_batch_size(limit, object_bytes(model.config, frames, new_tokens, model.dtype), free)


# glibc's malloc serves a block above 32 MiB with a fresh mmap, and the kernel zeroes every page of it
# as it is first touched; and it hands a free heap top above twice its (adaptive) threshold back to the
# kernel, which faults it in again next time. On a CPU a batch whose activations outgrow that spends a
# fifth of its time in page faults (measured, medium tower, per frame: 16,000 faults and 60-80 ms of
# system time at 32 frames a call; 5,000-7,000 faults at 14; about 1,000 at 8; none at 4). A tower
# forward whose largest activation stays near 8 MiB keeps its blocks in malloc's heap.
CPU_BLOCK_BYTES = 8 * 2**20


def vision_chunk(model) -> int:
    """Frames per vision forward: ``model.vision_batch_size``, fewer on a CPU so that the tower's largest
    activation (the MLP's) stays near ``CPU_BLOCK_BYTES``; at least one frame."""
    if model.device.type != "cpu":
        return model.vision_batch_size
    vision = model.config.vision
    tokens = (vision.image_size // vision.patch_size) ** 2
    per_frame = tokens * max(vision.intermediate_size, 3 * vision.hidden_size) * model.dtype.itemsize
    return max(1, min(model.vision_batch_size, CPU_BLOCK_BYTES // per_frame))
