"""How truthfully the demo captioner describes generated videos it never saw.

For held-out clips (seeds 500_000+, disjoint from training 2_000_000+), every object visible in at least
8 frames is captioned from 8 keyframes with its ground-truth masks (greedy decoding). Reported:

- colour, shape and motion accuracy: the caption's first sentence names the object's own colour, shape,
  and motion (left/right/up/down combination, or still);
- mask swap: in clips with several objects (same frames, one caption per mask), the share of objects
  whose caption names their own colour and shape, not a neighbour's;
- BLEU-4, ROUGE-L, CIDEr (METEOR with Java) of the captions against the clips' generated true captions;
- the same with the mask channel blanked (zeros in the mask planes of both views; the focal crop is
  still taken around the object), to show how much the model relies on the mask.

    python benchmarks/demo_eval.py                       # videocap/data/models/shapes-dam, 150 clips
    python benchmarks/demo_eval.py --dam runs/shapes-dam --clips 60
    python benchmarks/demo_eval.py --dtype bfloat16 --clips 20  # also: how many captions change from float32
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from videocap.dam.records import DamInput

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from videocap.dam import DamModel  # noqa: E402
from videocap.dam.shapes_data import clip_examples  # noqa: E402
from videocap.evaluate.caption_metrics import CaptionPair, caption_scores  # noqa: E402
from videocap.synthetic import caption_words  # noqa: E402

EVAL_SEED_BASE = 500_000


def caption_all(model: DamModel, examples, batch_size: int, blank_mask: bool) -> list[str]:
    prepare = model.prepare
    if blank_mask:
        def prepare_blank(items):
            prepared = prepare(items)
            prepared.pixels[:, 3] = 0  # full-view mask plane
            prepared.pixels[:, 7] = 0  # focal-view mask plane
            return prepared
        model.prepare = prepare_blank
    try:
        return model.describe_batch([DamInput(e.frames, e.masks) for e in examples], max_new_tokens=48, temperature=0.0,
                                    batch_size=batch_size)
    finally:
        model.prepare = prepare


def score(examples, captions) -> dict[str, float]:
    right = {"colour": 0, "shape": 0, "motion": 0, "all three": 0}
    swap_total = swap_right = 0
    by_clip: dict[int, int] = {}
    for e in examples:
        by_clip[e.attributes["seed"]] = by_clip.get(e.attributes["seed"], 0) + 1
    for e, caption in zip(examples, captions):
        colour, shape, motion = caption_words(caption)
        truth = e.attributes["truth"]
        hits = (colour == truth[0], shape == truth[1], motion == truth[2])
        for key, hit in zip(("colour", "shape", "motion"), hits):
            right[key] += hit
        right["all three"] += all(hits)
        if by_clip[e.attributes["seed"]] > 1:
            swap_total += 1
            swap_right += hits[0] and hits[1]
    n = len(examples)
    result = {key: value / n for key, value in right.items()}
    result["mask swap"] = swap_right / swap_total if swap_total else float("nan")
    return result


def compare_dtypes(model: DamModel, reference: DamModel, examples, batch_size: int) -> None:
    """CPU seconds per object of ``model`` and of the float32 ``reference``, and how many captions differ."""
    texts, seconds = {}, {}
    for name, m in (("float32", reference), (str(model.dtype).removeprefix("torch."), model)):
        start = time.process_time()
        texts[name] = caption_all(m, examples, batch_size, False)
        seconds[name] = (time.process_time() - start) / len(examples)
    (a, ta), (b, tb) = texts.items()
    changed = sum(x != y for x, y in zip(ta, tb))
    print(f"{a} {seconds[a] * 1e3:.0f} ms/object, {b} {seconds[b] * 1e3:.0f} ms/object (CPU time, "
          f"{torch.get_num_threads()} threads): {changed} of {len(examples)} captions differ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dam", default=str(REPO / "videocap" / "data" / "models" / "shapes-dam"))
    parser.add_argument("--clips", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--show", type=int, default=5, help="print this many example captions")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                        help="bfloat16: also caption in float32, and count the captions that differ")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = DamModel.from_pretrained(args.dam, device="cpu", prompt_style="dam-3b-video", dtype=getattr(torch, args.dtype))
    examples = [e for seed in range(EVAL_SEED_BASE, EVAL_SEED_BASE + args.clips)
                for e in clip_examples(seed, max_objects=4)]
    if args.dtype != "float32":
        compare_dtypes(model, DamModel.from_pretrained(args.dam, device="cpu", prompt_style="dam-3b-video"),
                       examples, args.batch_size)
    multi = sum(1 for e in examples if sum(x.attributes["seed"] == e.attributes["seed"] for x in examples) > 1)
    print(f"{len(examples)} objects in {args.clips} held-out clips ({multi} share their clip with others); "
          f"model {args.dam}")
    for blank in (False, True):
        start = time.perf_counter()
        captions = caption_all(model, examples, args.batch_size, blank)
        seconds = time.perf_counter() - start
        result = score(examples, captions)
        label = "mask channel blanked" if blank else "with masks"
        print(f"{label:>21}: " + ", ".join(f"{k} {v:6.1%}" for k, v in result.items())
              + f"  ({seconds / len(examples) * 1000:.0f} ms/object)")
        pairs = [CaptionPair(str(n), caption, [e.caption]) for n, (e, caption) in enumerate(zip(examples, captions))]
        for line in caption_scores(pairs).lines():
            print(f"{'':>23}{line}")
        if not blank:
            for e, caption in list(zip(examples, captions))[:args.show]:
                print(f"    truth {' '.join(e.attributes['truth'])!r:40} -> {caption!r}")


if __name__ == "__main__":
    main()
