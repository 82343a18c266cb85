"""Files that ship inside the package: configs, the ByteTrack settings, the demo models, the sample.

Everything here is found through ``importlib.resources``, so an installed wheel works from any
folder, not only a clone of the repository.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

DATA_DIR = Path(str(resources.files("videocap") / "data"))

CONFIG_DIR = DATA_DIR / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
DEMO_CONFIG = CONFIG_DIR / "demo.yaml"
DEMO_DAM_ARCHITECTURE = CONFIG_DIR / "demo-dam.yaml"
BYTETRACK_CONFIG = CONFIG_DIR / "bytetrack.yaml"

DEMO_YOLO = DATA_DIR / "models" / "shapes-yolo11n-seg.pt"
DEMO_DAM = DATA_DIR / "models" / "shapes-dam"

SAMPLE_VIDEO = DATA_DIR / "sample" / "shapes.mp4"
SAMPLE_TRUTH = DATA_DIR / "sample" / "shapes.truth.json"

BACKGROUNDS_DIR = DATA_DIR / "backgrounds"

REPORT_DIR = DATA_DIR / "report"  # report.html's CSS and JS, inlined into each report
WEBAPP_DIR = DATA_DIR / "webapp"  # the page of `videocap serve` at /: its HTML, script and styles
LANGUAGE_CODES = DATA_DIR / "iso639-2.tsv"  # the ISO 639-2 codes a subtitle stream's language may be
