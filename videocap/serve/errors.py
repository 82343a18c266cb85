"""Errors a client is told about, in OpenAI's JSON error shape: ``{"error": {"message", "type", "param",
"code"}}`` with a one-line message, and the HTTP status that goes with each."""

from __future__ import annotations

TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 409: "conflict_error",
         413: "invalid_request_error", 429: "rate_limit_error", 503: "server_error", 504: "timeout_error"}


class ApiError(Exception):
    """A request the server cannot answer as asked: ``status``, a one-line ``message`` saying what is wrong and
    what to do, and optionally the request field (``param``) at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, one_line(message), param, code
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict:
    return {"error": {"message": one_line(message), "type": TYPES.get(status, "server_error"), "param": param,
                      "code": code}}


def one_line(text: str, limit: int = 500) -> str:
    """``text`` on one line, at most ``limit`` characters: never a traceback, never a page."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"
