"""Video input: metadata, frame ranges and a threaded sequential reader.

decord vets each file and gives its metadata and every frame's presentation time; the frames of a
range stream from an ffmpeg pipe (see ``VideoReader`` for why). videocap uses ``decord2``, the
maintained fork of decord (same API and import name, a current FFmpeg): on the real clips it gave
the same pixels and timestamps as decord 0.6.0, 10-30 % faster, and it opens AV1, which 0.6.0 cannot.

Ranges: ``start``/``end`` take a frame number (``120``), seconds (``62.5s``) or a clock time
(``1:02.5``, ``00:01:02.5``). ``end`` is exclusive. A time selects the first frame whose
presentation time is at or after it. An ``end`` past the last frame is clamped to the end of
the video; a ``start`` at or past the end, or ``start >= end``, is an error.
"""

from __future__ import annotations

import bisect
import importlib.util
import queue
import re
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from videocap.errors import UserError, VideoNote
from videocap.io.encode import ffmpeg_exe
from videocap.results import FrameRange, VideoInfo

#: Seconds without a decoded frame before the reader gives up (guards decoder hangs).
STALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Frame:
    index: int  # frame number in the video (0-based)
    time: float  # presentation time of the frame, seconds
    image: np.ndarray  # HxWx3 uint8, RGB


_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s$")


def parse_position(text: str) -> int | float:
    """``'120'`` -> frame 120 (int); ``'62.5s'``, ``'1:02.5'``, ``'00:01:02.5'`` -> 62.5 seconds (float)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    if match := _SECONDS.match(value):
        return float(match.group(1))
    if match := _CLOCK.match(value):
        hours, minutes, seconds = match.groups()
        if (hours is not None and int(minutes) >= 60) or float(seconds) >= 60:
            raise UserError(f"bad time {text!r}: minutes and seconds must be below 60")
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    raise UserError(f"bad position {text!r}: use a frame number (120), seconds (62.5s) or a time (00:01:02.5)")


def _check_path(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a video file")
    if path.stat().st_size == 0:
        raise UserError(f"{path}: the file is empty")
    return path


@dataclass(frozen=True)
class _Streams:
    container: str | None  # ffmpeg's input format, e.g. "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str | None  # first video stream's codec
    size: tuple[int, int] | None  # its coded (width, height), before any rotation
    has_audio: bool
    error: str | None  # why ffmpeg could not open the file
    rotation: int = 0  # counter-clockwise degrees a player turns the picture (display matrix): 0, 90, 180, 270
    start: float = 0.0  # the video stream's first presentation time in the file, seconds
    file_start: float = 0.0  # the file's (earliest stream's) start, from which ffmpeg's -ss counts
    duration: float | None = None  # the file's duration as its container states it, seconds
    sar: tuple[int, int] = (1, 1)  # the sample (pixel) aspect ratio: 128:117 pixels are 128/117 as wide as tall

    @property
    def displayed_size(self) -> tuple[int, int] | None:
        """The picture as a player shows it, in square pixels: stretched by the SAR (to an even width, as
        players and yuv420p want), then turned."""
        if self.size is None:
            return None
        width, height = self.size
        if self.sar != (1, 1):
            width = max(2, round(width * self.sar[0] / self.sar[1] / 2) * 2)
        return (width, height) if self.rotation % 180 == 0 else (height, width)


#: What a folder's videos are named (batch inputs, the files the web app lists).
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts",
                  ".wmv", ".flv", ".3gp", ".ogv"}
_IMAGE_FORMATS = ("image2", "_pipe")  # ffmpeg's demuxers for still images (png_pipe, jpeg_pipe...)


def _ffmpeg_streams(path: Path) -> _Streams:
    """What ``ffmpeg -i`` says about a file (it prints the streams on stderr)."""
    result = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                            errors="replace", timeout=30)
    found: dict = {"container": None, "codec": None, "size": None, "has_audio": False, "error": None}
    in_video = False
    for line in result.stderr.splitlines():
        if match := re.match(r"Input #0, ([^ ]+), from", line):
            found["container"] = match.group(1).rstrip(",")
        elif match := re.search(r"Duration: (?:(\d+):(\d+):([\d.]+))?.*, start: (-?[\d.]+)", line):
            found["file_start"] = found.setdefault("start", float(match.group(4)))
            if match.group(1) is not None:
                hours, minutes, seconds = match.group(1, 2, 3)
                found["duration"] = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        elif match := re.search(r"Stream #\S+.*?: (\w+): ", line):
            in_video = match.group(1) == "Video" and found["codec"] is None
            if in_video:
                _video_stream_line(line, found)
            found["has_audio"] |= match.group(1) == "Audio"
        elif in_video and (match := re.search(r"rotation of (-?[\d.]+) degrees", line)):
            found["rotation"] = round(float(match.group(1)) / 90) * 90 % 360
        elif "Error opening input" in line:
            found["error"] = found["error"] or line.split("Error opening input:")[-1].strip()
    return _Streams(**found)


def _video_stream_line(line: str, found: dict) -> None:
    found["codec"] = re.search(r": Video: (\w+)", line).group(1)
    if dims := re.search(r", (\d+)x(\d+)[, \[]", line):
        found["size"] = (int(dims.group(1)), int(dims.group(2)))
    if start := re.search(r", start (-?[\d.]+)", line):
        found["start"] = float(start.group(1))
    if (sar := re.search(r"\[SAR (\d+):(\d+) ", line)) and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
        found["sar"] = (int(sar.group(1)), int(sar.group(2)))


def import_decord():
    """Import decord without letting it load the CUDA libraries of the ``nvidia-*`` pip packages.

    On import, decord2 dlopens every ``nvidia/*/lib/*.so`` it finds with RTLD_GLOBAL (for its CUDA
    build). With torch's CUDA wheels installed that includes libnvblas, which then takes over
    sgemm for the whole process and crashes torch's CPU convolutions. videocap decodes on the CPU,
    so the ``nvidia`` package is hidden from decord's lookup while it is first imported.
    """
    if "decord" in sys.modules:
        return sys.modules["decord"]
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args, **kwargs):
        return None if name == "nvidia" else real_find_spec(name, *args, **kwargs)

    importlib.util.find_spec = find_spec
    try:
        import decord
    finally:
        importlib.util.find_spec = real_find_spec
    return decord


def _open_decord(path: Path, streams: _Streams):
    """Open with decord after ffmpeg vetted the file, so that bad input fails with one clear line."""
    decord = import_decord()
    if streams.error is not None:
        raise UserError(f"{path}: not a readable video ({streams.error}; truncated, corrupt or not a video file)")
    if streams.codec is None or streams.size is None:
        raise UserError(f"{path}: has no video stream")
    if streams.container and streams.container.endswith(_IMAGE_FORMATS):
        raise UserError(f"{path}: is a still image, not a video (caption photos with `videocap image`)")
    decord.bridge.set_bridge("native")
    # FFmpeg's own warnings about damaged data would clutter the terminal; failures still raise.
    decord.logging.set_level(decord.logging.QUIET)
    try:
        # No frame is decoded here: after a first decode, decord's threads keep decoding ahead (see VideoReader).
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except (RuntimeError, decord.DECORDError) as exc:
        raise UserError(f"{path}: cannot read its {streams.codec} video stream (truncated, corrupt, or a codec "
                        "decord does not support): re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4") from exc


def _unusable_times(timestamps: np.ndarray, duration: float | None) -> str | None:
    """Why decord's frame times (start, end per frame) cannot be trusted, or None when they can: not numbers,
    going backwards, or outside the stream (decord gives -3.7e17 s for XviD/DivX AVIs with packed B-frames)."""
    starts = timestamps[:, 0]
    if not np.isfinite(timestamps).all():
        return "are not numbers"
    if (np.diff(starts) < -1e-6).any():
        return "go backwards"
    end = float(timestamps[-1, 1])
    if starts[0] < -1.0 or (duration is not None and end > duration * 1.01 + 1.0):
        return f"lie outside the stream ({starts[0]:.4g} s to {end:.4g} s of {duration} s)"
    return None


class Video:
    """An opened video file: its metadata and every frame's presentation time, read once.

    decord opens and vets the file (bad input fails here with one line, before any model loads) and
    gives the timestamps; the frames themselves come from ``read`` (see ``VideoReader``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = _check_path(path)
        streams = _ffmpeg_streams(self.path)
        reader = _open_decord(self.path, streams)
        count = len(reader)
        if count == 0:
            raise UserError(f"{self.path}: the video has no frames")
        fps = float(reader.get_avg_fps())
        timestamps = np.asarray(reader.get_frame_timestamp(range(count)), dtype=np.float64)
        unusable = _unusable_times(timestamps, streams.duration)
        # With unusable times the frames are found by number (old AVIs are constant-rate by design).
        self.times_from_rate = unusable is not None and fps > 0
        if self.times_from_rate:
            warnings.warn(VideoNote(f"{self.path}: its frame times {unusable} (an old AVI with packed B-frames?): "
                                    f"using frame number / {fps:g} frames/s instead"), stacklevel=2)
            timestamps = np.stack([np.arange(count), np.arange(1, count + 1)], axis=1) / fps
        self.timestamps = timestamps
        width, height = streams.displayed_size
        self.info = VideoInfo(
            path=str(self.path), fps=fps, frame_count=count, width=width, height=height,
            duration=float(self.timestamps[-1, 1]), has_audio=streams.has_audio, codec=streams.codec,
            rotation=streams.rotation,
        )
        # decord's timestamps count from the video stream's first frame; ffmpeg's (with -copyts) from the file's.
        self.stretched = streams.sar != (1, 1)  # frames are scaled to square pixels as they are decoded
        self.stream_start = streams.start
        self.start_in_file = streams.start - streams.file_start  # where it starts on the clock of ffmpeg's -ss
        del reader  # frees decord's buffers: the frames come from the ffmpeg pipe

    def time_of(self, index: int) -> float:
        return float(self.timestamps[index, 0])

    def end_time(self, frame_range: FrameRange) -> float:
        """Source time where ``frame_range`` ends (the video's duration when it runs to the end)."""
        end = frame_range.end
        return self.time_of(end) if end < self.info.frame_count else self.info.duration

    def resolve_range(self, start: str | int | float | None = None, end: str | int | float | None = None,
                      stride: int = 1) -> FrameRange:
        """Turn user positions (frames, seconds or strings) into a frame range of this video."""
        if stride < 1:
            raise UserError(f"--stride must be 1 or more, got {stride}")
        count = self.info.frame_count
        start_index = 0 if start is None else self._to_index(start)
        end_index = count if end is None else min(self._to_index(end), count)
        if start_index >= count:
            raise UserError(f"start frame {start_index} is past the end of the video ({count} frames, "
                            f"{self.info.duration:.2f}s)")
        if start_index >= end_index:
            raise UserError(f"empty range: start (frame {start_index}) must come before end (frame {end_index})")
        return FrameRange(start_index, end_index, stride)

    def frame_at(self, position: str | int | float) -> int:
        """The frame a user position names (a frame number, seconds or a time; the first frame shown at or
        after a time)."""
        return self._to_index(position)

    def _to_index(self, position: str | int | float) -> int:
        value = parse_position(position) if isinstance(position, str) else position
        if isinstance(value, int):
            return value
        # The first frame shown at or after that time (timestamps are sorted start times).
        return bisect.bisect_left(self.timestamps[:, 0].tolist(), value - 1e-6)

    def read(self, frame_range: FrameRange | None = None, queue_size: int = 8, num_threads: int = 1) -> VideoReader:
        return VideoReader(self, frame_range, queue_size, num_threads)


class VideoReader:
    """Sequential frames of one video range, decoded in a background process and thread.

    The frames of the range are streamed from an ffmpeg process through a pipe. decord itself is not
    used for the long sequential read because its threaded decoder keeps decoding ahead of a slower
    reader and buffers those frames without bound (measured: 2.8 GB after 600 frames of 720p read at
    100 frames/s, 94 MB when read at full speed), so memory would grow with video length. A pipe
    blocks ffmpeg instead, and a bounded queue keeps at most ``queue_size`` frames in Python.
    Decoding overlaps with whatever consumes the frames. Iterate once; use as a context manager or
    call ``close()``. ``num_threads`` is ffmpeg's decoding threads (0: its choice): one thread decodes
    720p H.264 at several hundred frames per second, far ahead of segmentation, and leaves the other
    cores to the models. ``video`` is an opened ``Video`` (or a path, opened here).
    """

    def __init__(self, video: Video | str | Path, frame_range: FrameRange | None = None, queue_size: int = 8,
                 num_threads: int = 1) -> None:
        self.video = video if isinstance(video, Video) else Video(video)
        self.path = self.video.path
        self.info = self.video.info
        self.num_threads = num_threads
        self.range = frame_range or FrameRange(0, self.info.frame_count)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen | None = None

    def time_of(self, index: int) -> float:
        return self.video.time_of(index)

    def resolve_range(self, start: str | int | float | None = None, end: str | int | float | None = None,
                      stride: int = 1) -> FrameRange:
        """The range of user positions; the reader reads it from then on."""
        self.range = self.video.resolve_range(start, end, stride)
        return self.range

    def _ffmpeg_command(self) -> list[str]:
        frames = self.range
        # ffmpeg turns the frames as the display matrix says (autorotate): frames come at the displayed size.
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-xerror"]
        if self.num_threads:
            cmd += ["-threads", str(self.num_threads)]
        filters = []
        if self.video.times_from_rate:  # frames picked by number: decoded from the first, no seek by time
            filters.append(f"select=gte(n\\,{frames.start})*not(mod(n-{frames.start}\\,{frames.stride}))")
        elif frames.start > 0:
            # Seek to a second before, then keep frames shown from half a frame before the range's first
            # frame on, comparing original timestamps (-copyts): a seek alone can land one frame off.
            start, end = self.video.timestamps[frames.start]
            threshold = start - 0.5 * (end - start)
            cmd += ["-ss", f"{max(threshold - 1.0 + self.video.start_in_file, 0.0):.6f}", "-copyts"]
            filters.append(f"select=gte(t\\,{threshold + self.video.stream_start:.6f})")
        cmd += ["-i", str(self.path), "-map", "0:v:0", "-an", "-sn", "-dn"]
        if frames.stride > 1 and not self.video.times_from_rate:
            filters.append(f"select=not(mod(n\\,{frames.stride}))")
        if self.video.stretched:  # non-square pixels: to the displayed size (after any turn), square
            filters.append(f"scale={self.info.width}:{self.info.height},setsar=1")
        if filters:
            cmd += ["-vf", ",".join(filters)]
        return cmd + self._raw_output(len(frames))

    @staticmethod
    def _raw_output(count: int) -> list[str]:
        return ["-fps_mode", "passthrough", "-frames:v", str(count), "-pix_fmt", "rgb24", "-f", "rawvideo", "pipe:1"]

    def _decode(self) -> None:
        frames = self.range
        width, height = self.info.width, self.info.height
        size = width * height * 3
        log = tempfile.TemporaryFile()  # a file, not a pipe: a chatty ffmpeg can never block on it
        process = self._process = subprocess.Popen(self._ffmpeg_command(), stdout=subprocess.PIPE, stderr=log,
                                                   bufsize=0)
        assert process.stdout is not None
        index = frames.start
        for index in frames.indices:
            if self._stop.is_set():
                break
            image = np.empty((height, width, 3), np.uint8)
            view, got = memoryview(image).cast("B"), 0
            while got < size:
                chunk = process.stdout.readinto(view[got:])
                if not chunk:
                    break
                got += chunk
            if got < size:
                break
            self._put(Frame(index, self.time_of(index), image))
        else:
            index = frames.end
        process.stdout.close()
        code = process.wait()
        log.seek(0)
        errors = log.read().decode(errors="replace").strip()
        log.close()
        if not self._stop.is_set() and index < frames.end and (code != 0 or errors):
            self._put(UserError(f"{self.path}: decoding failed at frame {index} (truncated or corrupt file): "
                                "re-encode or repair it with ffmpeg"))
        # A clean early end means the container over-reported its frame count: stop where the frames stop.
        self._put(None)

    def _put(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated only once")
        self._thread = threading.Thread(target=self._decode, name="videocap-decode", daemon=True)
        self._thread.start()
        while True:
            try:
                item = self._queue.get(timeout=STALL_TIMEOUT_S)
            except queue.Empty:
                raise UserError(f"{self.path}: the decoder produced no frame for {STALL_TIMEOUT_S:.0f}s "
                                "(a damaged file or a wrong frame count): re-encode it with ffmpeg") from None
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def probe(path: str | Path) -> VideoInfo:
    """Metadata of a video without decoding it."""
    return Video(path).info
