"""Jobs: whole videos captioned through the pipeline, one at a time, into folders under ``--data``.

A job is asked for with JSON (a path under ``--root`` and the run's settings) or an upload; it is
``queued``, ``running``, then ``done``, ``failed`` or ``cancelled``. Its folder ``DATA/jobs/<id>/`` holds
``job.json`` (its state, written whole at each change), ``input/`` (an uploaded video) and ``out/`` (the
run's outputs, staged by the pipeline: a cancelled or failed run leaves no half of a set there). A
restarted server lists the jobs it finds; one that was running when the server stopped is marked failed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, BinaryIO

from videocap import progress
from videocap.errors import UserError
from videocap.io.files import safe_name, write_json
from videocap.prompts import parse_box, parse_mask, parse_point, parse_reference_points
from videocap.serve.errors import ApiError, one_line
from videocap.settings import CaptionSettings, TrackSettings

log = logging.getLogger(__name__)

ENDED = ("done", "failed", "cancelled")
TRACK_FIELDS = {"classes": "classes", "start": "start", "end": "end", "stride": "stride", "conf": "conf",
                "min_frames": "min_frames", "min_score": "min_score", "keyframes": "keyframe_count",
                "keyframe_method": "keyframe_method"}
CAPTION_FIELDS = {"temperature": "temperature", "top_p": "top_p", "max_new_tokens": "max_new_tokens", "seed": "seed",
                  "query": "query", "segment_seconds": "segment_seconds", "language": "language",
                  "overlay": "overlay"}
OTHER_FIELDS = ("path", "prompts", "render")


class Cancelled(Exception):
    """Raised inside a job's run, at its next progress update, when the job is cancelled."""


@dataclasses.dataclass
class Job:
    id: str
    folder: Path
    request: dict
    status: str = "queued"
    created: float = dataclasses.field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: dict = dataclasses.field(default_factory=lambda: {"stage": None, "done": 0, "total": None,
                                                                 "fraction": 0.0})
    error: str | None = None
    captions: list[dict] = dataclasses.field(default_factory=list)
    input: Path | None = None  # the video to caption
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    plan: tuple | None = None  # (TrackSettings, CaptionSettings, render): parsed when submitted

    @property
    def out(self) -> Path:
        return self.folder / "out"

    def to_json(self) -> dict:
        return {"id": self.id, "object": "job", "status": self.status, "created": self.created, "started": self.started,
                "finished": self.finished, "progress": self.progress, "error": self.error, "request": self.request,
                "captions": self.captions, "files": self.files()}

    def files(self) -> list[str]:
        """The run's files, as its captions.json lists them (nothing until the set is complete)."""
        manifest = self.out / "captions.json"
        if self.status != "done" or not manifest.is_file():
            return []
        return sorted(p.name for p in self.out.iterdir() if p.is_file() and not p.name.startswith("."))


class JobStore:
    """The jobs of one ``data`` folder; videos come from under ``root``; one worker thread runs them in turn."""

    def __init__(self, data: Path, root: Path, config: dict, model, max_queue: int = 16) -> None:
        self.folder, self.root, self.config, self.model = data / "jobs", root.resolve(), config, model
        self.max_queue = max_queue
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jobs: dict[str, Job] = {job.id: job for job in self._load()}
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="videocap-jobs", daemon=True)
        self._thread.start()

    # -- asking --

    def submit(self, request: dict, upload: tuple[str, BinaryIO] | None = None) -> Job:
        """A new queued job; ``upload``: (file name, its content) instead of ``request["path"]``."""
        if not isinstance(request, dict):
            raise ApiError(400, "the job's settings must be a JSON object")
        unknown = sorted(set(request) - set(TRACK_FIELDS) - set(CAPTION_FIELDS) - set(OTHER_FIELDS))
        if unknown:
            raise ApiError(400, f"unknown job setting(s) {', '.join(unknown)}: the settings are "
                           f"{', '.join([*OTHER_FIELDS, *TRACK_FIELDS, *CAPTION_FIELDS])}", param=unknown[0])
        with self._cond:
            if self._closed:
                raise ApiError(503, "the server is shutting down: it takes no new job")
            if sum(job.status == "queued" for job in self.jobs.values()) >= self.max_queue:
                raise ApiError(429, f"{self.max_queue} jobs are queued already: try again when one has run",
                               headers={"Retry-After": "30"})
        job_id = uuid.uuid4().hex[:16]
        job = Job(job_id, self.folder / job_id, {k: v for k, v in request.items()})
        if upload is None:
            job.input = inside_root(self.root, request.get("path"))
        job.plan = self._plan(request)
        job.folder.mkdir()
        if upload is not None:
            job.input = _save_upload(job.folder / "input", *upload)
            job.request["path"] = None
            job.request["upload"] = job.input.name
        with self._cond:
            self.jobs[job.id] = job
            self._queue.append(job)
            self._save(job)
            self._cond.notify()
        return job

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"no job {job_id!r}: GET /v1/jobs lists the jobs")
        return job

    def cancel(self, job_id: str) -> Job:
        job = self.get(job_id)
        with self._cond:
            if job.status == "queued":
                self._queue.remove(job)
                self._end(job, "cancelled")
            elif job.status == "running":
                job.cancel.set()  # the run stops at its next progress update
        return job

    def file(self, job_id: str, name: str) -> Path:
        """A file of the job's finished run, by name; 404 for anything else."""
        job = self.get(job_id)
        if name not in job.files():
            raise ApiError(404, f"job {job_id} has no file {name!r}" + ("" if job.status == "done" else
                                                                        f" (it is {job.status})"))
        return job.out / name

    def close(self, timeout: float | None = None) -> None:
        """Take no more jobs; cancel the queued ones and the running one (its folder keeps no partial set)."""
        with self._cond:
            self._closed = True
            while self._queue:
                self._end(self._queue.popleft(), "cancelled")
            for job in self.jobs.values():
                if job.status == "running":
                    job.cancel.set()
            self._cond.notify()
        self._thread.join(timeout)

    # -- running --

    def _plan(self, request: dict) -> tuple[TrackSettings, CaptionSettings, bool]:
        track_flags = {TRACK_FIELDS[k]: v for k, v in request.items() if k in TRACK_FIELDS}
        caption_flags = {CAPTION_FIELDS[k]: v for k, v in request.items() if k in CAPTION_FIELDS}
        if isinstance(track_flags.get("classes"), str):
            track_flags["classes"] = [track_flags["classes"]]
        try:
            tracking = TrackSettings.from_config(self.config, **{**track_flags, "classes": tuple(
                track_flags.get("classes") or ()), "prompts": self._prompts(request.get("prompts") or [])})
            captioning = CaptionSettings.from_config(self.config, **caption_flags)
            from videocap.caption.jobs import check_dam_available

            check_dam_available(captioning, tracking.keyframe_count)
        except (UserError, TypeError, ValueError) as exc:
            raise ApiError(400, str(exc)) from None
        return tracking, captioning, bool(request.get("render", True))

    def _prompts(self, prompts: list) -> tuple:
        """Region prompts as the CLI's flags take them: ``{"point": "X,Y;...@T"}``, ``{"points": [[x, y]]}``,
        ``{"box": "X1,Y1,X2,Y2@T" or [x1, y1, x2, y2]}`` or ``{"mask": "PATH under root[@T]"}``, each with an
        optional ``"label"``."""
        if not isinstance(prompts, list):
            raise UserError("prompts: give a list such as [{\"point\": \"120,80@2s\", \"label\": \"dog\"}]")
        parsed = []
        for prompt in prompts:
            kinds = [k for k in ("point", "points", "box", "mask") if isinstance(prompt, dict) and k in prompt]
            if len(kinds) != 1:
                raise UserError(f"prompt {prompt!r}: give exactly one of point, points, box or mask")
            value = prompt[kinds[0]]
            if kinds[0] == "point":
                region = parse_point(str(value))
            elif kinds[0] == "points":
                region = parse_reference_points(json.dumps(value))
            elif kinds[0] == "box":
                region = parse_box(json.dumps(value) if isinstance(value, list) else str(value))
            else:
                path, at, when = str(value).partition("@")
                region = parse_mask(str(inside_root(self.root, path)) + (at + when if at else ""))
            parsed.append(region.with_label(str(prompt.get("label") or "object")))
        return tuple(parsed)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._queue.popleft()
                job.status, job.started = "running", time.time()
                self._save(job)
            self._run(job)

    def _run(self, job: Job) -> None:
        from videocap.pipeline.video import caption_video

        tracking, captioning, render = job.plan

        def on_caption(track, caption) -> None:
            job.captions.append({"track": track.id, "label": track.label, "start": caption.start, "end": caption.end,
                                 "text": caption.text})

        try:
            with progress.listening(lambda stage, done, total: self._progress(job, stage, done, total)):
                caption_video(job.input, tracking, captioning, job.out, model=self.model, progress=False,
                              on_caption=on_caption, render=render)
        except Cancelled:
            self._end(job, "cancelled")
        except UserError as exc:
            self._end(job, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a failed job is reported in its state, the server goes on
            log.exception("job %s failed", job.id)
            self._end(job, "failed", f"{type(exc).__name__}: {exc}")
        else:
            job.progress["fraction"] = 1.0
            self._end(job, "done")

    def _progress(self, job: Job, stage: str, done: int, total: int | None) -> None:
        if job.cancel.is_set():
            raise Cancelled()
        fraction = min(done / total, 1.0) if total else 0.0
        job.progress = {"stage": stage, "done": done, "total": total, "fraction": round(fraction, 4)}

    def _end(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.finished, job.error = status, time.time(), one_line(error) if error else None
        self._save(job)

    def _save(self, job: Job) -> None:
        write_json(job.folder / "job.json", job.to_json())

    def _load(self) -> list[Job]:
        """The jobs of an earlier server in this folder (a run it left unfinished: failed)."""
        jobs = []
        for path in sorted(self.folder.glob("*/job.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                job = Job(data["id"], path.parent, data["request"], data["status"], data["created"], data["started"],
                          data["finished"], data["progress"], data["error"], data.get("captions", []))
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("%s: not a job's state; left alone", path)
                continue
            if job.status not in ENDED:
                self._end(job, "failed", "the server stopped before this job ended: submit it again")
            jobs.append(job)
        return sorted(jobs, key=lambda j: j.created)


def inside_root(root: Path, relative: Any) -> Path:
    """The file ``relative`` names under ``root``, or a 400/404: no absolute path, no ``..``, no symlink out."""
    if not isinstance(relative, str) or not relative.strip():
        raise ApiError(400, "path: give the video's path relative to the server's --root", param="path")
    given = Path(relative)
    if given.is_absolute() or ".." in given.parts or "\x00" in relative:
        raise ApiError(400, f"path {relative!r}: give a path relative to the server's --root, without '..'",
                       param="path")
    path = (root / given).resolve()
    if not path.is_relative_to(root):
        raise ApiError(400, f"path {relative!r} leads outside the server's --root", param="path")
    if not path.is_file():
        raise ApiError(404, f"path {relative!r}: no such file under the server's --root", param="path")
    return path


def _save_upload(folder: Path, name: str, content: BinaryIO) -> Path:
    folder.mkdir()
    stem, dot, suffix = (name or "upload").rpartition(".")
    path = folder / (f"{safe_name(stem, 'upload')}.{safe_name(suffix, 'mp4')}" if dot else safe_name(name, "upload"))
    with open(path, "wb") as out:
        while chunk := content.read(1 << 20):
            out.write(chunk)
    return path
