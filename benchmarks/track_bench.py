"""Speed and memory of videocap's track stage.

1. Frames per second of ``videocap.pipeline.track_video`` against ultralytics' own loop
   (``model.track(source=video, stream=True, tracker=bytetrack.yaml)``) on the same video, model,
   image size and classes, measured in one run, alternating the two, best of ``--repeats``.
2. Peak RSS of ``videocap track`` on a long 720p clip against a 1-minute one (both made with
   ffmpeg from the sample), to show that memory stays flat with video length.

    python benchmarks/track_bench.py                      # speed on the sample + memory, 10 min vs 1 min
    python benchmarks/track_bench.py --video clip.mp4 --model yolo11n-seg.pt --class person
    python benchmarks/track_bench.py --skip-memory
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

from videocap.io.encode import ffmpeg_exe  # noqa: E402
from videocap.io.video import probe  # noqa: E402
from videocap.pipeline import track_video
from videocap.resources import BYTETRACK_CONFIG  # noqa: E402
from videocap.segment.tracking import make_tracker  # noqa: E402
from videocap.segment.yolo import load_yolo
from videocap.settings import TrackSettings  # noqa: E402
from videocap.testing.yolo_loop import YoloTracker  # noqa: E402

SAMPLE = REPO / "samples" / "shapes.mp4"
SAMPLE_MODEL = REPO / "videocap" / "data" / "models" / "shapes-yolo11n-seg.pt"


def ultralytics_loop(video: Path, model: str, classes: list[str], imgsz: int, conf: float,
                     device: str | None = None) -> tuple[float, float]:
    """Frames per second of ultralytics' own video loop (its loader, its tracker handling): (wall, CPU)."""
    yolo = load_yolo(model)
    ids = [i for i, name in yolo.names.items() if name in classes]
    frames = 0
    start, cpu = time.perf_counter(), time.process_time()
    for _ in yolo.track(source=str(video), stream=True, tracker=str(BYTETRACK_CONFIG), classes=ids, imgsz=imgsz,
                        conf=conf, retina_masks=True, verbose=False, device=device):
        frames += 1
    return frames / (time.perf_counter() - start), frames / (time.process_time() - cpu)


def videocap_loop(video: Path, model: str, classes: list[str], imgsz: int, conf: float,
                  device: str | None = None) -> tuple[float, float]:
    """Frames per second of ``track_video`` with the tracker videocap makes by default: (wall, CPU)."""
    settings = TrackSettings(classes=tuple(classes), segmenter_model=model, imgsz=imgsz, conf=conf, device=device)
    tracker = make_tracker(settings)
    start, cpu = time.perf_counter(), time.process_time()
    result = track_video(video, settings, tracker, progress=False)
    frames = len(result.frame_range)
    return frames / (time.perf_counter() - start), frames / (time.process_time() - cpu)


def make_clip(minutes: float, out: Path, size: str = "1280x720") -> Path:
    """A clip of the given length and size (720p by default): the sample, scaled and looped (ffmpeg, fast preset)."""
    if not out.exists():
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1",
                        "-i", str(SAMPLE), "-t", str(minutes * 60), "-vf", f"scale={size.replace('x', ':')}", "-c:v", "libx264",
                        "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


PEAK_RSS_CODE = """
import sys
from videocap.cli import main
code = main(sys.argv[1:])
# VmHWM of this process alone (ru_maxrss would also count the benchmark's pages shared before exec).
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(f"peak_kb={peak}", file=sys.stderr)
sys.exit(code)
"""


# What grows with a video's length, without decoding or YOLO: a TrackBuilder fed synthetic 720p
# detections (6 moving discs a frame, masks as compressed as real ones), then tracks.json written as
# pipeline.write_tracks writes it. Minutes of video in, peak RSS out.
TRACKS_ONLY_CODE = """
import inspect, sys, zlib
import numpy as np
from videocap.segment.detections import Detections
from videocap.io.files import write_json
from videocap.masks import BoxMask
from videocap.pipeline import _kept
from videocap.results import FrameRange, TrackingResult, VideoInfo
from videocap.settings import TrackSettings
from videocap.segment.tracking import TrackBuilder

frames, objects, size = int(float(sys.argv[1]) * 60 * 25), 6, (1280, 720)
variants = []
for r in range(40, 60):
    yy, xx = np.ogrid[:2 * r, :2 * r]
    variants.append((2 * r, zlib.compress(np.packbits((yy - r + 0.5) ** 2 + (xx - r + 0.3) ** 2 < r * r).tobytes())))
builder = TrackBuilder()
for i in range(frames):
    masks, boxes = [], []
    for k in range(objects):
        side, bits = variants[(i + k) % len(variants)]
        x0, y0 = (100 + 180 * k + i) % 1100, (50 + 90 * k + i // 3) % 600
        masks.append(BoxMask(x0, y0, side, side, size, bytes(bytearray(bits))))
        boxes.append((x0, y0, x0 + side, y0 + side))
    builder.add(Detections(i, i / 25, np.array(boxes, np.float32), np.full(objects, 0.9, np.float32),
                           ("circle",) * objects, np.arange(1, objects + 1), tuple(masks)))
info = VideoInfo("synthetic.mp4", 25.0, frames, *size, frames / 25, False, "h264")
result = _kept(TrackingResult(info, TrackSettings(classes=("circle",)), FrameRange(0, frames), builder.tracks()))
lazy = {"lazy": True} if "lazy" in inspect.signature(result.to_json).parameters else {}
write_json(sys.argv[2], result.to_json(**lazy))
print(f"peak_kb={int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])}", file=sys.stderr)
"""


def tracks_only_rss_mb(minutes: float, out_json: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of building and writing the tracks of ``minutes`` of synthetic 720p video."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", TRACKS_ONLY_CODE, str(minutes), str(out_json)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"tracks-only run failed: {proc.stderr.strip().splitlines()[-3:]}")
    return int(proc.stderr.rsplit("peak_kb=", 1)[1].split()[0]) / 1024, time.perf_counter() - start


def peak_rss_mb(video: Path, model: str, classes: list[str], out_json: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one ``videocap track`` process."""
    cmd = [sys.executable, "-c", PEAK_RSS_CODE, "track", str(video), "--model", model, "--out", str(out_json)]
    for name in classes:
        cmd += ["--class", name]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"videocap track failed on {video}: {proc.stderr.strip().splitlines()[-1:]}")
    peak_kb = int(proc.stderr.rsplit("peak_kb=", 1)[1].split()[0])
    return peak_kb / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", type=Path, default=SAMPLE)
    parser.add_argument("--model", default=str(SAMPLE_MODEL))
    parser.add_argument("--class", dest="classes", action="append", default=None)
    parser.add_argument("--imgsz", type=int, default=None, help="default: the model's training size")
    parser.add_argument("--conf", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--device", default=None, help="e.g. cpu or 0 (default: ultralytics' choice)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--size", default="1280x720", help="frame size of the memory clips")
    parser.add_argument("--tracks-only", action="store_true",
                        help="memory of the tracks and tracks.json alone (synthetic 720p detections, no decoding "
                             "or YOLO): what grows with length, measured in seconds instead of an hour")
    args = parser.parse_args()
    classes = args.classes or ["circle", "square", "triangle", "star"]
    imgsz = None if args.tracks_only else args.imgsz or YoloTracker(args.model, classes).imgsz
    if args.tracks_only:
        with tempfile.TemporaryDirectory() as tmp:
            for minutes in (1.0, args.long_minutes):
                rss, seconds = tracks_only_rss_mb(minutes, Path(tmp) / "t.json")
                print(f"peak RSS, tracks of {minutes:g} minutes of 720p (6 objects a frame, no model): "
                      f"{rss:7.0f} MB ({seconds:.0f} s)", flush=True)
        return
    if not args.skip_speed:
        speed(args, classes, imgsz)
    if args.skip_memory:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (1.0, args.long_minutes):
            clip = make_clip(minutes, Path(tmp) / f"long_{minutes:g}min.mp4", args.size)
            rss, seconds = peak_rss_mb(clip, args.model, classes, Path(tmp) / "t.json")
            frames = probe(clip).frame_count
            print(f"peak RSS, {minutes:g}-minute {args.size} clip ({frames} frames): {rss:7.0f} MB "
                  f"({seconds:.0f} s, {frames / seconds:.1f} frames/s)", flush=True)


def speed(args, classes: list[str], imgsz: int) -> None:
    import torch

    info = probe(args.video)
    print(f"video {args.video.name}: {info.width}x{info.height}, {info.frame_count} frames; model "
          f"{Path(args.model).name} at imgsz {imgsz}; torch threads {torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs")
    ours, theirs = (0.0, 0.0), (0.0, 0.0)
    for _ in range(args.repeats):  # alternate, so that both see the same machine state
        run = ultralytics_loop(args.video, args.model, classes, imgsz, args.conf, args.device)
        theirs = tuple(max(a, b) for a, b in zip(theirs, run))
        run = videocap_loop(args.video, args.model, classes, imgsz, args.conf, args.device)
        ours = tuple(max(a, b) for a, b in zip(ours, run))
    print(f"{'':30} {'wall':>8} {'CPU time':>9}  (frames/s, best of {args.repeats})")
    print(f"ultralytics model.track loop: {theirs[0]:8.1f} {theirs[1]:9.1f}")
    print(f"videocap track_video:         {ours[0]:8.1f} {ours[1]:9.1f}")
    print(f"ratio videocap / ultralytics: {ours[0] / theirs[0]:7.2f}x {ours[1] / theirs[1]:8.2f}x")


if __name__ == "__main__":
    main()
