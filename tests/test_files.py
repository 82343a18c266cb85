"""`videocap.io.files`: atomic output files, output folders, safe file names; JSON streamed in pieces (iter_json),
the same text as json.dumps, iterators consumed lazily."""

from __future__ import annotations

import gzip
import json
import os

import pytest

from videocap.errors import UserError
from videocap.io.files import (
    atomic_write_text,
    ensure_writable_dir,
    iter_json,
    safe_name,
    write_json,
)
from videocap.segment import cache


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


# -- streamed JSON --

DOCS = [{}, [], "x", 1.5, None, {"a": [1, 2, {"b": None, "c": "é\n"}], "d": [], "e": {}, "f": (3, 4)}, [[[]], [{}]]]


@pytest.mark.parametrize("indent", [None, 1, 2])
@pytest.mark.parametrize("doc", DOCS)
def test_pieces_join_to_json_dumps(doc, indent):
    separators = (",", ":") if indent is None else None
    assert "".join(iter_json(doc, indent)) == json.dumps(doc, indent=indent, ensure_ascii=False, separators=separators)


def test_iterators_are_lists_consumed_as_written(tmp_path):
    made = []

    def frames(n):
        for i in range(n):
            made.append(i)
            yield {"frame": i}

    pieces = iter_json({"tracks": [{"frames": frames(3)}, {"frames": frames(0)}]}, indent=1)
    next(pieces)
    assert made == []  # nothing made before the writer reaches it
    write_json(tmp_path / "t.json", {"tracks": [{"frames": frames(3)}, {"frames": iter([])}]})
    assert json.loads((tmp_path / "t.json").read_text()) == {"tracks": [{"frames": [{"frame": i} for i in range(3)]},
                                                                        {"frames": []}]}


def test_cache_entries_stream_through_gzip(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOCAP_CACHE_DIR", str(tmp_path))
    cache.store("k", {"tracks": [{"frames": ({"frame": i, "mask": "x" * 50} for i in range(5000))}]})
    with gzip.open(tmp_path / "tracks" / "k.json.gz", "rt") as handle:
        assert len(json.load(handle)["tracks"][0]["frames"]) == 5000
    assert cache.load("k")["tracks"][0]["frames"][4999] == {"frame": 4999, "mask": "x" * 50}
