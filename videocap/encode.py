"""H.264 encoding through imageio-ffmpeg's bundled ffmpeg, written atomically.

OpenCV's VideoWriter cannot write browser-playable H.264 here, so raw RGB frames are piped into
ffmpeg (libx264, yuv420p). The file appears under its final name only once ffmpeg has finished,
so an interrupted run never leaves a complete-looking partial video.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import TracebackType

import imageio_ffmpeg
import numpy as np


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


class H264Writer:
    """Write RGB uint8 frames of one size to an MP4 (H.264, yuv420p, +faststart).

    Use as a context manager; on an exception inside the block the partial file is removed.
    yuv420p needs even sizes, so odd widths/heights are padded by one pixel on the right/bottom.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], crf: int = 20,
                 preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.size = size
        self.tmp_path = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        width, height = size
        pad = "" if width % 2 == 0 and height % 2 == 0 else "pad=ceil(iw/2)*2:ceil(ih/2)*2,"
        self._cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-",
            "-vf", f"{pad}format=yuv420p", "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
            "-movflags", "+faststart", "-f", "mp4", str(self.tmp_path),
        ]
        self._proc: subprocess.Popen | None = None
        self.frames_written = 0

    def __enter__(self) -> "H264Writer":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(self._cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        return self

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame of shape {frame.shape} {frame.dtype}; expected {(self.size[1], self.size[0], 3)} uint8")
        assert self._proc is not None and self._proc.stdin is not None, "use H264Writer as a context manager"
        self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.frames_written += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._proc is not None
        self._proc.stdin.close()
        stderr = self._proc.stderr.read().decode(errors="replace")
        code = self._proc.wait()
        if exc_type is not None or code != 0:
            self.tmp_path.unlink(missing_ok=True)
            if exc_type is None:
                raise RuntimeError(f"ffmpeg failed to encode {self.path}: {stderr.strip().splitlines()[-1:]}")
            return
        os.replace(self.tmp_path, self.path)
