"""``videocap serve`` as a program: a real server on 127.0.0.1 (a subprocess with the demo models), asked with
the official ``openai`` client and raw HTTP in the reference's format."""

from __future__ import annotations

import base64
import io
import json
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
from PIL import Image
from served import Served

from videocap.resources import SAMPLE_VIDEO
from videocap.synthetic import make_clip

MODEL = "describe_anything_model"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    served = Served(tmp_path_factory.mktemp("serve"), "--max-body-mb", "2", "--max-batch", "8")
    yield served
    assert served.stop() == 0
    assert "Traceback" not in "".join(served.lines)


def objects(count: int) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    items = []
    for seed in range(count):
        clip = make_clip(seed, num_frames=8, num_objects=1)
        (key,) = clip.masks[0]
        frames, masks = clip.frames, [m[key] for m in clip.masks]
        items.append((frames[:1], masks[:1]) if seed % 2 else (frames, masks))
    return items


def data_url(frame: np.ndarray, mask: np.ndarray | None, mode: str = "RGBA") -> str:
    img = Image.fromarray(np.dstack([frame, mask.astype(np.uint8) * 255]) if mask is not None else frame)
    buf = io.BytesIO()
    img.convert(mode).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def messages(frames, masks, text: str = "") -> list[dict]:
    parts = [{"type": "image_url", "image_url": {"url": data_url(f, m)}} for f, m in zip(frames, masks)]
    return [{"role": "user", "content": parts + ([{"type": "text", "text": text}] if text else [])}]


def test_the_openai_client_gets_the_single_request_caption_streamed_or_not(server, dam):
    frames, masks = objects(1)[0]
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x")
    answer = client.chat.completions.create(model=MODEL, messages=messages(frames, masks), temperature=0)
    expected = dam.describe(frames, masks, temperature=0)
    assert answer.choices[0].message.content == expected and answer.choices[0].finish_reason == "stop"
    ids = dam.generate_ids(frames, masks)
    assert answer.usage.completion_tokens == len(ids) and answer.usage.prompt_tokens > 8 * 16
    chunks = list(client.chat.completions.create(model="shapes-dam", messages=messages(frames, masks), temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 2  # token by token
    assert chunks[-1].usage.completion_tokens == len(ids)
    assert [m.id for m in client.models.list()] == ["shapes-dam"]


def test_seed_temperature_and_max_tokens_are_honoured(server, dam):
    frames, masks = objects(2)[1]
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="x")
    sampled = client.chat.completions.create(model=MODEL, messages=messages(frames, masks), temperature=0.9, top_p=0.9,
                                             seed=5)
    assert sampled.choices[0].message.content == dam.describe(frames, masks, temperature=0.9, top_p=0.9, seed=5)
    short = client.chat.completions.create(model=MODEL, messages=messages(frames, masks), max_tokens=2, temperature=0)
    assert short.choices[0].finish_reason == "length" and short.usage.completion_tokens == 2


def test_the_reference_format_on_its_path_streams_text_parts_and_ends_with_done(server, dam):
    frames, masks = objects(2)[1]
    body = {"model": MODEL, "messages": messages(frames, masks, "\nDescribe the masked region in detail."),
            "stream": True, "temperature": 0}
    with httpx.stream("POST", server.url + "/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    pieces = [p["text"] for e in events[:-1] for p in json.loads(e)["choices"][0]["delta"].get("content") or []]
    assert "".join(pieces) == dam.describe(frames, masks, query="Image: <image>\nDescribe the masked region in detail.",
                                           temperature=0)
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "stop"


def test_sixty_four_requests_from_sixteen_clients_all_get_their_sequential_answers(server, dam):
    items = objects(4)
    expected = [dam.describe(f, m, temperature=0) for f, m in items]
    bodies = [{"model": MODEL, "messages": messages(f, m), "temperature": 0} for f, m in items]

    def ask(n: int) -> tuple[int, str]:
        with httpx.Client(timeout=120) as client:
            answer = client.post(server.url + "/v1/chat/completions", json=bodies[n % 4]).json()
        return n, answer["choices"][0]["message"]["content"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, range(64)))
    assert [text for _, text in answers] == [expected[n % 4] for n in range(64)]
    assert httpx.get(server.url + "/health").json()["engine"]["running"] == 0


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and "\n" not in error["message"]
    assert "Traceback" not in response.text
    return error["message"]


def test_bad_requests_get_one_line_openai_errors(server):
    frames, masks = objects(2)[1]
    url = server.url + "/v1/chat/completions"
    assert "not valid JSON" in error_of(httpx.post(url, content=b"{bad"), 400)
    assert "no model 'gpt-4'" in error_of(httpx.post(url, json={"model": "gpt-4", "messages": messages(frames, masks)}),
                                          404)
    rgb = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(frames[0], None, "RGB")}}]}]
    assert "image 1 has no region" in error_of(httpx.post(url, json={"model": MODEL, "messages": rgb}), 400)
    empty = messages(frames, [np.zeros_like(masks[0])])
    assert "alpha channel is all 0" in error_of(httpx.post(url, json={"model": MODEL, "messages": empty}), 400)
    remote = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://example.com/a.png"}}]}]
    assert "fetches nothing" in error_of(httpx.post(url, json={"model": MODEL, "messages": remote}), 400)
    assert "no image" in error_of(httpx.post(url, json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
                                  400)
    assert "temperature" in error_of(httpx.post(url, json={"model": MODEL, "messages": messages(frames, masks),
                                                           "temperature": -1}), 400)
    big = b'{"model": "x", "pad": "' + b"a" * (3 << 20) + b'"}'
    assert "limit" in error_of(httpx.post(url, content=big), 413)
    assert "no route" in error_of(httpx.get(server.url + "/v2/nothing"), 404)


def test_a_region_prompt_is_segmented_by_the_servers_segmenter(server):
    frame = make_clip(3, num_frames=1, num_objects=1).frames[0]
    clip = make_clip(3, num_frames=1, num_objects=1)
    (mask,) = clip.masks[0].values()
    ys, xs = np.nonzero(mask)
    body = {"model": MODEL, "temperature": 0, "region": {"points": [[float(xs.mean()), float(ys.mean())]]},
            "messages": [{"role": "user", "content": [{"type": "image_url",
                                                       "image_url": {"url": data_url(frame, None, "RGB")}}]}]}
    answer = httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"].endswith(".")
    body["region"] = {"points": [[1.0, 1.0]]}  # a corner of the background
    assert "no object under" in error_of(httpx.post(server.url + "/v1/chat/completions", json=body, timeout=60), 400)


def test_a_job_captions_the_sample_with_events_files_and_report(server):
    api = server.url + "/v1/jobs"
    assert "without '..'" in error_of(httpx.post(api, json={"path": "../x.mp4", "classes": ["circle"]}), 400)
    assert "no such file" in error_of(httpx.post(api, json={"path": "none.mp4", "classes": ["circle"]}), 404)
    assert "unknown job setting" in error_of(httpx.post(api, json={"path": "shapes.mp4", "dam": "/etc"}), 400)
    job = httpx.post(api, json={"path": "shapes.mp4", "classes": ["circle"], "temperature": 0}).json()
    assert job["status"] in ("queued", "running")
    events = []
    with httpx.stream("GET", f"{api}/{job['id']}/events", timeout=300) as response:
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
    kinds = [name for name, _ in events]
    assert kinds[-1] == "end" and events[-1][1]["status"] == "done", events[-3:]
    assert kinds.count("caption") == 2 and "progress" in kinds
    assert any(d.get("stage") == "tracking" and 0 < d["fraction"] < 1 for n, d in events if n == "progress")
    state = httpx.get(f"{api}/{job['id']}").json()
    assert state["status"] == "done" and state["progress"]["fraction"] == 1.0
    assert {"captions.json", "captioned.mp4", "report.html"} <= set(state["files"])
    manifest = httpx.get(f"{api}/{job['id']}/files/captions.json").json()
    assert sorted(t["captions"][0]["text"] for t in manifest["tracks"]) == sorted(c["text"] for _, c in events
                                                                                 if _ == "caption")
    report = httpx.get(f"{api}/{job['id']}/report", follow_redirects=True)
    assert report.status_code == 200 and 'src="captioned.mp4"' in report.text
    video = httpx.get(str(report.url).rsplit("/", 1)[0] + "/captioned.mp4", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.content) == 100
    error_of(httpx.get(f"{api}/{job['id']}/files/..%2Fjob.json"), 404)
    assert "no file" in error_of(httpx.get(f"{api}/{job['id']}/files/job.json"), 404)
    assert "no job" in error_of(httpx.get(f"{api}/nope"), 404)


def test_an_uploaded_job_can_be_cancelled_and_leaves_no_partial_set(server):
    api = server.url + "/v1/jobs"
    with open(SAMPLE_VIDEO, "rb") as video:
        job = httpx.post(api, files={"file": ("my clip.mp4", video, "video/mp4")},
                         data={"settings": json.dumps({"classes": ["circle"]})}).json()
    assert job["request"]["upload"] == "my-clip.mp4"
    deadline = time.monotonic() + 120
    while httpx.get(f"{api}/{job['id']}").json()["status"] == "queued" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.delete(f"{api}/{job['id']}").status_code == 200
    while httpx.get(f"{api}/{job['id']}").json()["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    state = httpx.get(f"{api}/{job['id']}").json()
    assert state["status"] in ("cancelled", "done")
    out = server.data / "jobs" / job["id"] / "out"
    if state["status"] == "cancelled":
        assert state["files"] == [] and not (out / "captions.json").exists()


def test_api_key_queue_limit_drain_and_restart(tmp_path, dam):
    served = Served(tmp_path, "--api-key", "sesame", "--max-batch", "1", "--max-queue", "1")
    try:
        frames, masks = objects(1)[0]
        body = {"model": MODEL, "messages": messages(frames, masks), "temperature": 0, "max_tokens": 64}
        url = served.url + "/v1/chat/completions"
        assert httpx.get(served.url + "/health").status_code == 200
        assert "API key" in error_of(httpx.post(url, json=body), 401)
        assert "API key" in error_of(httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}), 401)
        client = openai.OpenAI(base_url=served.url + "/v1", api_key="sesame")
        assert client.chat.completions.create(**body).choices[0].message.content == dam.describe(frames, masks,
                                                                                                  temperature=0)
        auth = {"Authorization": "Bearer sesame"}

        def ask(_):
            return httpx.post(url, json=body, headers=auth, timeout=120)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, range(8)))
        statuses = sorted(a.status_code for a in answers)
        assert 200 in statuses and 429 in statuses and set(statuses) <= {200, 429}
        busy = next(a for a in answers if a.status_code == 429)
        assert busy.headers["retry-after"] == "1" and "busy" in error_of(busy, 429)
        job = httpx.post(served.url + "/v1/jobs", json={"path": "shapes.mp4", "classes": ["circle"]}, headers=auth).json()
        with httpx.stream("POST", url, json={**body, "stream": True}, headers=auth, timeout=60) as response:
            served.proc.send_signal(signal.SIGTERM)  # mid-answer: the answer still ends
            lines = [line for line in response.iter_lines() if line.startswith("data: ")]
        assert lines[-1] == "data: [DONE]"
        assert served.proc.wait(60) == 0
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
    job_file = served.data / "jobs" / job["id"] / "job.json"
    assert json.loads(job_file.read_text())["status"] in ("cancelled", "done")
    assert not list((served.data / "jobs" / job["id"]).glob("out/.videocap*"))
    again = Served(tmp_path, "--api-key", "sesame")
    try:
        listed = httpx.get(again.url + "/v1/jobs", headers={"Authorization": "Bearer sesame"}).json()["data"]
        assert [j["id"] for j in listed] == [job["id"]]
    finally:
        assert again.stop() == 0
