"""The HTTP face of ``videocap serve``: an OpenAI-compatible DAM API and a jobs API, on FastAPI.

Routes: the web app at ``/`` (``videocap.serve.webapp``); ``GET /health``; ``GET /v1/models``;
``POST /v1/chat/completions`` and ``POST /chat/completions`` (the reference server's path: its clients work unchanged); ``POST /v1/jobs``, ``GET /v1/jobs``,
``GET|DELETE /v1/jobs/{id}``, ``GET /v1/jobs/{id}/events`` (SSE), ``/files/{name}`` and ``/report``.

Every error is OpenAI's JSON error shape with a one-line message (``videocap.serve.errors``); bodies are
bounded before they are read, and with an API key every route but ``/health`` wants the Bearer token.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    StreamingResponse,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from videocap.dam.continuous import Request as DamRequest
from videocap.dam.continuous import prepare_request
from videocap.dam.records import DamInput
from videocap.segment.prompted import photo_region
from videocap.serve.chat import (
    MODEL_ALIAS,
    ChatCall,
    Sampling,
    chunk,
    completion,
    new_id,
    parse_chat,
    usage_chunk,
)
from videocap.serve.engine import Closed, Engine, QueueFull
from videocap.serve.errors import ApiError, error_body, one_line
from videocap.serve.jobs import ENDED, JobStore
from videocap.serve.webapp import Media, add_webapp_routes

log = logging.getLogger("videocap.serve")

DISCONNECT_POLL_S = 0.25  # how often an unstreamed request looks whether its client is still there


@dataclass
class Server:
    """What the routes share: the loaded DAM and its engine, the jobs, and the limits."""

    model: object
    model_name: str
    engine: Engine
    jobs: JobStore
    sampling: Sampling
    timeout_s: float = 300.0
    segmenter_factory: object = None  # () -> a photo segmenter, for requests that give a `region`
    _segmenter: object = None
    _segmenter_lock: threading.Lock = field(default_factory=threading.Lock)

    def names(self) -> set[str]:
        return {MODEL_ALIAS, self.model_name}

    def dam_request(self, call: ChatCall) -> DamRequest:
        """The prepared DAM request of a parsed call (masks from its region first): CPU work, off the loop."""
        masks = [m if m is not None else self._region_mask(call, n, frame) for n, (frame, m) in
                 enumerate(zip(call.frames, call.masks))]
        try:
            request = prepare_request(self.model, DamInput(call.frames, masks, call.question), call.max_new_tokens,
                                      call.temperature, call.top_p, call.seed)
        except ValueError as exc:
            raise ApiError(400, str(exc), param="messages") from None
        limit = self.model.config.max_length
        if limit and request.prompt_tokens > limit:
            raise ApiError(400, f"{len(call.frames)} image(s) and the query make a prompt of {request.prompt_tokens} "
                           f"tokens, more than the {limit} this model takes: send fewer frames or a shorter query",
                           param="messages")
        return request

    @contextlib.contextmanager
    def segmenter(self):
        """The photo segmenter (loaded at the first use), held by one request at a time."""
        if self.segmenter_factory is None:
            raise ApiError(400, "region: this server has no segmenter; send the region as the alpha channel or masks",
                           param="region")
        with self._segmenter_lock:
            if self._segmenter is None:
                self._segmenter = self.segmenter_factory()
            yield self._segmenter

    def _region_mask(self, call: ChatCall, n: int, frame):
        height, width = frame.shape[:2]
        coords = list(call.region.points) + ([call.region.box[:2], call.region.box[2:]] if call.region.box else [])
        if any(not (0 <= x <= width and 0 <= y <= height) for x, y in coords):
            raise ApiError(400, f"region: a coordinate is outside image {n + 1} ({width}x{height} pixels)",
                           param="region")
        with self.segmenter() as segmenter:
            mask = photo_region(segmenter, frame, call.region)
        if mask is None or not mask.any():
            raise ApiError(400, f"region: no object under the {call.region.kind} on image {n + 1}: point inside an "
                           "object, or send its mask as the alpha channel", param="region")
        return mask


def make_app(server: Server, max_body_bytes: int = 32 << 20, api_key: str | None = None,
             max_open: int = 256) -> FastAPI:
    """The app over ``server``: bodies up to ``max_body_bytes``, at most ``max_open`` requests at once (then
    503), the Bearer ``api_key`` when one is given."""
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await run_in_threadpool(server.jobs.close, 30.0)
        await run_in_threadpool(server.engine.close, 30.0)

    app = FastAPI(title="videocap", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    _add_error_handlers(app)
    _add_chat_routes(app, server)
    _add_job_routes(app, server)
    add_webapp_routes(app, server, Media(server.jobs.root, server.jobs.folder.parent))
    _add_session_route(app, api_key)
    app.add_middleware(Limits, max_body_bytes=max_body_bytes, api_key=api_key, max_open=max_open)
    return app


# -- errors and limits --

def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        message = {404: f"no route {request.url.path}: see GET /v1/models, POST /v1/chat/completions, /v1/jobs",
                   405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(error_body(500, f"internal error: {type(exc).__name__}: {exc}"), status_code=500)


class Limits:
    """ASGI middleware: the Bearer token (with an API key; not on /health), the number of open requests and
    the body limit, before any handler reads a byte; a body that passes the limit while streaming in is a 413."""

    def __init__(self, app, max_body_bytes: int, api_key: str | None, max_open: int) -> None:
        self.app, self.max_body, self.api_key, self.max_open = app, max_body_bytes, api_key, max_open
        self.open = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.open >= self.max_open and scope["path"] != "/health":
            return await _send_error(send, 503, f"{self.open} requests are open, this server's most: try again "
                                     "shortly", {"retry-after": "1"})
        self.open += 1
        try:
            await self._checked(scope, receive, send)
        finally:
            self.open -= 1

    async def _checked(self, scope, receive, send):
        headers = dict(scope["headers"])
        if self.api_key and not _open_path(scope["path"]) and not self._authorized(headers):
            return await _send_error(send, 401, "missing or wrong API key: send the header 'Authorization: Bearer "
                                     "<key>' with the key the server was started with", {"www-authenticate": "Bearer"})
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            if not length.isdigit():
                return await _send_error(send, 400, "the Content-Length header is not a number")
            return await _send_error(send, 413, f"the body is {int(length)} bytes, more than this server's limit of "
                                     f"{self.max_body} (--max-body-mb): send smaller images or fewer frames")
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise ApiError(413, f"the body is more than this server's limit of {self.max_body} bytes "
                               "(--max-body-mb): send smaller images or fewer frames")
            return message

        await self.app(scope, counted, send)

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        """The Bearer token, or the web app's session cookie (see ``_add_session_route``)."""
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            return True
        cookies = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1"))
        given = cookies.get(SESSION_COOKIE)
        return given is not None and hmac.compare_digest(given.value.encode(), session_token(self.api_key).encode())


SESSION_COOKIE = "videocap_session"


def session_token(api_key: str) -> str:
    """What the session cookie holds: derived from the key, so the key itself is never stored in the browser."""
    return hmac.new(api_key.encode(), b"videocap web app session", hashlib.sha256).hexdigest()


def _open_path(path: str) -> bool:
    """Routes open without the key: health, and the web app's page and assets (its API calls want the key)."""
    return path in ("/health", "/", "/v1/session") or path.startswith("/app/")


def _add_session_route(app: FastAPI, api_key: str | None) -> None:
    @app.post("/v1/session")
    async def session(request: Request):
        """The web app signs in: the right key gives a cookie (same site only) that stands for the Bearer token."""
        body = await _json_body(request)
        key = body.get("key") if isinstance(body, dict) else None
        if api_key is None:
            return {"object": "session", "signed_in": True}
        if not isinstance(key, str) or not hmac.compare_digest(key.encode(), api_key.encode()):
            raise ApiError(401, "wrong API key: give the key the server was started with (--api-key)")
        response = JSONResponse({"object": "session", "signed_in": True})
        response.set_cookie(SESSION_COOKIE, session_token(api_key), httponly=True, samesite="strict", path="/")
        return response


async def _send_error(send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(error_body(status, message)).encode()
    extra = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


async def _json_body(request: Request) -> object:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}") from None


# -- the DAM API --

def _add_chat_routes(app: FastAPI, server: Server) -> None:
    @app.get("/health")
    async def health():
        return {"status": "ok", "model": server.model_name, "engine": server.engine.load(),
                "jobs": {s: sum(j.status == s for j in server.jobs.jobs.values())
                         for s in ("queued", "running", *ENDED)}}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model_card(server)]}

    @app.get("/v1/models/{name:path}")
    async def model(name: str):
        if name not in server.names():
            raise ApiError(404, f"no model {name!r}: this server serves {server.model_name!r}", param="model")
        return _model_card(server)

    @app.post("/v1/chat/completions")
    async def chat_v1(request: Request):
        return await _chat(server, request, text_parts=False)

    @app.post("/chat/completions")
    async def chat_reference(request: Request):
        return await _chat(server, request, text_parts=True)


def _model_card(server: Server) -> dict:
    return {"id": server.model_name, "object": "model", "created": 0, "owned_by": "videocap"}


async def _chat(server: Server, request: Request, text_parts: bool):
    data = await _json_body(request)
    call = await run_in_threadpool(parse_chat, data, server.sampling)
    if call.model not in server.names():
        raise ApiError(404, f"no model {call.model!r}: this server serves {server.model_name!r} (or ask for "
                       f"{MODEL_ALIAS!r})", param="model", code="model_not_found")
    dam_request = await run_in_threadpool(server.dam_request, call)
    try:
        steps = server.engine.stream(dam_request)
    except QueueFull:
        raise ApiError(429, "the server is busy: every row and the waiting line are taken; try again shortly",
                       headers={"Retry-After": "1"}) from None
    except Closed:
        raise ApiError(503, "the server is shutting down") from None
    deadline = time.monotonic() + server.timeout_s
    if call.stream:
        events = _stream_events(server, call, dam_request, steps, deadline, text_parts)
        return StreamingResponse(events, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    text, finish = await _collect(server, request, dam_request, steps, deadline)
    return completion(new_id(), call.model, text, finish, dam_request.prompt_tokens, len(dam_request.ids))


async def _collect(server: Server, request: Request, dam_request: DamRequest, steps, deadline: float):
    """The whole answer; a client that leaves frees its row at once."""
    async def answer():
        pieces, finish = [], None
        async with asyncio.timeout_at(_loop_time(deadline)):
            async for step in steps:
                pieces.append(step.text)
                finish = step.finish
        return "".join(pieces), finish

    task = asyncio.ensure_future(answer())
    try:
        while not task.done():
            await asyncio.wait([task], timeout=DISCONNECT_POLL_S)
            if not task.done() and await request.is_disconnected():
                task.cancel()
                server.engine.cancel(dam_request)
                raise ApiError(499, "the client went away")
        return task.result()
    except TimeoutError:
        server.engine.cancel(dam_request)
        raise ApiError(504, f"no answer within {server.timeout_s:g} s: try again, or ask for fewer max_tokens") from None
    except RuntimeError as exc:
        raise ApiError(500, str(exc)) from None
    finally:
        if not task.done():
            task.cancel()


async def _stream_events(server: Server, call: ChatCall, dam_request: DamRequest, steps, deadline: float,
                         text_parts: bool):
    call_id, created = new_id(), int(time.time())

    def event(data: dict) -> str:
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield event(chunk(call_id, call.model, created, {"role": "assistant", "content": ""}, None, text_parts))
    try:
        async with asyncio.timeout_at(_loop_time(deadline)):
            async for step in steps:
                if step.text:
                    yield event(chunk(call_id, call.model, created, {"content": step.text}, None, text_parts))
                if step.finish:
                    yield event(chunk(call_id, call.model, created, {}, step.finish, text_parts))
    except TimeoutError:
        server.engine.cancel(dam_request)
        yield event(error_body(504, f"no answer within {server.timeout_s:g} s"))
    except RuntimeError as exc:
        yield event(error_body(500, one_line(str(exc))))
    if call.include_usage:
        yield event(usage_chunk(call_id, call.model, created, dam_request.prompt_tokens, len(dam_request.ids)))
    yield "data: [DONE]\n\n"


def _loop_time(deadline: float) -> float:
    """A ``time.monotonic`` deadline on the running loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


# -- the jobs API --

def _add_job_routes(app: FastAPI, server: Server) -> None:
    jobs = server.jobs

    @app.post("/v1/jobs", status_code=201)
    async def submit(request: Request):
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            return (await _submit_upload(jobs, request)).to_json()
        data = await _json_body(request)
        return (await run_in_threadpool(jobs.submit, data)).to_json()

    @app.get("/v1/jobs")
    async def listing():
        return {"object": "list", "data": [job.to_json() for job in reversed(list(jobs.jobs.values()))]}

    @app.get("/v1/jobs/{job_id}")
    async def status(job_id: str):
        return jobs.get(job_id).to_json()

    @app.delete("/v1/jobs/{job_id}")
    async def cancel(job_id: str):
        return jobs.cancel(job_id).to_json()

    @app.get("/v1/jobs/{job_id}/events")
    async def events(job_id: str):
        job = jobs.get(job_id)
        return StreamingResponse(_job_events(job), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/jobs/{job_id}/files/{name}")
    async def file(job_id: str, name: str):
        return FileResponse(jobs.file(job_id, name))

    @app.get("/v1/jobs/{job_id}/report")
    async def report(job_id: str):
        jobs.file(job_id, "report.html")  # 404 unless the run is done
        return RedirectResponse(f"/v1/jobs/{job_id}/files/report.html", status_code=307)


async def _submit_upload(jobs: JobStore, request: Request):
    async with request.form(max_files=1, max_fields=4) as form:
        upload, settings = form.get("file"), form.get("settings") or "{}"
        if upload is None or isinstance(upload, str):
            raise ApiError(400, "a multipart job needs the video as the 'file' field (and its settings as JSON in "
                           "'settings')", param="file")
        try:
            data = json.loads(settings)
        except ValueError as exc:
            raise ApiError(400, f"settings: not valid JSON: {exc}", param="settings") from None
        return await run_in_threadpool(jobs.submit, data, (upload.filename or "upload.mp4", upload.file))


async def _job_events(job):
    """SSE: the job's status, progress and each caption as it comes, until it ends."""
    def event(name: str, data: dict) -> str:
        return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    status = progress = None
    sent = 0
    while True:
        ended = job.status in ENDED  # read first: what follows is then complete
        if job.status != status:
            status = job.status
            yield event("status", {"status": status, "error": job.error})
        if job.progress != progress:
            progress = dict(job.progress)
            yield event("progress", progress)
        while sent < len(job.captions):
            yield event("caption", job.captions[sent])
            sent += 1
        if ended:
            yield event("end", {"status": job.status, "error": job.error, "files": job.files()})
            return
        await asyncio.sleep(0.2)


def model_name(dam: str) -> str:
    """What the server calls its DAM: a hub id as it is, a local folder by its name."""
    path = Path(dam)
    return path.name if path.exists() else dam
