"""`videocap.files`: atomic output files, output folders, safe file names."""

from __future__ import annotations

import json
import os

import pytest

from videocap.errors import UserError
from videocap.files import atomic_write_text, ensure_writable_dir, safe_name, write_json


def test_atomic_write_leaves_no_partial_file_and_usual_permissions(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "hello")
    assert path.read_text() == "hello"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o666 & ~_umask())
    write_json(tmp_path / "b.json", {"text": "円"})
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8")) == {"text": "円"}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_an_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    target.write_text("old")

    def broken_fsync(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_output_folder_errors(tmp_path):
    assert ensure_writable_dir(tmp_path / "new" / "deeper").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="cannot create output folder"):
        ensure_writable_dir(tmp_path / "file" / "out")


@pytest.mark.parametrize("text, name", [
    ("circle", "circle"), ("traffic light", "traffic-light"), ("../../etc/passwd", "etc-passwd"),
    ("...", "object"), ("a/b\\c", "a-b-c"), ("x" * 100, "x" * 60), ("円形", "円形"),
])
def test_safe_name(text, name):
    assert safe_name(text) == name
