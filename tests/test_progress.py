"""Progress for terminals and logs (videocap.progress): plain lines when stderr is not a terminal."""

from __future__ import annotations

import signal

from videocap import progress


def test_a_log_gets_plain_lines_not_redrawn_bars(capsys, monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)
    with progress.progress_bar(3, "tracking", "frame") as bar:  # capsys: stderr is not a terminal
        for _ in range(3):
            bar.update(1)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and all(line.strip() for line in lines)
    assert lines[0].startswith("tracking: 1/3 frames (33%) in ") and lines[-1].startswith("tracking: 3/3 frames")
    assert len(lines) == 3  # the last update's line is not repeated at the end


def test_a_quiet_bar_prints_nothing_and_a_stopped_stage_says_so(capsys):
    with progress.progress_bar(3, "rendering", "frame", enabled=False) as bar:
        bar.update(1)
    assert capsys.readouterr().err == ""
    try:
        with progress.progress_bar(3, "rendering", "frame") as bar:
            bar.update(1)
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert capsys.readouterr().err.strip().endswith("(stopped)")


def test_the_fault_hook_signals_at_the_stage_it_names(monkeypatch):
    got = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: got.append(1))
    try:
        monkeypatch.setenv("VIDEOCAP_FAULT", "muxing:SIGUSR1")
        progress.fault_point("rendering")
        assert got == []
        progress.fault_point("muxing")
        assert got == [1]
        with progress.progress_bar(2, "muxing", "step", enabled=False) as bar:
            bar.update(1)
            bar.update(1)
        assert got == [1, 1]  # once per stage, at its first unit of work
    finally:
        signal.signal(signal.SIGUSR1, previous)
