"""A small driver of headless Chromium over its DevTools protocol (``--remote-debugging-pipe``), for the
report's browser tests and the README screenshot script: no package beyond the system browser.

The browser reads commands (JSON, each ended by a NUL byte) on its fd 3 and writes replies and events
on its fd 4. ``Browser.page(url)`` opens a tab at a fixed viewport; ``Page.eval`` runs JavaScript and
returns its value (awaiting promises); console errors, uncaught exceptions and failed loads collect in
``Page.errors``.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--remote-debugging-pipe"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


class CdpError(RuntimeError):
    pass


class Browser:
    def __init__(self, executable: str, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="videocap-chromium-")
        to_browser_r, self._write_fd = os.pipe()
        self._read_fd, from_browser_w = os.pipe()

        # In the child between fork and exec (only dup calls, safe with threads): its fd 3 reads our
        # commands, its fd 4 carries the replies.
        def wire_fds() -> None:
            read_end, write_end = os.dup(to_browser_r), os.dup(from_browser_w)  # never 3 or 4 themselves
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                                        preexec_fn=wire_fds, close_fds=False, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read_fd], [], [], left)[0]:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._read_fd, 1 << 20)
            if not chunk:
                raise CdpError("Chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise CdpError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float | None = None) -> dict:
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for n, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(n)
            self.events.append(self._read_message(deadline))

    def page(self, url: str, width: int = 1280, height: int = 800) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        page = Page(self, session)
        self.send("Page.navigate", {"url": url}, session)
        self.wait_event("Page.loadEventFired", session)
        return page

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except (CdpError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._write_fd)
        os.close(self._read_fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session

    def eval(self, expression: str):
        reply = self.browser.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                       "returnByValue": True}, self.session)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            raise CdpError(f"{(details.get('exception') or {}).get('description') or details.get('text')}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0, poll: float = 0.1):
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(poll)

    @property
    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported so far on this page."""
        self.eval("0")  # collects the events that arrived since the last command
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("exception", {}).get("description") or
                             params["exceptionDetails"].get("text"))
            elif event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif event.get("method") == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}".strip())
        return found

    @property
    def requests(self) -> list[str]:
        """The URL of every request this page made so far."""
        self.eval("0")
        return [e["params"]["request"]["url"] for e in self.browser.events
                if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"]

    def mouse(self, kind: str, x: float, y: float, modifiers: int = 0) -> None:
        """A real mouse event at viewport pixels (x, y): kind mousePressed, mouseReleased or mouseMoved;
        modifiers 8 holds Shift."""
        self.browser.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                                       "buttons": 0 if kind == "mouseReleased" else 1,
                                                       "clickCount": 1, "modifiers": modifiers}, self.session)

    def click(self, x: float, y: float, modifiers: int = 0) -> None:
        self.mouse("mousePressed", x, y, modifiers)
        self.mouse("mouseReleased", x, y, modifiers)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 5) -> None:
        self.mouse("mousePressed", *start)
        for n in range(1, steps + 1):
            self.mouse("mouseMoved", start[0] + (end[0] - start[0]) * n / steps,
                       start[1] + (end[1] - start[1]) * n / steps)
        self.mouse("mouseReleased", *end)

    def key(self, key: str, code: str | None = None, modifiers: int = 0) -> None:
        """A real key press (keyDown and keyUp) on the focused element."""
        params = {"key": key, "code": code or key, "modifiers": modifiers,
                  "windowsVirtualKeyCode": {"Enter": 13, "ArrowLeft": 37, "ArrowUp": 38, "ArrowRight": 39,
                                            "ArrowDown": 40, "Escape": 27, ",": 188, ".": 190}.get(key, 0)}
        if key == "Enter" or len(key) == 1:
            params["text"] = "\r" if key == "Enter" else key
        self.browser.send("Input.dispatchKeyEvent", {"type": "keyDown", **params}, self.session)
        self.browser.send("Input.dispatchKeyEvent", {"type": "keyUp", **params}, self.session)

    def resize(self, width: int, height: int) -> None:
        self.browser.send("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, self.session)

    def screenshot(self, path: str | Path) -> Path:
        data = self.browser.send("Page.captureScreenshot", {"format": "png"}, self.session)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with byte ranges (``Range: bytes=a-b``), as real web servers serve video."""

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        ranged = self.headers.get("Range", "")
        path = Path(self.translate_path(self.path))
        if not ranged.startswith("bytes=") or not path.is_file():
            return super().send_head()
        size = path.stat().st_size
        first, _, last = ranged[6:].split(",")[0].partition("-")
        start = int(first) if first else max(size - int(last), 0)
        end = min(int(last), size - 1) if first and last else size - 1
        handle = path.open("rb")
        handle.seek(start)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self._left = end - start + 1
        return handle

    def copyfile(self, source, outputfile) -> None:
        left = getattr(self, "_left", None)
        if left is None:
            return super().copyfile(source, outputfile)
        while left > 0 and (chunk := source.read(min(left, 1 << 16))):
            outputfile.write(chunk)
            left -= len(chunk)


class Server:
    """A folder served over HTTP on localhost (a free port), in a thread."""

    def __init__(self, folder: str | Path) -> None:
        handler = functools.partial(_RangeHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
