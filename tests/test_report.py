"""report.html, contact sheets and the batch index: written by a real (demo) caption run, checked as files
and in headless Chromium (from file:// and over HTTP) through its DevTools protocol."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from videocap.cli import main
from videocap.outputs.report import REPORT, write_batch_index
from videocap.pipeline import caption_video
from videocap.resources import SAMPLE_VIDEO
from videocap.settings import CaptionSettings, TrackSettings, load_config

sys.path.insert(0, str(Path(__file__).parent))
from cdp import Browser, Server, find_chromium  # noqa: E402

END_FRAME = 60  # 2.4 s of the sample: enough for both circles, quick on two cores


@pytest.fixture(scope="module")
def run(tmp_path_factory, tracker, dam):
    """The demo main job on the sample's first 60 frames (the session's demo models)."""
    config = load_config(demo=True)
    tracking = TrackSettings.from_config(config, classes=("circle",), end=str(END_FRAME), device="cpu")
    captioning = CaptionSettings.from_config(config, device="cpu", max_new_tokens=24)
    out = tmp_path_factory.mktemp("run")
    result = caption_video(SAMPLE_VIDEO, tracking, captioning, out, tracker=tracker, model=dam, progress=False)
    return result, out


def report_json(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.DOTALL)[1])


def test_caption_run_writes_a_self_contained_report(run):
    result, out = run
    text = (out / REPORT).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)  # no network, no CDN
    assert re.findall(r"<link[^>]*>", text) == ['<link rel="icon" href="data:,">']
    assert not re.search(r"<script[^>]+src=", text)
    data = report_json(out / REPORT)
    assert data["video_file"] == "captioned.mp4" and data["version"]
    assert [t["label"] for t in data["tracks"]] == [t.label for t in result.tracks] and len(data["tracks"]) == 2
    for track, shown in zip(result.tracks, data["tracks"]):
        seen = sorted({k for c in track.captions for k in c.keyframes})
        assert [t["frame"] for t in shown["thumbs"]] == seen and len(seen) == 8
        assert all(t["src"].startswith("data:image/jpeg;base64,") for t in shown["thumbs"])
        assert shown["vtt"] == (out / f"circle-{track.id}.vtt").read_text(encoding="utf-8")
        assert shown["captions"][0]["text"] == track.captions[0].text
        assert shown["files"]["contact sheet"] == f"circle-{track.id}.png"
    recorded = json.loads((out / "captions.json").read_text())
    assert recorded["outputs"]["report"] == REPORT
    assert recorded["outputs"]["contact_sheets"] == {str(t.id): f"circle-{t.id}.png" for t in result.tracks}
    assert recorded["captioning"]["overlay"] == "outline" and recorded["timing"]["report_seconds"] > 0
    assert {"Video", "Models", "Tracking", "Captioning", "Timings (seconds)"} <= set(data["run"])


def test_contact_sheet_shows_keyframes_label_and_caption(run):
    result, out = run
    for track in result.tracks:
        sheet = np.asarray(Image.open(out / f"circle-{track.id}.png").convert("RGB"))
        assert sheet.shape[1] >= 640 and sheet.shape[0] > 2 * 240  # two rows of four keyframes
        assert (sheet[:, :8] == track.colour).all(axis=-1).mean() > 0.9  # the track's colour bar
        assert (sheet == track.colour).all(axis=-1).sum() > 2000  # label, bar and mask outlines


def test_report_command_redoes_it_and_notes_a_missing_video(run, tmp_path, capsys):
    _, out = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    for name in (REPORT, "circle-1.png", "circle-2.png"):
        (copy / name).unlink()
    assert main(["report", str(copy)]) == 0
    assert report_json(copy / REPORT)["tracks"] == report_json(out / REPORT)["tracks"]
    assert report_json(copy / REPORT)["video_file"] == "captioned.mp4"  # kept from the set, found beside it
    assert (copy / "circle-1.png").is_file()
    data = json.loads((copy / "captions.json").read_text())
    data["video"]["path"] = str(tmp_path / "gone.mp4")
    (copy / "captions.json").write_text(json.dumps(data))
    kept = {name: (copy / name).read_bytes() for name in (REPORT, "circle-1.png", "circle-2.png")}
    capsys.readouterr()
    assert main(["report", str(copy / "captions.json")]) == 2  # good contact sheets are not replaced by empty ones
    err = capsys.readouterr().err
    assert "pass --video PATH" in err and len(err.strip().splitlines()) == 1
    assert {name: (copy / name).read_bytes() for name in kept} == kept
    for name in ("circle-1.png", "circle-2.png"):
        (copy / name).unlink()
    assert main(["report", str(copy / "captions.json")]) == 0
    assert "no keyframe thumbnails" in capsys.readouterr().err
    assert all(not t["thumbs"] for t in report_json(copy / REPORT)["tracks"])
    assert main(["report", str(copy), "--video", str(SAMPLE_VIDEO)]) == 0
    assert all(len(t["thumbs"]) == 8 for t in report_json(copy / REPORT)["tracks"])


def test_report_from_another_folder_with_a_relative_source(run, tmp_path, monkeypatch, capsys):
    """captions.json recording the source relative to where caption ran: from elsewhere it is not found, and
    the good thumbnails stay; from the right folder the report is made again with them."""
    _, out = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    shutil.copy(SAMPLE_VIDEO, tmp_path / "clip.mp4")
    data = json.loads((copy / "captions.json").read_text())
    data["video"]["path"] = "clip.mp4"
    (copy / "captions.json").write_text(json.dumps(data))
    monkeypatch.chdir(copy)
    assert main(["report", "."]) == 2
    assert "pass --video PATH" in capsys.readouterr().err
    assert all(len(t["thumbs"]) == 8 for t in report_json(copy / REPORT)["tracks"])
    monkeypatch.chdir(tmp_path)
    assert main(["report", "copy"]) == 0
    assert all(len(t["thumbs"]) == 8 for t in report_json(copy / REPORT)["tracks"])


def test_render_redoes_the_recorded_overlay_or_another(run, tmp_path):
    _, out = run
    assert main(["render", str(out / "captions.json"), "--out", str(tmp_path), "--overlay", "tint", "--quiet"]) == 0
    assert json.loads((tmp_path / "captions.json").read_text())["captioning"]["overlay"] == "tint"
    assert report_json(tmp_path / REPORT)["summary"]["overlay"] == "tint"


def batch_rows(tmp_path: Path, run_out: Path) -> list[dict]:
    shutil.copytree(run_out, tmp_path / "shapes")
    return [{"video": "shapes.mp4", "folder": "shapes", "status": "ok", "error": None, "tracks": 2, "captions": 2},
            {"video": "broken.mp4", "folder": str(tmp_path / "broken"), "status": "failed",
             "error": "broken.mp4: not a video <script>alert(1)</script>", "tracks": None, "captions": None},
            {"video": "street.mp4", "folder": "street", "status": "ok", "error": "", "tracks": 11, "captions": 30}]


def test_batch_index_links_each_report(run, tmp_path):
    rows = batch_rows(tmp_path, run[1])
    path = write_batch_index(rows, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "index.html"
    assert '<a href="shapes/report.html">shapes.mp4</a>' in text
    assert "street/report.html" not in text  # no report there: no dead link
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)" in text
    assert "3 video(s), 1 not ok, 13 track(s), 32 caption(s)" in text


# -- in a real browser --

@pytest.fixture(scope="module")
def browser():
    executable = find_chromium()
    if executable is None:
        pytest.skip("no Chromium: install it (apt-get install -y chromium) to run the report's browser tests")
    with Browser(executable) as b:
        yield b


@pytest.fixture(scope="module", params=["file", "http"])
def page(request, run, browser):
    _, out = run
    if request.param == "file":
        yield browser.page((out / REPORT).as_uri())
        return
    with Server(out) as server:
        yield browser.page(server.url + REPORT)


METADATA = """new Promise((done) => { const v = document.getElementById('video');
  if (v.readyState >= 1) done(); else v.addEventListener('loadedmetadata', done, {once: true}); })"""


def test_loads_without_errors_and_the_video_plays(page):
    page.eval(METADATA)
    video = page.eval("(() => { const v = document.getElementById('video'); return {w: v.videoWidth, "
                      "h: v.videoHeight, d: v.duration, error: v.error && v.error.message}; })()")
    assert video == {"w": 320, "h": 240, "d": pytest.approx(END_FRAME / 25, abs=0.05), "error": None}
    played = page.eval("""(async () => { const v = document.getElementById('video'); v.muted = true;
        v.currentTime = 0; await v.play(); await new Promise((r) => setTimeout(r, 700)); v.pause();
        return v.currentTime; })()""")
    assert played > 0.2
    assert page.errors == []


def test_each_object_has_its_text_track_with_cues(page, run):
    result, _ = run
    page.eval(METADATA)
    page.wait_for("[...document.getElementById('video').textTracks].every((t) => t.cues && t.cues.length)")
    tracks = page.eval("""[...document.getElementById('video').textTracks].map((t) => ({label: t.label,
        kind: t.kind, mode: t.mode, cues: [...t.cues].map((c) => [c.startTime, c.endTime, c.text])}))""")
    assert [t["label"] for t in tracks] == [t.label for t in result.tracks]
    for shown, track in zip(tracks, result.tracks):
        assert shown["kind"] == "subtitles" and shown["mode"] == "hidden"
        assert [c[2] for c in shown["cues"]] == [f"<v {track.label}>{c.text}</v>" for c in track.captions]
        assert shown["cues"][0][0] == pytest.approx(track.captions[0].start, abs=1e-3)
    page.eval("document.querySelector('.lane[data-track=\"1\"] .cc input').click()")
    assert page.eval("document.getElementById('video').textTracks[0].mode") == "showing"
    page.eval("document.querySelector('.lane[data-track=\"1\"] .cc input').click()")


def test_clicking_a_lane_seeks_to_its_span_and_highlights_the_track(page, run):
    result, _ = run
    page.eval(METADATA)
    page.eval("document.getElementById('video').currentTime = 1.5")
    page.wait_for("Math.abs(document.getElementById('video').currentTime - 1.5) < 0.01")
    page.eval("document.querySelector('.lane[data-track=\"2\"] .lane-bar').click()")
    start = result.tracks[1].first.time - result.start_time
    assert page.wait_for(f"Math.abs(document.getElementById('video').currentTime - {start}) < 0.01")
    assert page.eval("[...document.querySelectorAll('.selected')].map((e) => e.className + ':' + e.dataset.track)") \
        == ["lane selected:2", "card selected:2"]
    thumb_time = page.eval("(() => { const img = document.querySelectorAll('#track-1 .thumb img')[3]; img.click();"
                           " return document.getElementById('video').currentTime; })()")
    keyframe = sorted({k for c in result.tracks[0].captions for k in c.keyframes})[3]
    assert thumb_time == pytest.approx(keyframe / 25, abs=0.01)


def test_thumbnails_load(page):
    page.wait_for("[...document.images].every((i) => i.complete)")
    sizes = page.eval("[...document.querySelectorAll('.thumb img')].map((i) => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == 16 and all(w > 0 and h > 0 for w, h in sizes)


def test_filter_by_class_and_search(page):
    shown = "document.getElementById('shown').textContent"

    def search(text: str) -> str:
        page.eval(f"(() => {{ const s = document.getElementById('search'); s.value = {json.dumps(text)};"
                  " s.dispatchEvent(new Event('input')); })()")
        return page.eval(shown)

    assert search("red") == "1 of 2 tracks shown"
    assert page.eval("[...document.querySelectorAll('.card:not([hidden]) mark')].map((m) => m.textContent)") == ["red"]
    assert page.eval("document.querySelectorAll('.lane[hidden]').length") == 1
    assert search("no such words") == "0 of 2 tracks shown"
    assert search("") == "2 of 2 tracks shown"
    assert page.eval("[...document.getElementById('class-filter').options].map((o) => o.value)") == ["", "circle"]
    page.eval("(() => { const s = document.getElementById('class-filter'); s.value = 'circle';"
              " s.dispatchEvent(new Event('change')); })()")
    assert page.eval(shown) == "2 of 2 tracks shown"
    assert page.errors == []


LAYOUT = """(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const cross = (a, b) => a[0] < b[2] - 0.5 && b[0] < a[2] - 0.5 && a[1] < b[3] - 0.5 && b[1] < a[3] - 0.5;
  const clashes = [];
  const check = (elements) => {  // no two of these (shown) elements overlap
    const items = [...elements].filter((e) => e.getClientRects().length);
    items.forEach((a, i) => items.slice(i + 1).forEach((b) => {
      if (cross(box(a), box(b))) clashes.push([a.id || a.className, b.id || b.className]);
    }));
  };
  check(document.querySelectorAll('header, main'));
  check(document.querySelectorAll('main > *'));
  check(document.querySelectorAll('.lane, .ruler'));
  check(document.querySelectorAll('.card'));
  check(document.querySelectorAll('#controls > *'));
  document.querySelectorAll('.lane').forEach((lane) => check(lane.children));
  document.querySelectorAll('.lane-head').forEach((head) => check(head.children));
  document.querySelectorAll('.thumbs').forEach((thumbs) => check(thumbs.children));
  const clipped = [...document.querySelectorAll('h1, h2, h3, .lane-name, .meta, .captions li, td, th')]
    .filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.textContent.slice(0, 40));
  return {clashes, clipped, scrollWidth: document.scrollingElement.scrollWidth, width: innerWidth,
          video: box(document.getElementById('video'))};
})()"""


def test_layout_at_1280x800_has_nothing_overlapping(page, run, tmp_path):
    page.eval(METADATA)
    layout = page.eval(LAYOUT)
    assert layout["clashes"] == [] and layout["clipped"] == []
    assert layout["scrollWidth"] <= layout["width"] == 1280
    left, _, right, bottom = layout["video"]
    assert right - left > 600 and bottom < 800  # the video is large and fully in the first screen
    shot = page.screenshot(tmp_path / "report.png")
    assert Image.open(shot).size == (1280, 800)


def test_batch_index_sorts_in_the_browser(run, browser, tmp_path):
    write_batch_index(batch_rows(tmp_path, run[1]), tmp_path)
    index = browser.page((tmp_path / "index.html").as_uri())
    column = "[...document.querySelectorAll('#batch tbody tr')].map((r) => r.cells[0].textContent)"
    assert index.eval(column) == ["shapes.mp4", "broken.mp4", "street.mp4"]
    index.eval("document.querySelectorAll('#batch th')[2].click()")  # tracks, ascending (no count first)
    assert index.eval(column) == ["broken.mp4", "shapes.mp4", "street.mp4"]
    index.eval("document.querySelectorAll('#batch th')[2].click()")
    assert index.eval(column) == ["street.mp4", "shapes.mp4", "broken.mp4"]
    index.eval("document.querySelectorAll('#batch th')[0].click()")
    assert index.eval(column) == ["broken.mp4", "shapes.mp4", "street.mp4"]
    assert index.eval("document.querySelector('#batch a').href").endswith("/shapes/report.html")
    assert index.errors == []


def test_hostile_caption_text_and_no_video(run, browser, tmp_path):
    """Captions are shown as text, never as markup; without a captioned video the page still works."""
    _, out = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "captioned.mp4").unlink()
    hostile = '</script><img src=x onerror="window.hacked=1"> & <b>bold</b> \u2028 "quoted"'
    data = json.loads((copy / "captions.json").read_text())
    data["tracks"][0]["captions"][0]["text"] = hostile
    (copy / "captions.json").write_text(json.dumps(data))
    assert main(["report", str(copy)]) == 0
    page = browser.page((copy / REPORT).as_uri())
    assert page.eval("document.getElementById('video')") is None
    assert "No captioned video" in page.eval("document.getElementById('player').textContent")
    assert page.eval("document.querySelector('#track-1 .captions .text').textContent") == hostile
    assert page.eval("document.querySelectorAll('img:not(.thumb img)').length") == 0
    page.eval("document.querySelector('.lane[data-track=\"1\"] .lane-bar').click()")
    assert page.eval("document.querySelector('.lane.selected').dataset.track") == "1"
    assert page.eval("window.hacked") is None and page.errors == []


def test_visible_spans_and_the_models_record(run):
    from videocap.outputs.report import visible_spans
    from videocap.results import Track, TrackFrame

    _, out = run
    shown = report_json(out / REPORT)["tracks"]
    assert shown[0]["spans"] == [[shown[0]["start"], shown[0]["end"]]]  # the circles are seen throughout
    frames = [TrackFrame(i, i / 25, (0, 0, 1, 1), 1.0, None) for i in (0, 2, 4, 10, 12)]
    spans = visible_spans(Track(1, "x", frames), 2, 0.08)  # seen in 0, 2, 4, missing in 6 and 8, seen again
    assert [pytest.approx(span) for span in spans] == [(0, 0.24), (0.4, 0.56)]
    about = json.loads((out / "captions.json").read_text())["models"]["about"]
    models = report_json(out / REPORT)["run"]["Models"]
    for role in ("segmentation", "captioning"):
        assert models[f"{role} revision"] == about[role]["revision"]
        assert models[f"{role} licence"] == about[role]["licence"] and models[f"{role} licence"]
    assert "AGPL-3.0" in models["segmentation licence"]


def test_a_new_run_removes_the_contact_sheets_of_the_last(run, tmp_path):
    _, out = run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    data = json.loads((copy / "captions.json").read_text())
    data["outputs"]["contact_sheets"]["9"] = "circle-9.png"
    data["outputs"]["contact_sheets"]["10"] = "../outside.png"
    (copy / "captions.json").write_text(json.dumps(data))
    (copy / "circle-9.png").write_bytes(b"old")
    (tmp_path / "outside.png").write_bytes(b"not ours")
    assert main(["report", str(copy)]) == 0
    assert not (copy / "circle-9.png").exists() and (copy / "circle-1.png").exists()
    assert (tmp_path / "outside.png").exists()
