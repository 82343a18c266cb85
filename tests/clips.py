"""Tiny test clips made with the bundled ffmpeg, each frame carrying its own number.

The number is drawn as 8 bars across the top of the frame (bar b white when bit b of the number is
set), big enough to survive compression, so a decoded frame says which source frame it is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from videocap.io.encode import ffmpeg_exe

CODE_ROWS = 0.3  # the bars fill the top 30 % of the frame


def coded_frame(number: int, width: int, height: int) -> np.ndarray:
    image = np.full((height, width, 3), 60, np.uint8)
    bar = width // 8
    rows = int(height * CODE_ROWS)
    for bit in range(8):
        image[:rows, bit * bar:(bit + 1) * bar] = 255 if (number >> bit) & 1 else 0
    return image


def read_code(image: np.ndarray) -> int:
    """The number a ``coded_frame`` carries (the middle of each bar, away from its edges)."""
    height, width = image.shape[:2]
    bar, rows = width // 8, int(height * CODE_ROWS)
    gray = image[2:rows - 2].mean(axis=2)
    return sum(1 << bit for bit in range(8)
               if gray[:, bit * bar + bar // 4:(bit + 1) * bar - bar // 4].mean() > 127)


def make_clip(path: Path, frames: int, setpts: str = "N/25/TB", size: tuple[int, int] = (64, 48),
              codec: list[str] | None = None, extra: list[str] | None = None, audio: bool = False,
              pattern=coded_frame) -> Path:
    """A clip of ``frames`` coded frames fed at 25 frames/s and re-timed by the ``setpts`` expression
    (kept as they are: variable frame rate); ``codec`` defaults to H.264 (yuv420p, a keyframe every 10)."""
    width, height = size
    codec = codec or ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10"]
    sound = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3"] if audio else []
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
           "-r", "25", "-i", "-", *sound, "-vf", f"setpts={setpts}", "-fps_mode", "vfr", *codec,
           *(["-shortest"] if audio else []), *(extra or []), str(path)]
    process = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for n in range(frames):
        process.stdin.write(pattern(n, width, height).tobytes())
    process.stdin.close()
    assert process.wait() == 0, f"ffmpeg could not make {path}"
    return path


def ffmpeg_stderr(path: Path) -> str:
    return subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
