"""SAM 3 tracking speed and memory, streamed frame by frame as videocap does, on random weights.

For each size it streams a generated 640x360 clip through ``videocap.segment.sam3.Sam3Tracker`` and reports
frames per second (after a warm-up of 3 frames), the process's resident memory after 10%, 50% and
100% of the frames (flat = bounded; compare ``--no-prune``, transformers' own session, which keeps every
frame) and its peak, the GPU's peak memory when on CUDA, and the objects tracked. Random weights
find random objects; ``--objects`` caps them so that what grows with the clip's length shows.

    python benchmarks/sam3_bench.py                        # tiny and medium on CPU
    python benchmarks/sam3_bench.py --size tiny --frames 600 --no-prune
    python benchmarks/sam3_bench.py --full --device cuda   # SAM 3's real size (random weights), a GPU
    python benchmarks/sam3_bench.py --full --sam3 ~/models/sam3 --device cuda   # the real checkpoint

The anchor: Meta reports about 30 ms per image with 100+ objects for SAM 3 on an H200.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from videocap.io.video import Frame
from videocap.segment import sam3
from videocap.segment.sam3 import Sam3Tracker
from videocap.synthetic import make_clip
from videocap.testing.sam3_random import save_random_sam3


def rss_mb() -> tuple[float, float]:
    """(resident, peak resident) memory of this process in MiB (Linux)."""
    status = Path("/proc/self/status").read_text()
    field = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if line.startswith("Vm")}
    return int(field["VmRSS"]) / 1024, int(field["VmHWM"]) / 1024


def full_checkpoint(folder: Path, max_objects: int) -> Path:
    """SAM 3 at its real size (transformers' default configuration) with random weights."""
    from transformers import Sam3VideoConfig, Sam3VideoModel, Sam3VideoProcessor

    save_random_sam3(folder, "tiny")  # the processor and tokenizer files; the model is replaced below
    config = Sam3VideoConfig(score_threshold_detection=0.2, new_det_thresh=0.2, max_num_objects=max_objects)
    Sam3VideoModel(config).save_pretrained(folder)
    processor = Sam3VideoProcessor.from_pretrained(folder)
    for part in (processor.image_processor, processor.video_processor):
        part.size = {"height": 1008, "width": 1008}
    processor.image_processor.mask_size = {"height": 288, "width": 288}
    processor.target_size = 1008
    processor.save_pretrained(folder)
    return folder


def bench(checkpoint: Path, frames: int, device: str, prompts: list[str]) -> dict:
    clip = make_clip(7, num_frames=frames, size=(640, 360), num_objects=3)
    tracker = Sam3Tracker(checkpoint, prompts, device=device)
    tracker.reset()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    marks, objects, started = {}, 0, None
    for index, image in enumerate(clip.frames):
        if index == 3:
            started = time.perf_counter()
        objects = max(objects, len(tracker.update(Frame(index, index / clip.fps, image))))
        done = index + 1
        if done in (frames // 10, frames // 2, frames):
            marks[done] = rss_mb()[0]
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - started
    result = {"fps": (frames - 3) / elapsed, "rss": marks, "peak_rss": rss_mb()[1], "objects": objects,
              "tracked_ids": tracker.session.max_obj_id + 1}
    if device.startswith("cuda"):
        result["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "medium"), action="append")
    parser.add_argument("--full", action="store_true", help="SAM 3's real size (use a GPU)")
    parser.add_argument("--sam3", type=Path, help="a real SAM 3 checkpoint folder instead of random weights")
    parser.add_argument("--frames", type=int, default=None, help="frames streamed [tiny 300, medium 40, full 200]")
    parser.add_argument("--objects", type=int, default=8, help="most objects tracked at once (random weights)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--prompt", action="append", help="text prompt (repeatable) [circle]")
    parser.add_argument("--no-prune", action="store_true", help="keep transformers' whole session (unbounded)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.no_prune:
        sam3.forget_old_state = lambda *_: None
    sizes = ["full"] if args.full else (args.size or ["tiny", "medium"])
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, device {args.device}{', no pruning' if args.no_prune else ''}")
    for size in sizes:
        frames = args.frames or {"tiny": 300, "medium": 40, "full": 200}[size]
        with tempfile.TemporaryDirectory() as tmp:
            if args.sam3:
                checkpoint = args.sam3
            elif size == "full":
                checkpoint = full_checkpoint(Path(tmp) / "sam3-full", args.objects)
            else:
                checkpoint = save_random_sam3(Path(tmp) / f"sam3-{size}", size, max_objects=args.objects)
            r = bench(checkpoint, frames, args.device, args.prompt or ["circle"])
        rss = ", ".join(f"{n}: {mb:.0f}" for n, mb in r["rss"].items())
        gpu = f", GPU peak {r['gpu_peak_mb']:.0f} MiB" if "gpu_peak_mb" in r else ""
        print(f"{size:>6}: {frames} frames, {r['fps']:.2f} frames/s, up to {r['objects']} objects per frame "
              f"({r['tracked_ids']} ids in all); RSS MiB after frame {rss}; peak {r['peak_rss']:.0f} MiB{gpu}")


if __name__ == "__main__":
    main()
