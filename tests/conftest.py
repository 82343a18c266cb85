"""Shared test fixtures: where the read-only ``../shared`` data lives (skips when it is absent), the demo
models loaded once, and one captioned run of the sample that several test modules read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    DEMO,
    SAMPLE,
    SHAPES,
    cache_dir_env,
    caption_settings,
    ffmpeg,
    track_settings,
    with_tone,
)

from videocap.pipeline import caption_video
from videocap.resources import DEMO_DAM
from videocap.testing.yolo_loop import YoloTracker

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("VIDEOCAP_SHARED", REPO_ROOT.parent / "shared"))


# CI sets VIDEOCAP_NO_SKIPS=1: there ../shared, Chromium, Ray and root are all present, so a skipped test is a
# missing install step or data, and fails the run instead of passing unseen.
_skipped: list[str] = []


def pytest_runtest_logreport(report):
    if report.skipped and os.environ.get("VIDEOCAP_NO_SKIPS") == "1":
        _skipped.append(f"{report.nodeid}: {report.longrepr[-1] if isinstance(report.longrepr, tuple) else ''}")


def pytest_sessionfinish(session, exitstatus):
    if _skipped:
        print(f"\nVIDEOCAP_NO_SKIPS=1 and {len(_skipped)} test(s) skipped:\n" + "\n".join(_skipped), file=sys.stderr)
        session.exitstatus = 1


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is missing: these tests need the read-only ../shared folder beside the repo "
                    "(or VIDEOCAP_SHARED pointing at it)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED_DIR)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    return _need(SHARED_DIR / "media")


@pytest.fixture(scope="session")
def dam_fixtures_dir() -> Path:
    return _need(SHARED_DIR / "fixtures" / "dam")


@pytest.fixture(scope="session")
def dam_checkpoint() -> Path:
    """The bundled demo captioner (videocap/data/models/shapes-dam): a small DAM in the official layout."""
    return DEMO_DAM


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory):
    """A tracking cache of the test session's own (tests never touch ~/.cache)."""
    with cache_dir_env(tmp_path_factory.mktemp("cache")) as folder:
        yield folder


@pytest.fixture(scope="module", autouse=True)
def pil_open_restored():
    """ultralytics replaces PIL's Image.open on import (its opener pip-installs a HEIF plugin for any file
    Pillow cannot identify); give the modules tested after this one Pillow's own again."""
    from PIL import Image

    original = Image.open
    yield
    Image.open = getattr(sys.modules.get("ultralytics.utils.patches"), "_image_open", original)


@pytest.fixture(scope="session")
def dam(dam_checkpoint):
    import torch

    from videocap.dam import DamModel

    torch.set_num_threads(1)
    return DamModel.from_pretrained(dam_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def tracker():
    return YoloTracker(DEMO["model"], SHAPES, imgsz=DEMO["imgsz"], device="cpu")


@pytest.fixture(scope="session")
def shapes_audio(tmp_path_factory) -> Path:
    return with_tone(SAMPLE, tmp_path_factory.mktemp("media") / "shapes-audio.mp4")


@pytest.fixture(scope="session")
def captioned(shapes_audio, dam, dam_checkpoint, tracker, tmp_path_factory):
    out = tmp_path_factory.mktemp("captioned")
    printed = []
    result = caption_video(shapes_audio, track_settings(), caption_settings(dam_checkpoint), out, tracker=tracker,
                           model=dam, progress=False, on_caption=lambda track, caption: printed.append((track, caption)))
    return result, out, printed


@pytest.fixture(scope="session")
def plain_video(tmp_path_factory) -> Path:
    """2 s of an empty grey picture with a tone: nothing to find."""
    path = tmp_path_factory.mktemp("plain") / "plain.mp4"
    proc = ffmpeg("-y", "-f", "lavfi", "-i", "color=c=gray:s=320x240:d=2:r=25", "-f", "lavfi", "-i",
                  "sine=frequency=300:duration=2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
                  "-shortest", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A 48 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs",
                                                        str(mount_point)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root) to fill a disk")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)
