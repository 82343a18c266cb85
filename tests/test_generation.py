"""DAM's token loop (videocap.dam.generation) and batch sizing (videocap.dam.batching) on a tiny random Llama."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, StaticCache

from videocap.dam import batching
from videocap.dam.config import synthetic_config
from videocap.dam.generation import decode_tokens, positions_of, trim_at_eos
from videocap.dam.records import DamInput

EOS = torch.tensor([2])


@pytest.fixture(scope="module")
def llm() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=48, max_position_embeddings=256, eos_token_id=2)
    return LlamaForCausalLM(config).eval().requires_grad_(False)


def padded(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded embeddings [B, L, D] and their attention mask, as DamModel.embed makes them."""
    length = max(len(r) for r in rows)
    embeds = torch.zeros(len(rows), length, rows[0].shape[-1])
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for b, row in enumerate(rows):
        embeds[b, length - len(row):] = row
        mask[b, length - len(row):] = 1
    return embeds, mask


def prompts(lengths=(12, 7, 12, 4)) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randn(n, 32, generator=gen) for n in lengths]


def run(llm, embeds, mask, **kwargs) -> list[list[int]]:
    """``decode_tokens`` after a plain prefill of the prompts (DamModel's own prefill is tested below)."""
    batch, length, _ = embeds.shape
    positions = positions_of(mask, batch, length, embeds.device)
    cache = StaticCache(config=llm.config, max_cache_len=length + 10)
    out = llm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True,
              logits_to_keep=1)
    steps = list(decode_tokens(llm, out.logits[:, -1], cache, mask, positions[:, -1:] + 1, 10,
                               kwargs.pop("temperature", 0.0), 0.9, EOS, **kwargs))
    return [trim_at_eos(row, {2}) for row in torch.stack(steps, 1).tolist()]


@torch.inference_mode()
def test_greedy_ids_equal_alone_whatever_the_prefill_and_eos_checks(llm) -> None:
    rows = prompts()
    alone = [run(llm, r[None], None)[0] for r in rows]
    embeds, mask = padded(rows)
    assert run(llm, embeds, mask) == alone
    assert run(llm, embeds, mask, eos_check_every=4) == alone
    assert run(llm, embeds, mask, cuda_graph=True) == alone  # no graph on a CPU: same loop


def test_batch_size_by_free_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    assert batching.pick_batch_size(16, 100, 10_000) == 16
    assert batching.pick_batch_size(16, 100, 1_000) == 8  # 8 fit in 800 bytes, 16 do not
    assert batching.pick_batch_size(12, 100, 1_000) == 8
    assert batching.pick_batch_size(16, 100, 300) == 2
    assert batching.pick_batch_size(16, 100, 10) == 1  # never 0
    full = synthetic_config(vision_width=1152, vision_layers=27, vision_heads=16, vision_mlp=4304, llm_width=2560,
                            llm_layers=32, llm_heads=20, llm_mlp=6912, vocab_size=32000)
    per_object = batching.object_bytes(full, 8, 128, torch.bfloat16)
    assert 0.5e9 < per_object < 1e9  # DAM-3B-Video, 8 frames: a 1,787-token KV cache is 0.59 GB in bfloat16
    gpu = SimpleNamespace(device=torch.device("cuda", 0), dtype=torch.bfloat16, config=full)
    monkeypatch.setattr(batching, "free_memory", lambda device: 4 * 2**30)
    assert batching.fitting_batch_size(gpu, 16, 8, 128) == 4
    monkeypatch.setattr(batching, "free_memory", lambda device: 120 * 2**30)
    assert batching.fitting_batch_size(gpu, 16, 8, 128) == 16
    cpu = SimpleNamespace(device=torch.device("cpu"), dtype=torch.float32, config=full)
    monkeypatch.undo()
    assert batching.fitting_batch_size(cpu, 16, 8, 128) == 16


def test_vision_chunks_stay_small_on_cpu() -> None:
    def model(size: dict, device: str = "cpu") -> SimpleNamespace:
        return SimpleNamespace(device=torch.device(device), dtype=torch.float32, vision_batch_size=32,
                               config=synthetic_config(**size))

    medium = dict(vision_width=192, vision_layers=4, vision_heads=4, vision_mlp=768, llm_width=512, llm_layers=8,
                  llm_heads=8, llm_mlp=1376, vocab_size=32000)
    full = dict(medium, vision_width=1152, vision_mlp=4304, vision_heads=16)
    assert batching.vision_chunk(model(medium)) == 3  # 729 tokens x 768 x 4 bytes = 2.2 MB a frame
    assert batching.vision_chunk(model(full)) == 1  # 12.5 MB a frame: one at a time
    assert batching.vision_chunk(model(full, "cuda")) == 32  # a GPU takes the batch as set


@torch.inference_mode()
def test_dam_prefill_by_rows_goes_through_forward_and_equals_the_batch(dam_fixtures_dir) -> None:
    """DamModel.prefill one prompt at a time (the CPU default) is the batched prefill: logits, mask, cache."""
    import numpy as np

    from videocap.dam import DamModel

    model = DamModel.from_pretrained(dam_fixtures_dir / "tiny-video", device="cpu", dtype=torch.float32)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    masks = [np.pad(np.ones((20, 24), np.uint8), ((10, 18), (20, 20))) for _ in range(3)]
    prepared = model.prepare([DamInput(frames[:1], masks[:1]), DamInput(frames, masks), DamInput(frames[:2], masks[:2])])
    whole, whole_cache = model.prefill(prepared, 4)
    by_rows, cache = model.prefill(prepared, 4, rows=1)
    scale = whole.logits.abs().max()
    torch.testing.assert_close(by_rows.logits, whole.logits, atol=1e-5 * scale, rtol=0)
    assert torch.equal(by_rows.attention_mask, whole.attention_mask)
    assert torch.equal(by_rows.position_ids, whole.position_ids)
    length = whole.attention_mask.shape[1]
    real = whole.attention_mask.bool()[:, None, :, None]
    for a, b in zip(cache.layers, whole_cache.layers):
        assert int(a.cumulative_length) == int(b.cumulative_length) == length
        torch.testing.assert_close(a.keys[..., :length, :] * real, b.keys[..., :length, :] * real, atol=1e-4, rtol=1e-4)
    model.prefill_rows = 1
    items = [DamInput(frames[:1], masks[:1]), DamInput(frames, masks)]
    greedy = model.generate_batch_ids(items, 6)
    model.prefill_rows = 8
    assert model.generate_batch_ids(items, 6) == greedy


@torch.inference_mode()
def test_a_seed_per_row_samples_each_row_as_alone(dam_fixtures_dir) -> None:
    """Sampling with one seed per object gives each object the text it gets alone, whatever its batch."""
    import numpy as np

    from videocap.dam import DamModel

    model = DamModel.from_pretrained(dam_fixtures_dir / "tiny-video", device="cpu", dtype=torch.float32)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(3)]
    masks = [np.pad(np.ones((20, 24), np.uint8), ((10, 18), (20, 20))) for _ in range(3)]
    items = [DamInput(frames[:1], masks[:1]), DamInput(frames, masks), DamInput(frames[:2], masks[:2]), DamInput(frames, masks)]
    seeds = [11, 5, 11, 99]
    alone = [model.generate_ids(item.frames, item.masks, max_new_tokens=8, temperature=1.0, top_p=0.9, seed=s)
             for item, s in zip(items, seeds)]
    assert model.generate_batch_ids(items, 8, temperature=1.0, top_p=0.9, seed=seeds) == alone
    flipped = model.generate_batch_ids(items[::-1], 8, temperature=1.0, top_p=0.9, seed=seeds[::-1])
    assert flipped[::-1] == alone
