"""`videocap.io.encode`: H.264 writing through the bundled ffmpeg."""

from __future__ import annotations

import numpy as np
import pytest

from videocap.io.encode import H264Writer
from videocap.io.video import probe


def test_h264_writer_is_atomic_and_playable(tmp_path):
    path = tmp_path / "out.mp4"
    frames = [np.full((31, 45, 3), v, np.uint8) for v in (0, 128, 255)]  # odd size is padded to even
    with H264Writer(path, 10.0, (45, 31)) as writer:
        for frame in frames:
            writer.write(frame)
    info = probe(path)
    assert (info.frame_count, info.fps, info.codec) == (3, 10.0, "h264")
    with pytest.raises(RuntimeError), H264Writer(tmp_path / "partial.mp4", 10.0, (45, 31)) as writer:
        writer.write(frames[0])
        raise RuntimeError("interrupted")
    assert not list(tmp_path.glob("*partial*"))
