"""One device run (under 8 minutes on an H200), one side-by-side table: videocap against its yardsticks.

1. DAM at DAM-3B-Video's size (random bfloat16 weights; 8 frames of 1280x720, 128 new tokens forced):
   videocap at batch 1 and 16, per object, and NVIDIA's reference (``.anchors/dam-reference/ref_bench.py``,
   run in its own process with transformers 4 from ``.anchors/refwhl``), on the same object.
2. The track stage against ultralytics' own ``model.track`` loop, ``yolo11x-seg.yaml`` (random weights) on
   a 1280x720 clip.
3. End-to-end ``caption_video`` of a 60 s 720p generated clip with 10 objects (the demo models: a full-size
   checkpoint is not at hand offline), and the measured copy bandwidth.

    scripts/prepare_device.sh                            # once, here: wheels and the reference into .anchors/
    python benchmarks/gpu_check.py                       # on the device (see scripts/prepare_device.sh)
    python benchmarks/gpu_check.py --cpu-tiny            # the same code at tiny sizes on a CPU (about a minute)

Targets (issue 11): DAM <= 0.35 s per object at batch 1 (decode <= 2.7 ms/token) and <= 0.1 s at 16;
track stage >= 1.3x ultralytics' loop on a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

import dam_bench  # noqa: E402
import torch  # noqa: E402
import track_bench  # noqa: E402

from videocap.io.encode import H264Writer, ffmpeg_exe  # noqa: E402
from videocap.resources import DEMO_DAM, DEMO_YOLO, SAMPLE_VIDEO  # noqa: E402

ANCHORS = REPO / ".anchors"
ROWS: list[tuple[str, str, str]] = []  # (what, value, note)


def row(what: str, value: str, note: str = "") -> None:
    ROWS.append((what, value, note))
    print(f"  {what}: {value} {note}", flush=True)


def dam_section(tiny: bool) -> float | None:
    """videocap's DAM per object at batch 1 and 16 (4 when tiny); returns the batch-1 seconds per object."""
    from videocap.dam import DamModel
    from videocap.dam.config import synthetic_config

    size, frames, (width, height) = ("tiny", 2, (320, 180)) if tiny else ("full", 8, (1280, 720))
    tokens = 16 if tiny else 128
    torch.manual_seed(0)
    model = DamModel.from_config(synthetic_config(**dam_bench.SIZES[size]), dam_bench.make_tokenizer(),
                                 dtype=None if tiny else torch.bfloat16)
    dam_bench.run(model, dam_bench.make_items(1, frames, height, width), 4)  # warm-up
    first = None
    for batch in (1, 4 if tiny else 16):
        r = dam_bench.run(model, dam_bench.make_items(batch, frames, height, width), tokens)
        per = r["prep"] / batch + r["vision"] / batch + r["prefill"] / batch + r["token"] / batch * (tokens - 1)
        first = first or per
        row(f"videocap DAM {size}, batch {batch}", f"{per:.3f} s/object",
            f"(prep {r['prep'] / batch * 1e3:.0f} ms, vision {r['vision'] / batch * 1e3:.0f} ms, prefill "
            f"{r['prefill'] / batch * 1e3:.0f} ms, step {r['token'] * 1e3:.2f} ms, prompt {r['prompt_len']}, "
            f"{model.dtype}, {dam_bench.machine(model.device)})")
    del model
    return first


def reference_section(tiny: bool, ours: float | None) -> None:
    bench = ANCHORS / "dam-reference" / "ref_bench.py"
    site = Path(tempfile.gettempdir()) / "refsite"
    if not bench.exists():
        row("NVIDIA reference DAM", "not run", f"({bench} missing: run scripts/prepare_device.sh)")
        return
    wheels = sorted((ANCHORS / "refwhl").glob("*.whl"))
    if wheels and not site.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                        str(site), *map(str, wheels)], check=False)
    out = Path(tempfile.mkdtemp()) / "ref_bench.json"
    env = dict(os.environ, PYTHONPATH=f"{site}{os.pathsep}{bench.parent / 'refsrc'}", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(bench), "--json", str(out)] + (["--tiny"] if tiny else ["--budget-s", "150"])
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    if not out.exists():
        row("NVIDIA reference DAM", "failed", (proc.stderr or proc.stdout).strip().splitlines()[-1:])
        return
    s = json.loads(out.read_text())["summary"]
    total = s.get("caption_total_s")
    row("NVIDIA reference DAM, batch 1", f"{total:.3f} s/object" if total else "n/a",
        f"(prep {s.get('preprocess_ms') or 0:.0f} ms, vision {s.get('vision_ctx_proj_ms') or 0:.0f} ms, prefill "
        f"{s.get('llm_prefill_ms') or 0:.0f} ms, {s.get('decode_ms_per_token') or 0:.2f} ms/token)")
    if total and ours:
        row("ratio reference / videocap at batch 1", f"{total / ours:.2f}x")


def track_section(tiny: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if tiny:
            video, model, classes, imgsz = SAMPLE_VIDEO, str(DEMO_YOLO), ["circle", "square", "triangle", "star"], 256
        else:
            video = Path(tmp) / "clip720.mp4"
            subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-stream_loop", "2", "-i", str(SAMPLE_VIDEO),
                            "-vf", "scale=1280:720", "-c:v", "libx264", "-preset", "ultrafast", str(video)], check=True)
            model, classes, imgsz = "yolo11x-seg.yaml", ["person"], 640
        theirs = track_bench.ultralytics_loop(video, model, classes, imgsz, 0.1)
        ours = track_bench.videocap_loop(video, model, classes, imgsz, 0.1)
        theirs = max(theirs, track_bench.ultralytics_loop(video, model, classes, imgsz, 0.1))
        ours = max(ours, track_bench.videocap_loop(video, model, classes, imgsz, 0.1))
        row(f"track stage, {Path(model).name} at {imgsz}", f"{ours[0]:.1f} frames/s",
            f"(ultralytics' loop {theirs[0]:.1f} frames/s: ratio {ours[0] / theirs[0]:.2f}x)")


def end_to_end_section(tiny: bool) -> None:
    from videocap.pipeline import caption_video
    from videocap.settings import CaptionSettings, TrackSettings
    from videocap.synthetic import make_clip

    seconds, size = (4, (320, 240)) if tiny else (60, (1280, 720))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        clip = make_clip(7, num_frames=int(seconds * 25), size=size, num_objects=10)
        with H264Writer(path, clip.fps, clip.size, crf=23) as writer:
            for frame in clip.frames:
                writer.write(frame)
        del clip
        track = TrackSettings(classes=("circle", "square", "triangle", "star"), segmenter_model=str(DEMO_YOLO), imgsz=256)
        settings = CaptionSettings(dam=str(DEMO_DAM), temperature=0.0, max_new_tokens=96)
        start = time.perf_counter()
        # No burnt-in video: its fonts (noto-cjk-sans-otc) are not on the device.
        result = caption_video(path, track, settings, Path(tmp) / "out", progress=False, use_cache=False,
                               render=False)
        took = time.perf_counter() - start
        row(f"end to end caption, {seconds} s {size[0]}x{size[1]}, demo models, no render", f"{took:.1f} s",
            f"({len(result.tracks)} tracks, {result.caption_count} captions, timing {result.timing})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-tiny", action="store_true", help="tiny sizes on the CPU: tests the code path")
    parser.add_argument("--skip", action="append", default=[], choices=["dam", "reference", "track", "e2e"])
    args = parser.parse_args()
    tiny = args.cpu_tiny
    if tiny:
        torch.set_num_threads(1)  # a shared CPU: more threads than free cores only adds noise
    device = torch.device("cpu" if tiny or not torch.cuda.is_available() else "cuda")
    print(f"gpu_check on {dam_bench.machine(device)}", flush=True)
    ours = None if "dam" in args.skip else dam_section(tiny)
    if "reference" not in args.skip:
        reference_section(tiny, ours)
    if "track" not in args.skip:
        track_section(tiny)
    if "e2e" not in args.skip:
        end_to_end_section(tiny)
    if device.type == "cuda":
        row("copy bandwidth (read + write)", f"{dam_bench.copy_bandwidth(device) / 1e12:.2f} TB/s")
    width = max(len(w) for w, _, _ in ROWS)
    print("\n" + "\n".join(f"{w:<{width}}  {v:>16}  {n}" for w, v, n in ROWS))


if __name__ == "__main__":
    main()
