"""Settings of each stage, and the config files that give their defaults.

A config file (``videocap/data/configs/*.yaml``, or the user's own ``--config``) sets defaults that
command-line flags override; ``TrackSettings.from_config(config, **flags)`` (and the same for
``CaptionSettings`` and ``ImageSettings``) builds a stage's settings in one call. Model values follow
``videocap.checkpoints``' rule (a path, a hub id or an ultralytics name); relative paths in a config resolve
against the config file's folder, so the bundled demo config works from any working directory.
"""

from __future__ import annotations

import dataclasses
import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from videocap.checkpoints import config_value
from videocap.dam.defaults import MAX_NEW_TOKENS, TEMPERATURE, TOP_P
from videocap.errors import UserError
from videocap.languages import check_language
from videocap.prompts import RegionPrompt
from videocap.resources import DEFAULT_CONFIG, DEMO_CONFIG
from videocap.segment.registry import SEGMENTERS, check_segmenter

DEFAULT_MODEL = SEGMENTERS["yolo"].default_model
DEFAULT_DAM = "nvidia/DAM-3B-Video"
DEFAULT_SAM3 = SEGMENTERS["sam3"].default_model

# DAM's sampling defaults are DAM's own (``videocap.dam.defaults``: those of NVIDIA's reference).
DEFAULT_TEMPERATURE, DEFAULT_TOP_P, DEFAULT_MAX_NEW_TOKENS = TEMPERATURE, TOP_P, MAX_NEW_TOKENS

KEYFRAME_METHODS = ("uniform", "quality")
DTYPES = ("float32", "bfloat16", "float16")
#: How masks are drawn: the track's colour as an outline (over at most a light tint, so the object's own
#: colours stay recognisable), as a strong tint, or not at all.
OVERLAYS = ("outline", "tint", "none")

#: Keys a config may set; each is also a command-line flag.
TRACK_KEYS = ("segmenter", "segmenter_model", "imgsz", "conf", "device", "min_frames", "min_score", "keyframe_count",
              "keyframe_method")
IMAGE_KEYS = ("segmenter", "segmenter_model", "imgsz", "device")
CAPTION_KEYS = ("dam", "temperature", "top_p", "max_new_tokens", "seed", "batch_size", "segment_seconds", "language",
                "device", "overlay")
#: Older config keys and flags that name one segmenter's checkpoint; each is read as ``segmenter_model``
#: when that segmenter is the one chosen.
MODEL_ALIASES = {"model": "yolo", "sam3": "sam3", "sam2": "sam2"}
KNOWN_KEYS = set(TRACK_KEYS) | set(IMAGE_KEYS) | set(CAPTION_KEYS) | set(MODEL_ALIASES)
PATH_KEYS = {"segmenter_model", "dam", *MODEL_ALIASES}


@dataclass(frozen=True)
class TrackSettings:
    """How a video is segmented and tracked, and which keyframes each track gives DAM."""

    classes: tuple[str, ...]  # class names for YOLO; text prompts (any noun phrase) for SAM 3
    segmenter: str = "yolo"  # a name of ``videocap.segment.registry.SEGMENTERS``
    segmenter_model: str | None = None  # its checkpoint (a path, a hub id or a name); None: the registry's default
    prompts: tuple[RegionPrompt, ...] = ()  # objects pointed at (``videocap.prompts``), besides the classes
    start: str | None = None  # as the user gave them: frame number, seconds or a time
    end: str | None = None
    stride: int = 1
    conf: float = 0.1
    imgsz: int | None = None  # None: the size the model was trained at
    device: str | None = None
    min_frames: int = 3  # shorter tracks are dropped
    min_score: float = 0.35  # tracks whose mean detection score is lower are dropped
    keyframe_count: int = 8  # keyframes per track given to DAM
    keyframe_method: str = "uniform"

    def __post_init__(self) -> None:
        if not self.classes and not self.prompts:
            raise UserError("no class and no prompt given: pass --class NAME (repeatable), e.g. --class person, "
                            "or point at the object with --point X,Y, --box X1,Y1,X2,Y2 or --mask FILE.png")
        _default_segmenter_model(self)
        check_device(self.device)
        if self.stride < 1:
            raise UserError(f"--stride must be 1 or more, got {self.stride}")
        if self.keyframe_method not in KEYFRAME_METHODS:
            raise UserError(f"keyframe_method {self.keyframe_method!r}: choose from {', '.join(KEYFRAME_METHODS)}")

    @classmethod
    def from_config(cls, config: dict[str, Any], **flags: Any) -> TrackSettings:
        return _build(cls, config, TRACK_KEYS, flags)


@dataclass(frozen=True)
class CaptionSettings:
    """How DAM captions the tracks (``dam``: a checkpoint folder or a Hugging Face hub id)."""

    dam: str | None = DEFAULT_DAM
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    seed: int | None = 0
    batch_size: int = 8
    segment_seconds: float | None = None  # None: one caption per track
    language: str = "eng"  # ISO 639-2 tag of the captions' language, for the subtitle streams
    query: str | None = None  # None: the checkpoint's own video (or image) query
    device: str | None = None  # None: CUDA when available, else CPU
    dtype: str | None = None  # None: bfloat16 on GPU, float32 on CPU
    overlay: str = "outline"  # how masks are drawn on the video, photos, thumbnails and contact sheets

    def __post_init__(self) -> None:
        if self.segment_seconds is not None and self.segment_seconds <= 0:
            raise UserError(f"--segment-seconds must be above 0, got {self.segment_seconds}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be 1 or more, got {self.batch_size}")
        if self.query is not None and "<image>" in self.query:
            raise UserError("--query: give the question only; videocap adds one <image> per frame itself")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise UserError(f"--dtype {self.dtype}: choose from auto, {', '.join(DTYPES)}")
        if self.overlay not in OVERLAYS:
            raise UserError(f"overlay {self.overlay!r}: choose from {', '.join(OVERLAYS)}")
        check_language(self.language)
        check_device(self.device)

    @classmethod
    def from_config(cls, config: dict[str, Any], **flags: Any) -> CaptionSettings:
        if flags.get("dtype") == "auto":
            flags["dtype"] = None
        return _build(cls, config, CAPTION_KEYS, flags)


@dataclass(frozen=True)
class ImageSettings:
    """How photos are segmented (no tracker: the usual detection threshold)."""

    classes: tuple[str, ...]
    segmenter: str = "yolo"
    segmenter_model: str | None = None
    conf: float = 0.25
    prompts: tuple[RegionPrompt, ...] = ()
    imgsz: int | None = None
    device: str | None = None

    def __post_init__(self) -> None:
        _default_segmenter_model(self)
        check_device(self.device)

    @classmethod
    def from_config(cls, config: dict[str, Any], **flags: Any) -> ImageSettings:
        return _build(cls, config, IMAGE_KEYS, flags)


_DEVICE = re.compile(r"^(cpu|mps|cuda(:\d+)?|\d+(,\d+)*)$")


def check_device(device: str | None) -> None:
    """A device name torch and ultralytics take, and a GPU one only where there is a GPU: said at once, before
    any model loads (torch is not imported for this: the NVIDIA driver's device files tell)."""
    if device is None:
        return
    if not _DEVICE.match(device.strip()):
        raise UserError(f"--device {device!r}: give cpu, cuda, cuda:N or GPU numbers (0, or 0,1 for ultralytics)")
    wants_gpu = device.strip() not in ("cpu", "mps")
    if wants_gpu and not glob.glob("/dev/nvidia[0-9]*"):
        raise UserError(f"--device {device}: this machine has no CUDA GPU (no NVIDIA driver device); use --device "
                        "cpu, or leave --device out to use the CPU")


def _default_segmenter_model(settings) -> None:
    """Check the segmenter's name and fill in its default checkpoint (the settings are frozen: set once here)."""
    registration = check_segmenter(settings.segmenter)
    if settings.segmenter_model is None:
        object.__setattr__(settings, "segmenter_model", registration.default_model)


def _build(cls, config: dict[str, Any], config_keys: tuple[str, ...], flags: dict[str, Any]):
    """``cls`` from the config's ``config_keys``, overridden by the flags that were given (not None)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in config.items() if k in config_keys and k in fields}
    values.update({k: v for k, v in flags.items() if v is not None and k in fields})
    if "segmenter_model" in fields:
        values["segmenter_model"] = _segmenter_model(config, flags, values.get("segmenter", "yolo"))
    return cls(**values)


def _segmenter_model(config: dict[str, Any], flags: dict[str, Any], segmenter: str) -> str | None:
    """The checkpoint for ``segmenter``: a flag (``--segmenter-model``, or its aliases ``--model`` and
    ``--sam3``), else the config's ``segmenter_model``, else the config's older key for that segmenter."""
    given = {flags[k] for k in ("segmenter_model", *MODEL_ALIASES) if flags.get(k) is not None}
    if len(given) > 1:
        raise UserError(f"two segmenter checkpoints given ({', '.join(sorted(given))}): give one, with --model")
    if given:
        return given.pop()
    if config.get("segmenter_model") is not None:
        return config["segmenter_model"]
    return next((config[k] for k, name in MODEL_ALIASES.items() if name == segmenter and config.get(k)), None)


# -- config files --

def config_source(path: str | Path | None = None, demo: bool = False) -> Path:
    """The config file a command reads: ``--config``, the demo config, or the default one."""
    if path is not None and demo:
        raise UserError("--demo and --config both choose a config: give one of them")
    return Path(path) if path is not None else (DEMO_CONFIG if demo else DEFAULT_CONFIG)


def load_config(path: str | Path | None = None, demo: bool = False) -> dict[str, Any]:
    """The settings of a config file (the default config when ``path`` is None)."""
    config_path = config_source(path, demo)
    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"config {config_path}: no such file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"config {config_path}: cannot read it as YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(data, dict):
        raise UserError(f"config {config_path}: expected a mapping of settings, e.g. 'model: yolo11x-seg.pt'")
    unknown = set(data) - KNOWN_KEYS
    if unknown:
        raise UserError(f"config {config_path}: unknown setting(s) {', '.join(sorted(unknown))}; "
                        f"known: {', '.join(sorted(KNOWN_KEYS))}")
    for key, value in data.items():
        check_value(key, value, f"config {config_path}")
    for key in PATH_KEYS & set(data):
        if isinstance(data[key], str):
            data[key] = config_value(data[key], config_path.parent)
    return data


# -- what each setting may hold --

#: Per key: its type, and the lowest and highest value a number may take (None: no bound).
VALUE_TYPES: dict[str, tuple[type, float | None, float | None]] = {
    "conf": (float, 0, 1), "min_score": (float, 0, 1), "top_p": (float, 0, 1), "temperature": (float, 0, None),
    "segment_seconds": (float, 0, None), "imgsz": (int, 32, None), "min_frames": (int, 1, None),
    "keyframe_count": (int, 1, None), "max_new_tokens": (int, 1, None), "batch_size": (int, 1, None),
    "seed": (int, None, None),
    **{key: (str, None, None) for key in ("segmenter", "segmenter_model", "model", "sam3", "dam", "device",
                                         "keyframe_method", "language", "overlay")},
}
#: Keys that may be null (``~`` or ``null`` in YAML): the default is chosen at run time.
NULLABLE = {"imgsz", "device", "seed", "segment_seconds", "dam"}


def check_value(key: str, value: Any, source: str) -> None:
    """A setting's value of the right type and in range, or a one-line error naming the key, the value and
    what is allowed (YAML reads ``true`` as a boolean and ``high`` as text: neither is a number)."""
    kind, low, high = VALUE_TYPES.get(key, (None, None, None))
    if kind is None or (value is None and key in NULLABLE):
        return
    if not _fits(value, kind, low, high):
        raise UserError(f"{source}: {key}: {value!r} is not allowed; give {_allowed(kind, low, high)}"
                        + (" or null" if key in NULLABLE else ""))


def _fits(value: Any, kind: type, low: float | None, high: float | None) -> bool:
    if kind is str:
        return isinstance(value, str)
    numbers = (int, float) if kind is float else (int,)
    if isinstance(value, bool) or not isinstance(value, numbers) or value != value:  # bool is an int; NaN
        return False
    return (low is None or value >= low) and (high is None or value <= high) and abs(value) != float("inf")


def _allowed(kind: type, low: float | None, high: float | None) -> str:
    what = {int: "a whole number", float: "a number", str: "text"}[kind]
    if low is not None and high is not None:
        return f"{what} from {low:g} to {high:g}"
    return f"{what} of {low:g} or more" if low is not None else what
