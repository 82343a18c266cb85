"""A stand-in Hugging Face hub for the tests: a cache in the hub client's own layout, and a local server.

``build_hub_cache`` writes what ``huggingface-cli download`` leaves behind (``models--org--name/``
with ``blobs/``, ``refs/main`` and ``snapshots/<commit>/`` of links into the blobs) for a folder of
files. ``StandInHub`` serves such folders on 127.0.0.1 the way the hub's HTTP API answers the calls
huggingface_hub makes (``/api/models/{id}/revision/{rev}``, ``/api/models/{id}/tree/{rev}``, and
``HEAD``/``GET /{id}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag`` and ``Content-Length``), and
counts the requests. The DAM stand-in is the bundled demo DAM (the official layout at a tiny size);
the YOLO stand-in is the bundled demo YOLO-seg (classes circle, square, triangle, star).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from videocap.resources import DEMO_DAM, DEMO_YOLO

DAM_IDS = ("nvidia/DAM-3B-Video", "nvidia/DAM-3B")
YOLO_NAME = "yolo11x-seg.pt"


def commit_of(repo_id: str) -> str:
    """A fixed 40-hex commit id per repository (like the hub's)."""
    return hashlib.sha1(f"stand-in {repo_id}".encode()).hexdigest()


def repo_files(source: Path) -> dict[str, Path]:
    return {p.relative_to(source).as_posix(): p for p in sorted(source.rglob("*")) if p.is_file()}


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def etag_of(name: str, data: bytes) -> str:
    """The hub's ETag: the sha256 of LFS files (weights), the git blob id of small text files."""
    return hashlib.sha256(data).hexdigest() if name.endswith((".safetensors", ".model")) else git_blob_id(data)


def build_hub_cache(hub_cache: Path, repo_id: str, source: Path) -> Path:
    """The snapshot folder of ``repo_id`` in a Hugging Face cache at ``hub_cache`` holding ``source``'s files."""
    repo = hub_cache / ("models--" + repo_id.replace("/", "--"))
    commit = commit_of(repo_id)
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    for name, path in repo_files(source).items():
        data = path.read_bytes()
        blob = repo / "blobs" / etag_of(name, data)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


@dataclass
class Served:
    commit: str
    files: dict[str, bytes]


class StandInHub:
    """A threaded HTTP server answering as huggingface.co does, for a few repositories (a context manager)."""

    def __init__(self, repos: dict[str, Path]) -> None:
        self.repos = {rid: Served(commit_of(rid), {n: p.read_bytes() for n, p in repo_files(src).items()})
                      for rid, src in repos.items()}
        self.requests: list[str] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> StandInHub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:
                hub.answer(self, body=False)

            def do_GET(self) -> None:
                hub.answer(self, body=True)

        return Handler

    def _find(self, repo_id: str, revision: str) -> Served | None:
        served = self.repos.get(repo_id)
        return served if served is not None and revision in ("main", served.commit) else None

    def answer(self, request: BaseHTTPRequestHandler, body: bool) -> None:
        with self._lock:
            self.requests.append(f"{request.command} {request.path}")
        parts = [unquote(p) for p in urlparse(request.path).path.strip("/").split("/")]
        # /api/models/{org}/{name}/revision/{rev}  and  /api/models/{org}/{name}/tree/{rev}[/{path}]
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            served = self._find(f"{parts[2]}/{parts[3]}", parts[5])
            if served is None:
                return self._send(request, 404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            repo_id = f"{parts[2]}/{parts[3]}"
            if parts[4] == "revision":
                info = {"id": repo_id, "modelId": repo_id, "sha": served.commit, "private": False,
                        "siblings": [{"rfilename": n} for n in served.files]}
            else:
                info = [self._tree_entry(n, d) for n, d in served.files.items()]
            return self._send(request, 200, json.dumps(info).encode(), {"Content-Type": "application/json"}, body)
        # /{org}/{name}/resolve/{rev}/{path...}
        if len(parts) >= 5 and parts[2] == "resolve":
            served = self._find(f"{parts[0]}/{parts[1]}", parts[3])
            name = "/".join(parts[4:])
            if served is None or name not in served.files:
                return self._send(request, 404, b"Entry not found", {"X-Error-Code": "EntryNotFound"}, body)
            data = served.files[name]
            headers = {"X-Repo-Commit": served.commit, "ETag": f'"{etag_of(name, data)}"',
                       "Content-Type": "application/octet-stream"}
            return self._send(request, 200, data, headers, body)
        self._send(request, 404, b"not found", {}, body)

    @staticmethod
    def _tree_entry(name: str, data: bytes) -> dict:
        entry = {"type": "file", "path": name, "size": len(data), "oid": git_blob_id(data)}
        if name.endswith((".safetensors", ".model")):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict, body: bool = True) -> None:
        request.send_response(status)
        for key, value in headers.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if body:
            request.wfile.write(data)


# -- fixtures --

@pytest.fixture
def hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face home for this test, offline, set in the environment and in the loaded client."""
    import huggingface_hub.constants as constants

    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return home


@pytest.fixture
def stand_in_hub_cache(hf_home: Path) -> Path:
    """``hf_home`` holding the demo DAM under the real ids nvidia/DAM-3B-Video and nvidia/DAM-3B."""
    for repo_id in DAM_IDS:
        build_hub_cache(hf_home / "hub", repo_id, DEMO_DAM)
    return hf_home


@pytest.fixture
def yolo_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo YOLO-seg as ``yolo11x-seg.pt`` in the current folder (the first place ultralytics looks)."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(DEMO_YOLO, work / YOLO_NAME)
    monkeypatch.chdir(work)
    return work / YOLO_NAME


