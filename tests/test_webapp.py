"""The web app of ``videocap serve`` in headless Chromium (CDP): a real server on 127.0.0.1 with the demo
models, real mouse and key events on the frame, the caption streamed by the chat API, a job with its progress
bar and report; nothing loaded from anywhere but the server."""

from __future__ import annotations

import json

import httpx
import pytest
from cdp import Browser, find_chromium
from served import Served

FRAME = 50  # 2 s into the sample: the red circle is over the square, the blue one at the top right
RED = (160, 150)  # the red circle's centre on frame 50 (samples/shapes.truth.json)
BLUE_BOX = (178, 48, 222, 92)  # around the blue circle on frame 50


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Served(tmp_path_factory.mktemp("webapp"))
    (served.root / "photos").mkdir()
    (served.root / "<img src=x onerror=alert(1)> & 'q'.mp4").write_bytes(b"not a video")
    (served.root / "notes.txt").write_text("not media")
    yield served
    assert served.stop() == 0
    assert "Traceback" not in "".join(served.lines)


@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium: install it (apt-get install -y chromium) to run the web app's browser tests")
    with Browser(executable, timeout=60) as b:
        yield b


def open_app(browser, server, query: str = "?path=shapes.mp4", width: int = 1280, height: int = 800):
    page = browser.page(server.url + "/" + query, width, height)
    if "path=" in query:
        assert page.wait_for("document.getElementById('vc-frame').naturalWidth > 0 && state.info !== null")
    return page


def go_to_frame(page, frame: int) -> None:
    page.eval(f"""(() => {{ const s = document.getElementById('vc-scrub'); s.value = '{frame}';
        s.dispatchEvent(new Event('input')); }})()""")
    assert page.wait_for(f"state.frame === {frame} && document.getElementById('vc-frame').complete && "
                         f"document.getElementById('vc-time').textContent.startsWith('frame {frame} ')")


def on_frame(page, x: float, y: float) -> tuple[float, float]:
    """Viewport pixels of source pixel (x, y) of the shown frame, by the element's natural size."""
    return tuple(page.eval(f"""(() => {{ const img = document.getElementById('vc-frame');
        const r = img.getBoundingClientRect();
        return [r.left + {x} * r.width / img.naturalWidth, r.top + {y} * r.height / img.naturalHeight]; }})()"""))


def describe(page) -> tuple[str, int]:
    """Press Describe; the caption when it has streamed in, and how many times its text grew."""
    page.eval("""window.grew = 0; new MutationObserver(() => { window.grew += 1; }).observe(
        document.getElementById('vc-caption'), {childList: true, characterData: true, subtree: true});""")
    page.eval("document.getElementById('vc-describe').click()")
    assert page.wait_for("document.getElementById('vc-caption').dataset.state === 'done'", timeout=60)
    return page.eval("document.getElementById('vc-caption').textContent"), page.eval("window.grew")


def only_local(page, server) -> None:
    outside = [url for url in page.requests if not url.startswith((server.url, "data:", "blob:", "about:"))]
    assert outside == []


def test_click_the_red_circle_and_its_caption_streams_in(browser, server):
    page = open_app(browser, server)
    assert page.eval("document.getElementById('vc-frame').naturalWidth") == 320
    go_to_frame(page, FRAME)
    page.click(*on_frame(page, *RED))
    assert page.wait_for("state.mask !== null")
    assert page.eval("state.points") == [list(RED)] and page.eval("state.labels") == [1]
    tint = page.eval(f"""(() => {{ const c = document.getElementById('vc-overlay'), img = document.getElementById('vc-frame');
        const at = (x, y) => c.getContext('2d').getImageData(Math.round(x * c.width / img.naturalWidth),
                                                            Math.round(y * c.height / img.naturalHeight), 1, 1).data;
        return [at({RED[0] + 12}, {RED[1]}), at(10, 10)]; }})()""")
    assert list(tint[0].values())[2] > 200 and list(tint[1].values())[3] == 0  # the circle tinted, elsewhere clear
    preview = httpx.post(server.url + "/v1/files/preview", json={"path": "shapes.mp4", "frame": FRAME,
                                                                 "points": [list(RED)]}).json()
    assert 135 <= preview["box"][0] <= 145 and 176 <= preview["box"][2] <= 186  # the red circle's box
    text, grew = describe(page)
    assert "red circle" in text.lower() and grew > 2, (text, grew)  # streamed token by token
    assert page.eval("document.getElementById('vc-error').hidden")
    assert page.errors == []
    only_local(page, server)


def test_a_box_selects_the_blue_circle_and_shift_click_adds_background(browser, server):
    page = open_app(browser, server)
    go_to_frame(page, FRAME)
    page.drag(on_frame(page, *BLUE_BOX[:2]), on_frame(page, *BLUE_BOX[2:]))
    assert page.wait_for("state.mask !== null")
    box = page.eval("state.box")
    assert all(abs(a - b) <= 2 for a, b in zip(box, BLUE_BOX)), box
    text, _ = describe(page)
    assert "blue circle" in text.lower(), text
    page.eval("document.getElementById('vc-clear').click()")
    page.click(*on_frame(page, *RED))
    assert page.wait_for("state.mask !== null")
    page.click(*on_frame(page, 20, 20), modifiers=8)  # shift: a background point
    assert page.wait_for("state.labels.length === 2 && state.mask !== null")
    assert page.eval("state.labels") == [1, 0]
    assert page.errors == []


def test_the_keyboard_alone_points_and_steps_frames(browser, server):
    page = open_app(browser, server)
    page.eval("document.getElementById('vc-frame').focus()")
    page.key(".", "Period")
    assert page.wait_for("state.frame === 1")
    page.key(",", "Comma")
    assert page.wait_for("state.frame === 0")
    for _ in range(2):
        page.key("ArrowDown")
    page.key("Enter")
    assert page.wait_for("state.points.length === 1")
    x, y = page.eval("state.points[0]")
    assert x == 160 and y > 120  # from the centre, two steps down
    page.key("Escape")
    assert page.wait_for("state.points.length === 0 && state.mask === null")
    assert page.errors == []


def test_a_class_selects_without_pointing(browser, server):
    page = open_app(browser, server)
    go_to_frame(page, FRAME)
    page.eval("""(() => { const c = document.getElementById('vc-class'); c.value = 'circle';
        c.dispatchEvent(new Event('change')); })()""")
    assert page.wait_for("state.mask !== null")
    text, _ = describe(page)
    assert "circle" in text.lower()
    assert page.errors == []


def test_track_and_caption_runs_a_job_with_progress_then_its_report_plays(browser, server):
    page = open_app(browser, server)
    go_to_frame(page, FRAME)
    page.click(*on_frame(page, *RED))
    assert page.wait_for("state.mask !== null")
    page.eval("document.getElementById('vc-label').value = 'ball'")
    page.eval("window.seen = []; setInterval(() => window.seen.push(document.getElementById('vc-progress').value), 50)")
    page.eval("document.getElementById('vc-run').click()")
    assert page.wait_for("!document.getElementById('result').hidden", timeout=240), page.eval(
        "document.getElementById('vc-error').textContent")
    seen = page.eval("window.seen")
    assert seen[-1] == 1 and any(0 < v < 1 for v in seen), seen  # the bar moved on its way
    report = "document.getElementById('vc-report').contentDocument"
    assert page.wait_for(f"!!({report} && {report}.readyState === 'complete' && {report}.getElementById('video'))")
    played = page.eval(f"""(async () => {{ const v = {report}.getElementById('video'); v.muted = true;
        if (v.readyState < 1) await new Promise((r) => v.addEventListener('loadedmetadata', r, {{once: true}}));
        await v.play(); await new Promise((r) => setTimeout(r, 600)); v.pause(); return v.currentTime; }})()""")
    assert played > 0.2
    files = page.eval("[...document.querySelectorAll('#vc-files a')].map((a) => a.textContent)")
    assert {"captions.json", "captioned.mp4", "report.html", "ball-1.srt"} <= set(files)
    job = httpx.get(server.url + "/v1/jobs").json()["data"][0]
    assert job["status"] == "done" and job["request"]["prompts"] == [{"point": f"{RED[0]},{RED[1]}@{FRAME}",
                                                                      "label": "ball"}]
    data = json.loads(httpx.get(server.url + f"/v1/jobs/{job['id']}/files/captions.json").text)
    (track,) = data["tracks"]
    assert track["label"].startswith("ball") and "red" in track["captions"][0]["text"].lower()
    assert page.wait_for("document.querySelector('#vc-jobs tbody tr td:nth-child(2)').textContent === 'done'")
    assert page.errors == []
    only_local(page, server)


def test_file_names_are_text_and_errors_one_line(browser, server):
    page = open_app(browser, server, "")
    assert page.wait_for("document.getElementById('vc-file').options.length > 1")
    names = page.eval("[...document.getElementById('vc-file').options].map((o) => o.textContent)")
    assert "<img src=x onerror=alert(1)> & 'q'.mp4 (video)" in names and not any("notes.txt" in n for n in names)
    assert page.eval("document.querySelectorAll('#vc-file img').length") == 0
    page.eval("""(() => { const f = document.getElementById('vc-file'); f.value = "<img src=x onerror=alert(1)> & 'q'.mp4";
        f.dispatchEvent(new Event('change')); })()""")
    assert page.wait_for("!document.getElementById('vc-error').hidden")
    error = page.eval("document.getElementById('vc-error').textContent")
    assert "not a readable video" in error and "\n" not in error
    outside = browser.page(server.url + "/?path=../secret.mp4")
    assert outside.wait_for("!document.getElementById('vc-error').hidden")
    assert "without '..'" in outside.eval("document.getElementById('vc-error').textContent")
    page.eval("document.getElementById('vc-describe').click()")
    assert page.wait_for("document.getElementById('vc-error').textContent.startsWith('open a video')")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_readable_at_desktop_and_phone_width(browser, server, width, height):
    page = open_app(browser, server, width=width, height=height)
    assert page.eval("document.documentElement.scrollWidth") <= width
    frame = page.eval("document.getElementById('vc-frame').getBoundingClientRect().width")
    assert frame >= min(320, width - 40)
    assert page.eval("getComputedStyle(document.getElementById('vc-describe')).display") != "none"


def test_uploads_open_in_the_page(browser, server):
    from videocap.resources import SAMPLE_VIDEO

    page = open_app(browser, server, "")
    upload = page.browser.send("Runtime.evaluate", {"expression": "document.getElementById('vc-upload')"},
                               page.session)["result"]["objectId"]
    page.browser.send("DOM.setFileInputFiles", {"files": [str(SAMPLE_VIDEO)], "objectId": upload}, page.session)
    assert page.wait_for("state.path !== null && state.path.startsWith('@upload/') && "
                         "document.getElementById('vc-frame').naturalWidth === 320")
    assert page.eval("state.path").endswith("/shapes.mp4") and page.eval("state.upload.name") == "shapes.mp4"
    with open(SAMPLE_VIDEO, "rb") as video:
        saved = httpx.post(server.url + "/v1/files/upload", files={"file": ("my clip.MP4", video)}).json()
    assert saved["path"].startswith("@upload/") and saved["path"].endswith("/my-clip.mp4")
    info = httpx.get(server.url + "/v1/files/info", params={"path": saved["path"]}).json()
    assert info["frame_count"] == 100
    bad = httpx.post(server.url + "/v1/files/upload", files={"file": ("x.exe", b"MZ")})
    assert bad.status_code == 400 and "not a video or photo" in bad.json()["error"]["message"]
    escape = httpx.get(server.url + "/v1/files/info", params={"path": "@upload/../../jobs"})
    assert escape.status_code == 400
    assert page.errors == []


def test_with_an_api_key_the_page_asks_for_it_once(browser, tmp_path):
    served = Served(tmp_path, "--api-key", "sesame")
    try:
        assert httpx.get(served.url + "/").status_code == 200
        assert httpx.get(served.url + "/v1/files").status_code == 401
        page = browser.page(served.url + "/?path=shapes.mp4")
        assert page.wait_for("document.getElementById('vc-key-dialog').open")
        page.eval("document.getElementById('vc-key').value = 'wrong'; document.getElementById('vc-key-form')"
                  ".requestSubmit()")
        assert page.wait_for("document.getElementById('vc-key').value === ''")
        page.eval("document.getElementById('vc-key').value = 'sesame'; document.getElementById('vc-key-form')"
                  ".requestSubmit()")
        assert page.wait_for("document.getElementById('vc-frame').naturalWidth === 320")
        assert not page.eval("document.getElementById('vc-key-dialog').open")
    finally:
        assert served.stop() == 0


@pytest.mark.parametrize("body, says", [
    ({"box": [50, 50, 10, 10]}, "x2 > x1"),
    ({"points": [[10, 10]], "labels": [0]}, "at least one 1"),
    ({"points": [[500, 10]]}, "outside the 320x240 frame"),
    ({"class": " "}, "give a class name"),
    ({"points": [[160, 150]], "box": [1, 1, 9, 9]}, "exactly one of"),
    ({"points": "here"}, "points"),
])
def test_a_bad_preview_is_a_400_with_one_line(server, body, says):
    answer = httpx.post(server.url + "/v1/files/preview", json={"path": "shapes.mp4", "frame": FRAME, **body})
    message = answer.json()["error"]["message"]
    assert answer.status_code == 400 and says in message and "\n" not in message, message
