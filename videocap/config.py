"""Settings files (``configs/*.yaml``): defaults that command-line flags override.

Relative model paths in a config resolve against the config file's folder, so the bundled
``configs/demo.yaml`` works from any working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from videocap.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
DEMO_CONFIG = CONFIG_DIR / "demo.yaml"

#: Keys a config may set; each is also a command-line flag.
KNOWN_KEYS = {"model", "dam", "imgsz", "conf", "device", "min_frames", "min_score", "keyframes", "keyframe_method",
              # DAM generation and captioning (videocap caption / image)
              "temperature", "top_p", "max_new_tokens", "seed", "batch_size", "segment_seconds", "language"}
PATH_KEYS = {"model", "dam"}


def _resolve(value: str, folder: Path) -> str:
    """A relative path (one with a folder part) resolves against the config's folder; bare names stay."""
    path = Path(value)
    if path.is_absolute() or (len(path.parts) == 1 and not value.startswith(".")):
        return value
    return str((folder / path).resolve())


def load_config(path: str | Path | None = None, demo: bool = False) -> dict[str, Any]:
    """The settings of a config file (the default config when ``path`` is None)."""
    if path is not None and demo:
        raise UserError("--demo and --config both choose a config: give one of them")
    config_path = Path(path) if path is not None else (DEMO_CONFIG if demo else DEFAULT_CONFIG)
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"config {config_path}: no such file") from None
    except (OSError, yaml.YAMLError) as exc:
        raise UserError(f"config {config_path}: cannot read it as YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise UserError(f"config {config_path}: expected a mapping of settings, e.g. 'model: yolo11x-seg.pt'")
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise UserError(f"config {config_path}: unknown setting(s) {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(KNOWN_KEYS))}")
    for key in PATH_KEYS & set(data):
        if isinstance(data[key], str):
            data[key] = _resolve(data[key], config_path.parent)
    return data


def merge(config: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """Flags given on the command line (not None) override the config."""
    return {**config, **{key: value for key, value in flags.items() if value is not None}}
