"""The web app of ``videocap serve``: a page at ``/`` to open a video or photo under ``--root``, point at an
object, watch DAM's caption of it stream in, and caption whole videos as jobs with a progress bar.

The page is videocap's own (``videocap/data/webapp/``: one HTML page, its script and styles, the report's
styles beside them; nothing from elsewhere). What it asks of the server beyond the API every client uses
(Describe is a streamed chat completion, "Track and caption" a job) are these routes, every path kept inside
``--root``:

- ``GET /v1/files``: the videos and photos under the root (relative paths, at most ``MAX_LISTED``);
- ``GET /v1/files/info?path=REL``: a file's kind, displayed size, frame count, rate and duration;
- ``GET /v1/files/frame?path=REL&frame=N``: frame N as displayed (turned, square pixels), a PNG;
- ``POST /v1/files/upload``: a file the page uploads, kept under ``--data``; named ``@upload/...`` after;
- ``POST /v1/files/preview``: the mask that points, a box or a class select on a frame (the promptable
  segmenter's, or the configured segmenter's detection under the prompt), as a PNG data URL and its box.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from PIL import Image
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from videocap.errors import UserError
from videocap.io.files import safe_name
from videocap.io.photos import IMAGE_SUFFIXES, read_photo
from videocap.io.video import VIDEO_SUFFIXES, Video
from videocap.prompts import RegionPrompt, check_prompt
from videocap.resources import REPORT_DIR, WEBAPP_DIR
from videocap.results import FrameRange
from videocap.segment.prompted import photo_region
from videocap.serve.chat import Region, region_prompt
from videocap.serve.errors import ApiError
from videocap.serve.jobs import inside_root

MAX_LISTED = 2000  # files listed at most (a huge --root still answers at once)
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
OPENED = 4  # videos kept open (their frame times are read once)
UPLOAD_PREFIX = "@upload/"  # names an uploaded file (under DATA/uploads/), never a file under --root


class Media:
    """The files under ``root`` as the page sees them: listed, described, decoded frame by frame."""

    def __init__(self, root: Path, data: Path) -> None:
        self.root, self.skip, self.uploads = root.resolve(), data.resolve(), data.resolve() / "uploads"
        self._videos: OrderedDict[tuple[Path, float], Video] = OrderedDict()
        self._lock = threading.Lock()

    def listing(self) -> dict:
        found, more = [], False
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            here = Path(folder)
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() != self.skip)
            for name in sorted(files):
                kind = _kind(Path(name))
                if kind and not name.startswith("."):
                    if len(found) == MAX_LISTED:
                        more = True
                        break
                    found.append({"path": (here / name).relative_to(self.root).as_posix(), "kind": kind})
            if more:
                break
        return {"object": "list", "data": found, "truncated": more}

    def info(self, relative: str) -> dict:
        path = self._path(relative)
        if _kind(path) == "photo":
            height, width = self._photo(path).shape[:2]
            return {"path": relative, "kind": "photo", "width": width, "height": height, "frame_count": 1,
                    "fps": None, "duration": None}
        video = self._video(path)
        info = video.info
        return {"path": relative, "kind": "video", "width": info.width, "height": info.height,
                "frame_count": info.frame_count, "fps": info.fps, "duration": info.duration,
                "times": [round(float(t), 4) for t in video.timestamps[:, 0]]}

    def frame(self, relative: str, index: int) -> np.ndarray:
        """Frame ``index`` of a video (a photo: itself) as 8-bit RGB, as displayed."""
        path = self._path(relative)
        if _kind(path) == "photo":
            return self._photo(path)
        video = self._video(path)
        if not 0 <= index < video.info.frame_count:
            raise ApiError(400, f"frame {index}: {relative} has frames 0 to {video.info.frame_count - 1}",
                           param="frame")
        with video.read(FrameRange(index, index + 1)) as frames:
            for frame in frames:
                return frame.image
        raise ApiError(500, f"frame {index} of {relative} could not be decoded")

    def save_upload(self, name: str, content) -> dict:
        """An uploaded file kept under ``DATA/uploads/<id>/``; its path for the other routes."""
        stem, dot, suffix = (name or "upload").rpartition(".")
        safe = f"{safe_name(stem, 'upload')}.{safe_name(suffix, 'mp4').lower()}" if dot else safe_name(name, "upload")
        kind = _kind(Path(safe))
        if kind is None:
            raise ApiError(400, f"{name!r}: not a video or photo videocap opens (by its name's suffix)", param="file")
        folder = self.uploads / uuid.uuid4().hex[:16]
        folder.mkdir(parents=True)
        with open(folder / safe, "wb") as out:
            shutil.copyfileobj(content, out, 1 << 20)
        return {"path": f"{UPLOAD_PREFIX}{folder.name}/{safe}", "kind": kind}

    def _path(self, relative: str) -> Path:
        if isinstance(relative, str) and relative.startswith(UPLOAD_PREFIX):
            path = inside_root(self.uploads, relative.removeprefix(UPLOAD_PREFIX))
        else:
            path = inside_root(self.root, relative)
        if not _kind(path):
            raise ApiError(400, f"path {relative!r}: not a video or photo videocap opens "
                           f"({', '.join(sorted(VIDEO_SUFFIXES | set(IMAGE_SUFFIXES)))})", param="path")
        return path

    def _video(self, path: Path) -> Video:
        key = (path, path.stat().st_mtime)
        with self._lock:
            if key in self._videos:
                self._videos.move_to_end(key)
                return self._videos[key]
        try:
            video = Video(path)
        except UserError as exc:
            raise ApiError(400, str(exc), param="path") from None
        with self._lock:
            self._videos[key] = video
            while len(self._videos) > OPENED:
                self._videos.popitem(last=False)
        return video

    @staticmethod
    def _photo(path: Path) -> np.ndarray:
        try:
            return read_photo(path)
        except UserError as exc:
            raise ApiError(400, str(exc), param="path") from None


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "video" if suffix in VIDEO_SUFFIXES else "photo" if suffix in IMAGE_SUFFIXES else None


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG", compress_level=1)  # fast: the page is on this machine or near
    return buffer.getvalue()


def preview_prompt(body: object) -> tuple[str, int, RegionPrompt | str]:
    """(path, frame, what selects the object: a RegionPrompt, or a class name) from a preview request; the
    points or box read as the chat API reads its ``region``."""
    if not isinstance(body, dict):
        raise ApiError(400, "the preview request must be a JSON object: {path, frame, points|box|class}")
    path, frame = body.get("path"), body.get("frame", 0)
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise ApiError(400, f"frame {frame!r}: give a frame number (0 or more)", param="frame")
    if sum(body.get(k) is not None for k in ("points", "box", "class")) != 1:
        raise ApiError(400, "give exactly one of points (with labels), box or class", param="points")
    if body.get("class") is not None:
        if not isinstance(body["class"], str) or not body["class"].strip():
            raise ApiError(400, "class: give a class name such as person", param="class")
        return path, frame, body["class"].strip()
    try:
        region = Region.model_validate({k: body.get(k) for k in ("points", "labels", "box")})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(400, f"{'.'.join(map(str, first['loc']))}: {first['msg']}", param="points") from None
    return path, frame, region_prompt(region)


def select(server, image: np.ndarray, what: RegionPrompt | str) -> np.ndarray | None:
    """The mask of the object ``what`` selects on ``image`` (None: nothing there)."""
    if isinstance(what, RegionPrompt):
        try:
            check_prompt(what, image.shape[1], image.shape[0])
        except UserError as exc:
            raise ApiError(400, str(exc), param="points") from None
    with server.segmenter() as segmenter:
        if isinstance(what, RegionPrompt):
            return photo_region(segmenter, image, what)
        found = segmenter(image)
        named = [i for i, name in enumerate(found.class_names) if name.lower() == what.lower()]
        if not named:
            return None
        return found.masks[max(named, key=lambda i: found.scores[i])].to_mask()


def mask_json(mask: np.ndarray) -> dict:
    ys, xs = np.nonzero(mask)
    return {"mask": "data:image/png;base64," + base64.b64encode(_png(mask.astype(np.uint8) * 255)).decode(),
            "box": [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1], "area": int(mask.sum())}


def add_webapp_routes(app: FastAPI, server, media: Media) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse((WEBAPP_DIR / "index.html").read_text(encoding="utf-8"),
                            headers={"Cache-Control": "no-cache"})

    @app.get("/app/{name}")
    async def asset(name: str):
        if name == "report.css":  # the report's styles, shared by the page
            return FileResponse(REPORT_DIR / name, media_type="text/css")
        if name not in ASSETS:
            raise ApiError(404, f"no asset {name!r}")
        return FileResponse(WEBAPP_DIR / name, media_type=ASSETS[name])

    @app.get("/v1/files")
    async def listing():
        return await run_in_threadpool(media.listing)

    @app.get("/v1/files/info")
    async def info(path: str = ""):
        return await run_in_threadpool(media.info, path)

    @app.get("/v1/files/frame")
    async def frame(path: str = "", frame: int = 0):
        image = await run_in_threadpool(media.frame, path, frame)
        return Response(await run_in_threadpool(_png, image), media_type="image/png",
                        headers={"Cache-Control": "private, max-age=60"})

    @app.post("/v1/files/upload", status_code=201)
    async def upload(request: Request):
        async with request.form(max_files=1, max_fields=1) as form:
            file = form.get("file")
            if file is None or isinstance(file, str):
                raise ApiError(400, "send the video or photo as the multipart field 'file'", param="file")
            return await run_in_threadpool(media.save_upload, file.filename, file.file)

    @app.post("/v1/files/preview")
    async def preview(request: Request):
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "the body is not valid JSON") from None
        path, index, what = preview_prompt(body)
        image = await run_in_threadpool(media.frame, path, index)
        mask = await run_in_threadpool(select, server, image, what)
        if mask is None or not mask.any():
            where = f"class {what!r}" if isinstance(what, str) else f"the {what.kind}"
            raise ApiError(404, f"no object found under {where} on frame {index}: point inside an object, or draw "
                           "a box around it", param="points")
        return mask_json(mask)
