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

from videocap.errors import UserError


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


class H264Writer:
    """Write RGB uint8 frames of one size to an MP4 (H.264, yuv420p, +faststart).

    Use as a context manager; on an exception inside the block the partial file is removed.
    yuv420p (what browsers play) needs even sizes, and H.264 cannot crop a single pixel away, so an odd
    width or height is padded by one pixel on the right or bottom, repeating the last column or row
    (``padding``); everything else keeps its place.
    ``audio_from``: a media file whose first audio stream (if any) is added as AAC, taken from
    ``audio_start`` seconds for ``audio_duration`` seconds (to the end when None).
    """

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int], crf: int = 20,
                 preset: str = "veryfast", audio_from: str | os.PathLike | None = None, audio_start: float = 0.0,
                 audio_duration: float | None = None, metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.size = size
        self.tmp_path = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        width, height = size
        self.padding = (width % 2, height % 2)  # (right, bottom)
        audio_in: list[str] = []
        audio_out: list[str] = []
        if audio_from is not None:
            audio_in = ["-ss", f"{max(audio_start, 0.0):.6f}"]
            if audio_duration is not None:
                audio_in += ["-t", f"{max(audio_duration, 0.0):.6f}"]
            audio_in += ["-i", str(audio_from)]
            audio_out = ["-map", "0:v:0", "-map", "1:a:0?", "-c:a", "aac", "-b:a", "160k"]
        self._cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width + self.padding[0]}x{height + self.padding[1]}",
            "-r", f"{fps:.6f}", "-i", "-",
            *audio_in,
            "-vf", "format=yuv420p", "-c:v", "libx264", "-preset", preset, "-crf", str(crf), *audio_out,
            *[arg for key, value in (metadata or {}).items() for arg in ("-metadata", f"{key}={value}")],
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
        if any(self.padding):
            frame = np.pad(frame, ((0, self.padding[1]), (0, self.padding[0]), (0, 0)), mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:  # ffmpeg stopped: say why
            self._proc.wait()
            raise _ffmpeg_error(self.path, self._proc.stderr.read().decode(errors="replace")) from None
        self.frames_written += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._proc is not None
        if exc_type is not None:
            self._proc.kill()  # interrupted or failed: the partial file is dropped, no need to finish encoding
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        stderr = self._proc.stderr.read().decode(errors="replace")
        code = self._proc.wait()
        if exc_type is not None or code != 0:
            self.tmp_path.unlink(missing_ok=True)
            if exc_type is None:
                raise _ffmpeg_error(self.path, stderr)
            return
        os.replace(self.tmp_path, self.path)


def _ffmpeg_error(path: Path, stderr: str) -> Exception:
    """A full disk is the user's to fix (one line, exit 2); anything else is a failure."""
    if "No space left on device" in stderr:
        return UserError(f"no space left on the device to write {path}: free some space or use --out elsewhere")
    return RuntimeError(f"ffmpeg failed to encode {path}: {stderr.strip().splitlines()[-1:]}")
