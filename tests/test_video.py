"""Video input on real clips (real decord), ranges, and every kind of bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from videocap.errors import UserError
from videocap.io.encode import ffmpeg_exe
from videocap.io.video import (
    FrameRange,
    VideoReader,
    import_decord,
    parse_position,
    probe,
)

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "shapes.mp4"


def frames_of(path, start=None, end=None, stride=1):
    with VideoReader(path) as reader:
        reader.resolve_range(start, end, stride)
        return list(reader)


@pytest.mark.parametrize("name, count, fps, size, codec", [
    ("vtest.avi", 795, 10.0, (768, 576), "msmpeg4v3"),
    ("bikes.mp4", 250, 25.0, (640, 272), "h264"),
])
def test_real_clip_metadata_and_timestamps(media_dir, name, count, fps, size, codec):
    info = probe(media_dir / name)
    assert (info.frame_count, info.fps, (info.width, info.height), info.codec) == (count, fps, size, codec)
    assert info.has_audio is False
    assert info.duration == pytest.approx(count / fps, abs=1e-3)
    frames = frames_of(media_dir / name, start=count - 30)
    assert [f.index for f in frames] == list(range(count - 30, count))
    # Constant-frame-rate clips: PTS times are index / fps.
    assert [f.time for f in frames] == pytest.approx([i / fps for i in range(count - 30, count)], abs=1e-4)
    assert frames[0].image.shape == (size[1], size[0], 3) and frames[0].image.dtype == np.uint8


def test_audio_is_detected(media_dir):
    assert probe(media_dir / "trailer_bbb.mp4").has_audio is True


@pytest.mark.parametrize("name, start, end, stride", [
    ("bikes.mp4", "2s", "120", 7),
    ("vtest.avi", 333, 360, 4),  # MS-MPEG4 in AVI: a plain seek lands one frame early here
    ("trailer_bbb.mp4", 700, 730, 5),
])
def test_ranges_give_the_same_frames_as_decord_random_access(media_dir, name, start, end, stride):
    path = media_dir / name
    frames = frames_of(path, start=start, end=end, stride=stride)
    with VideoReader(path) as reader:
        expected = list(reader.resolve_range(start, end, stride).indices)
    assert [f.index for f in frames] == expected
    direct = import_decord().VideoReader(str(path))
    for frame in frames[:4]:
        assert np.array_equal(frame.image, direct[frame.index].asnumpy())


def test_memory_stays_flat_when_the_consumer_is_slow(media_dir):
    # decord's own threaded decoder buffers frames without bound ahead of a slow reader (2.8 GB after
    # 600 frames of this 720p clip read at 100 frames/s); the reader must not.
    code = (
        "import time, sys\n"
        "from videocap.io.video import VideoReader\n"
        "with VideoReader(sys.argv[1]) as reader:\n"
        "    for n, frame in enumerate(reader):\n"
        "        time.sleep(0.005)\n"
        "        if n == 400: break\n"
        # VmHWM, not ru_maxrss: the latter also counts the parent's pages shared before exec.
        "print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) // 1024)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(media_dir / "trailer_bbb.mp4")], capture_output=True,
                          text=True, timeout=120, check=True)
    assert int(proc.stdout.strip()) < 500


def test_time_formats_select_the_first_frame_at_or_after_the_time(media_dir):
    with VideoReader(media_dir / "vtest.avi") as reader:  # 10 fps
        assert reader.resolve_range("00:00:01.5", "0:03") == FrameRange(15, 30, 1)
        assert reader.resolve_range("1.55s", "3.01s") == FrameRange(16, 31, 1)


def test_end_past_the_video_is_clamped():
    frames = frames_of(SAMPLE, start=90, end=10_000)
    assert [f.index for f in frames] == list(range(90, 100))


@pytest.mark.parametrize("text, value", [("120", 120), ("62.5s", 62.5), ("1:02.5", 62.5), ("00:01:02.5", 62.5),
                                         ("1:00:00", 3600.0)])
def test_parse_position(text, value):
    parsed = parse_position(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["abc", "-5", "1:75", "12.5", "s"])
def test_parse_position_rejects_garbage(text):
    with pytest.raises(UserError, match="bad"):
        parse_position(text)


@pytest.mark.parametrize("start, end, message", [
    (100, None, "past the end"),
    (50, 50, "empty range"),
    ("3s", "1s", "empty range"),
])
def test_empty_ranges_are_errors(start, end, message):
    with VideoReader(SAMPLE) as reader, pytest.raises(UserError, match=message):
        reader.resolve_range(start, end)


def _encode(tmp_path: Path, name: str, args: list[str]) -> Path:
    out = tmp_path / name
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(SAMPLE), "-frames:v", "20",
                    *args, str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("name, args, codec", [
    ("clip_av1.mp4", ["-c:v", "libsvtav1"], "av1"),
    ("clip_vp9.webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime"], "vp9"),
])
def test_av1_and_vp9_decode(tmp_path, name, args, codec):
    path = _encode(tmp_path, name, args)
    assert probe(path).codec == codec
    frames = frames_of(path)
    assert len(frames) == 20
    reference = frames_of(SAMPLE, end=1)[0].image.astype(int)
    assert np.abs(frames[0].image.astype(int) - reference).mean() < 12  # the same picture after lossy coding


def test_bad_inputs_are_one_line_user_errors(tmp_path, media_dir):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.mp4"  # moov atom at the end is cut away
    truncated.write_bytes((media_dir / "bikes.mp4").read_bytes()[:200_000])
    cases = {
        tmp_path / "missing.mp4": "no such file",
        tmp_path: "is a directory",
        text: "not a readable video",
        empty: "empty",
        truncated: "not a readable video",
        media_dir / "bus.jpg": "still image",
    }
    for path, message in cases.items():
        with pytest.raises(UserError, match=message) as info:
            probe(path)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_damaged_frames_midway_are_reported(tmp_path, damage, capfd):
    # A faststart MP4 opens fine (its index is at the front); its frame data is then damaged.
    source = _encode(tmp_path, "ok.mp4", ["-c:v", "libx264", "-movflags", "+faststart", "-g", "5"])
    data = bytearray(source.read_bytes())
    start = len(data) // 3
    if damage == "garbage":
        data[start:] = np.random.default_rng(0).integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
    else:
        del data[len(data) // 2:]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"broken.mp4: decoding failed at frame \d+") as info:
        frames_of(broken)
    assert "\n" not in str(info.value)
    assert "NAL" not in capfd.readouterr().err  # FFmpeg's own chatter is silenced


def test_reader_stops_early_without_hanging():
    with VideoReader(SAMPLE, queue_size=2) as reader:
        for frame in reader:
            if frame.index == 3:
                break
    assert reader._thread is not None and not reader._thread.is_alive()


