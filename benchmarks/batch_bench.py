"""Videos per hour for a folder of short clips: `videocap caption` once per video, against `videocap batch`
on the local engine and on Ray (started on this machine), with the bundled demo models.

Each way runs as its own process(es), as a user would run it, with a fresh tracking cache, so that every
video is tracked and captioned; the wall time includes starting Python, loading the models (once per
`caption` process, once per batch worker or actor) and, for Ray, starting Ray.

    python benchmarks/batch_bench.py                     # 8 clips of 48 frames, 320x240, no MP4/MKV
    python benchmarks/batch_bench.py --clips 16 --frames 100 --render --jobs 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from videocap.io.encode import H264Writer  # noqa: E402
from videocap.synthetic import SHAPES, make_clip  # noqa: E402


def make_clips(folder: Path, count: int, frames: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(count):
        clip = make_clip(seed, num_frames=frames, num_objects=2)
        path = folder / f"clip{seed:02d}.mp4"
        with H264Writer(path, clip.fps, clip.size, crf=20) as writer:
            for frame in clip.frames:
                writer.write(frame)
        paths.append(path)
    return paths


def videocap(args: list[str], cache: Path) -> None:
    env = {**os.environ, "VIDEOCAP_CACHE_DIR": str(cache), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "videocap", *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"videocap {' '.join(args[:2])} failed: {proc.stderr.strip().splitlines()[-3:]}")


def timed(run) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=48, help="frames per clip (25 fps)")
    parser.add_argument("--render", action="store_true", help="also write the captioned MP4 and MKV")
    parser.add_argument("--jobs", type=int, default=1, help="local batch workers")
    parser.add_argument("--skip-ray", action="store_true")
    args = parser.parse_args()
    common = ["--demo", "--quiet", *(["--no-video"] if not args.render else [])]
    common += [a for shape in SHAPES for a in ("--class", shape)]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = make_clips(tmp / "clips", args.clips, args.frames)
        print(f"{len(clips)} clips of {args.frames} frames (320x240, 2 objects each); {os.cpu_count()} CPUs; "
              f"{'with' if args.render else 'without'} MP4/MKV")
        ways = {
            "caption, one process per video": lambda: [
                videocap(["caption", str(c), "--out", str(tmp / "single" / c.stem), *common], tmp / "cache1")
                for c in clips],
            f"batch --engine local --jobs {args.jobs}": lambda: videocap(
                ["batch", str(tmp / "clips"), "--out", str(tmp / "local"), "--jobs", str(args.jobs), *common],
                tmp / "cache2"),
        }
        if not args.skip_ray:
            ways["batch --engine ray (local Ray)"] = lambda: videocap(
                ["batch", str(tmp / "clips"), "--out", str(tmp / "ray"), "--engine", "ray", *common], tmp / "cache3")
        for name, run in ways.items():
            seconds = timed(run)
            print(f"{name:<34} {seconds:7.1f} s  {3600 * len(clips) / seconds:7.0f} videos/hour", flush=True)


if __name__ == "__main__":
    main()
