"""files.write_json and iter_json: JSON streamed in pieces, the same text as json.dumps, iterators consumed lazily."""

from __future__ import annotations

import gzip
import json

import pytest

from videocap import cache
from videocap.files import iter_json, write_json

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
