"""``videocap serve --engine ray``: the same app as a Ray Serve deployment on a local Ray, asked with the
official ``openai`` client: answers equal the model's own, streamed or not; the web app's routes answer; SIGTERM
ends it with exit 0."""

from __future__ import annotations

import httpx
import openai
import pytest
from served import Served
from test_serve import MODEL, messages, objects


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory):
    pytest.importorskip("ray.serve", reason='the Ray engine needs ray[serve]: pip install "videocap[ray]"')
    served = Served(tmp_path_factory.mktemp("serve-ray"), "--engine", "ray", "--replicas", "1")
    yield served
    assert served.stop() == 0
    assert "Traceback" not in "".join(served.lines)


def test_ray_serve_answers_as_the_model_does(ray_server, dam):
    frames, masks = objects(1)[0]
    client = openai.OpenAI(base_url=ray_server.url + "/v1", api_key="x", timeout=120)
    answer = client.chat.completions.create(model=MODEL, messages=messages(frames, masks), temperature=0)
    expected = dam.describe(frames, masks, temperature=0)
    assert answer.choices[0].message.content == expected
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages(frames, masks), temperature=0,
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 2


def test_ray_serve_keeps_the_limits_and_the_web_app(ray_server):
    health = httpx.get(ray_server.url + "/health", timeout=30).json()
    assert health["status"] == "ok" and health["model"] == "shapes-dam"
    assert httpx.get(ray_server.url + "/", timeout=30).text.startswith("<!DOCTYPE html>")
    bad = httpx.post(ray_server.url + "/v1/chat/completions", content=b"{", timeout=30)
    assert bad.status_code == 400 and "not valid JSON" in bad.json()["error"]["message"]
    assert httpx.get(ray_server.url + "/v1/files", timeout=30).json()["data"] == [{"path": "shapes.mp4",
                                                                                  "kind": "video"}]
