"""`videocap.caption.jobs`: caption jobs, segments and keyframes of the caption stage."""

from __future__ import annotations

from videocap.caption.jobs import segments


def test_segments_join_a_short_tail():
    from videocap.results import Track, TrackFrame

    frames = [TrackFrame(i, i / 10, (0, 0, 1, 1), 1.0, None) for i in range(22)]
    pieces = segments(Track(1, "circle", frames), 1.0, min_frames=3)
    assert [len(p) for p in pieces] == [10, 12]  # a 2-frame tail joins the piece before
    assert [len(p) for p in segments(Track(1, "circle", frames), None)] == [22]
