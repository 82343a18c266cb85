"""Shared test fixtures: where the read-only ``../shared`` data lives, and skips when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("VIDEOCAP_SHARED", REPO_ROOT.parent / "shared"))


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
    """The bundled demo captioner (samples/models/shapes-dam): a small DAM in the official layout."""
    return REPO_ROOT / "samples" / "models" / "shapes-dam"
