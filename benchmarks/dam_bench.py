"""DAM inference speed, per object of 8 frames, on random weights (no checkpoint needed).

For each model size it times the stages of one call: preprocessing (CPU), vision (tower, context
provider, projector), prefill, decoding (ms per new token) and the total for 128 new tokens, at batch 1
and with N objects batched. On a GPU it also reports the peak memory and the fraction of the memory
bandwidth reached while decoding (bytes of weights and KV cache read per step over the step's time).

    python benchmarks/dam_bench.py                       # tiny and medium
    python benchmarks/dam_bench.py --size full --batch 16  # DAM-3B-Video's size (GPU)
    python benchmarks/dam_bench.py --threads 1           # CPU, one thread
    python benchmarks/dam_bench.py --threads 1 --clock cpu  # CPU time: fair on a machine others share
    python benchmarks/dam_bench.py --prefill-rows 0      # the whole batch in one prefill (CPU default: 1)

NVIDIA's reference on an H200 at the full size (fp16, 8 frames of 1280x720, 128 new tokens, batch 1):
3.44 s per object: preprocessing 419 ms, vision 110 ms, prefill 40 ms, 20-23 ms per token.
"""

from __future__ import annotations

import argparse
import io
import platform
import time
from collections.abc import Callable

import numpy as np
import sentencepiece as spm
import torch

from videocap.dam import DamModel, batching
from videocap.dam.config import synthetic_config
from videocap.dam.prompt import JOINT_VIDEO_QUESTION, SYSTEM, make_query
from videocap.dam.records import DamInput
from videocap.dam.tokenizer import DamTokenizer

SIZES = {  # vision width/layers/heads/mlp, LLM width/layers/heads/mlp, vocab
    "tiny": {"vision_width": 32, "vision_layers": 3, "vision_heads": 4, "vision_mlp": 64,
             "llm_width": 64, "llm_layers": 2, "llm_heads": 4, "llm_mlp": 128, "vocab_size": 512},
    "medium": {"vision_width": 192, "vision_layers": 4, "vision_heads": 4, "vision_mlp": 768,
               "llm_width": 512, "llm_layers": 8, "llm_heads": 8, "llm_mlp": 1376, "vocab_size": 32000},
    "full": {"vision_width": 1152, "vision_layers": 27, "vision_heads": 16, "vision_mlp": 4304,  # DAM-3B-Video
             "llm_width": 2560, "llm_layers": 32, "llm_heads": 20, "llm_mlp": 6912, "vocab_size": 32000},
}
NOMINAL_BANDWIDTH = {"H200": 4.8e12, "H100 SXM": 3.35e12, "H100 PCIe": 2.0e12, "H100": 3.35e12,
                     "A100-SXM4-80GB": 2.04e12, "A100": 1.56e12, "L40S": 0.864e12, "A10": 0.6e12}


def make_tokenizer() -> DamTokenizer:
    """A small byte-fallback SentencePiece model trained on the prompts, in place of Llama's."""
    lines = [SYSTEM, make_query("dam-3b-video", 8), JOINT_VIDEO_QUESTION] * 20
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=400,
                                   model_type="bpe", byte_fallback=True, character_coverage=1.0,
                                   minloglevel=2)
    return DamTokenizer(buf.getvalue())


def make_items(n: int, frames: int, height: int, width: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """``n`` objects on the same ``frames`` random frames, each with its own moving box mask."""
    rng = np.random.default_rng(0)
    video = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8) for _ in range(frames)]
    items = []
    for k in range(n):
        masks = []
        for f in range(frames):
            mask = np.zeros((height, width), dtype=np.uint8)
            y, x = (37 * k) % (height // 2), (53 * k + 20 * f) % (width // 2)
            mask[y:y + height // 4, x:x + width // 5] = 1
            masks.append(mask)
        items.append(DamInput(video, masks))
    return items


CLOCK = time.perf_counter  # --clock cpu: time.process_time (this process's CPU seconds, all threads)


def timed(fn: Callable[[], object], device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = CLOCK()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, CLOCK() - start


@torch.inference_mode()
def run(model: DamModel, items: list, new_tokens: int) -> dict[str, float]:
    """Seconds per stage of one batched call, and the prompt length."""
    device = model.device
    prepared, t_prep = timed(lambda: model.prepare(items), device)
    _, t_vision = timed(lambda: model.encode_images(prepared.pixels), device)  # also inside the prefill below
    def first_token():  # what describe runs: vision, splice, prefill, then the first token
        steps = model.decode_steps(prepared, new_tokens, 0.0, 1.0, None, stop_at_eos=False)
        next(steps)
        return steps

    steps, t_prefill = timed(first_token, device)
    _, t_decode = timed(lambda: sum(1 for _ in steps), device)
    prompt_len = max(model.sequence_length(ids) for ids in prepared.ids)
    return {"prep": t_prep, "vision": t_vision, "prefill": t_prefill,
            "token": t_decode / max(new_tokens - 1, 1), "prompt_len": prompt_len}


def decode_bytes(model: DamModel, batch: int, context: int) -> int:
    """Bytes read per decoding step: every weight but the embedding table, plus the KV cache."""
    llm, cfg = model.llm, model.config.llm
    weights = sum(p.numel() * p.element_size() for n, p in llm.named_parameters() if "embed_tokens" not in n)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    kv = 2 * cfg.num_hidden_layers * batch * context * cfg.num_key_value_heads * head_dim
    return weights + kv * llm.lm_head.weight.element_size()


def copy_bandwidth(device: torch.device) -> float:
    """Measured device memory bandwidth (bytes/s) of a large copy: read + write."""
    x = torch.empty(512 * 2**20, dtype=torch.uint8, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    _, t = timed(lambda: [y.copy_(x) for _ in range(10)], device)
    return 2 * x.numel() * 10 / t


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), action="append",
                        help="model size, repeatable (default: tiny and medium; full is DAM-3B-Video's)")
    parser.add_argument("--batch", type=int, default=8, help="objects batched in the second run (default 8)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: count this process's CPU time (with --threads 1, the wall time of an idle machine)")
    parser.add_argument("--prefill-rows", type=int, default=None,
                        help="prompts prefilled together (0: the whole batch; default: 1 on CPU, all on GPU)")
    parser.add_argument("--vision-batch", type=int, default=None,
                        help="frames per vision forward, without the CPU cap (default: 32, capped on CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    tokenizer = make_tokenizer()
    for size in args.size or ["tiny", "medium"]:
        torch.manual_seed(0)
        config = synthetic_config(**SIZES[size])
        model = DamModel.from_config(config, tokenizer, device=args.device,
                                     dtype=getattr(torch, args.dtype) if args.dtype else None)
        if args.prefill_rows is not None:
            model.prefill_rows = args.prefill_rows or 10**6
        if args.vision_batch:  # as asked, without the CPU's cap (batching.vision_chunk): for comparisons
            model.vision_batch_size = args.vision_batch
            batching.CPU_BLOCK_BYTES = 2**62
        device = model.device
        params = sum(p.numel() for p in model.parameters()) / 1e6
        print(f"\n== {size}: {params:.1f} M parameters, {model.dtype}, {machine(device)}")
        print(f"   {args.frames} frames of {args.width}x{args.height} per object, {args.new_tokens} new tokens, greedy; "
              f"{args.clock} clock; prefill {model.decode_options()['prefill_rows'] or 'all'} row(s) at a time")
        run(model, make_items(1, args.frames, args.height, args.width), 4)  # warm-up
        header = f"{'batch':>5} {'prompt':>6} {'prep ms':>8} {'vision ms':>9} {'prefill ms':>10} " \
                 f"{'ms/token':>8} {'step ms':>7} {'total s':>7}"
        print(header + ("  decode bandwidth" if device.type == "cuda" else ""))
        for batch in dict.fromkeys([1, args.batch]):
            items = make_items(batch, args.frames, args.height, args.width)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            r = run(model, items, args.new_tokens)
            per = {k: v / batch for k, v in r.items() if k != "prompt_len"}
            total = per["prep"] + per["vision"] + per["prefill"] + per["token"] * (args.new_tokens - 1)
            line = (f"{batch:>5} {r['prompt_len']:>6} {per['prep'] * 1e3:>8.1f} {per['vision'] * 1e3:>9.1f} "
                    f"{per['prefill'] * 1e3:>10.1f} {per['token'] * 1e3:>8.2f} {r['token'] * 1e3:>7.2f} {total:>7.3f}")
            if device.type == "cuda":
                read = decode_bytes(model, batch, r["prompt_len"] + args.new_tokens // 2) / r["token"]
                nominal = next((v for k, v in NOMINAL_BANDWIDTH.items() if k in torch.cuda.get_device_name(device)),
                               None)
                line += f"  {read / 1e12:.2f} TB/s = {read / copy_bandwidth(device):.0%} of copy bandwidth"
                line += f" ({read / nominal:.0%} of nominal)" if nominal else ""
                line += f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.1f} GiB"
            print(line)
        print("   (per object: stage time / batch; 'step ms' is one decoding step of the whole batch)")
        del model


if __name__ == "__main__":
    main()
