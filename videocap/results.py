"""The records every stage passes on, and the JSON files they are saved as.

One record family per object: a ``Track`` holds its frames (box, score, compact mask per frame), the
positions of its keyframes among those frames, and its captions; its label and colour are
properties. ``TrackingResult`` is what ``tracks.json`` holds, ``CaptionResult`` what
``captions.json`` holds, ``PhotoResult`` what a photo's JSON holds. Times are the source video's.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from videocap import __version__
from videocap.errors import UserError, VideoNote
from videocap.masks import BoxMask
from videocap.prompts import RegionPrompt
from videocap.segment.registry import segmenter_entry
from videocap.settings import CaptionSettings, ImageSettings, TrackSettings

TRACKS_SCHEMA = "videocap.tracks/1"
CAPTIONS_SCHEMA = "videocap.captions/1"
IMAGES_SCHEMA = "videocap.image-captions/1"

#: One colour per track (RGB), chosen to stay apart from each other and readable with white or black text.
PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
]

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels


@dataclass(frozen=True)
class VideoInfo:
    path: str
    fps: float  # average frame rate from the container
    frame_count: int  # frames decord reports (the container's count)
    width: int
    height: int
    duration: float  # seconds, from the last frame's end timestamp
    has_audio: bool
    codec: str | None  # video codec name as ffmpeg reports it
    rotation: int = 0  # display rotation of the source (counter-clockwise degrees); width, height are as shown

    def to_json(self) -> dict:
        return asdict(self)

    def hold(self, stride: int) -> float:
        """How long a processed frame is shown when every ``stride``-th frame is processed."""
        return stride / max(self.fps, 1e-6)


@dataclass(frozen=True)
class FrameRange:
    start: int  # first frame (inclusive)
    end: int  # last frame (exclusive)
    stride: int = 1

    @property
    def indices(self) -> range:
        return range(self.start, self.end, self.stride)

    def __len__(self) -> int:
        return len(self.indices)


@dataclass(frozen=True, slots=True)  # slots: one per object and frame, so the per-instance dict adds up
class TrackFrame:
    """One object in one frame."""

    index: int  # frame number in the video
    time: float
    box: Box
    score: float
    mask: BoxMask


@dataclass
class Caption:
    """The caption of one segment of a track, over source times [start, end)."""

    start: float
    end: float
    first_frame: int
    last_frame: int
    keyframes: list[int]  # frame numbers DAM saw
    text: str

    def __post_init__(self):
        self.text = bounded_caption(self.text)

    def to_json(self) -> dict:
        return {"start": round(self.start, 4), "end": round(self.end, 4), "first_frame": self.first_frame,
                "last_frame": self.last_frame, "keyframes": self.keyframes, "text": self.text}

    @classmethod
    def from_json(cls, data: dict) -> Caption:
        return cls(float(data["start"]), float(data["end"]), int(data["first_frame"]), int(data["last_frame"]),
                   [int(k) for k in data.get("keyframes", [])], _caption_text(data.get("text")))


#: The longest caption kept (DAM's detailed captions are a few hundred characters); longer text, from an edited
#: captions.json or a huge --max-new-tokens, is cut so that rendering and contact sheets stay bounded.
MAX_CAPTION_CHARS = 4000


def bounded_caption(text: str) -> str:
    """``text``, cut at a word to ``MAX_CAPTION_CHARS`` with a note when it is longer."""
    if len(text) <= MAX_CAPTION_CHARS:
        return text
    head = text[:MAX_CAPTION_CHARS]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    warnings.warn(VideoNote(f"a caption of {len(text)} characters was cut to {len(cut)} (captions are kept under "
                            f"{MAX_CAPTION_CHARS} characters)"), stacklevel=2)
    return cut + "…"


def _caption_text(text: object) -> str:
    """A caption's text from JSON: null (or missing) is no text, never the word "None"."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise ValueError(f"a caption's text is {type(text).__name__} {text!r}, not a string")
    return text


@dataclass
class Track:
    """One object over time: its frames, which of them are keyframes, and its captions."""

    id: int
    class_name: str
    frames: Sequence[TrackFrame] = field(default_factory=list)  # a list, or on disk (framestore.StoredFrames)
    keyframe_positions: list[int] = field(default_factory=list)  # in ``frames`` (sorted; repeat for short tracks)
    captions: list[Caption] = field(default_factory=list)
    prompt: RegionPrompt | None = None  # the region prompt that picked this object, if one did

    @property
    def label(self) -> str:
        return f"{self.class_name} #{self.id}"

    @property
    def colour(self) -> tuple[int, int, int]:
        return PALETTE[(self.id - 1) % len(PALETTE)]

    @property
    def colour_hex(self) -> str:
        return "#%02x%02x%02x" % self.colour

    @property
    def first(self) -> TrackFrame:
        return self.frames[0]

    @property
    def last(self) -> TrackFrame:
        return self.frames[-1]

    @property
    def mean_score(self) -> float:
        return float(np.mean([f.score for f in self.frames])) if self.frames else 0.0

    @property
    def keyframe_frames(self) -> list[TrackFrame]:
        return [self.frames[i] for i in self.keyframe_positions]

    def to_json(self, with_captions: bool, lazy: bool = False) -> dict:
        """The track as JSON data; ``lazy``: its frames as a generator, made only as a streaming writer
        (``files.write_json``) reaches them, so that a long video's masks are never all in JSON form at once."""
        data = {
            "id": self.id, "class": self.class_name,
            "first_frame": self.first.index, "last_frame": self.last.index,
            "first_time": round(self.first.time, 4), "last_time": round(self.last.time, 4),
            "num_frames": len(self.frames), "mean_score": round(self.mean_score, 4),
            "keyframes": [self.frames[i].index for i in self.keyframe_positions],
        }
        if self.prompt is not None:
            data["prompt"] = self.prompt.to_json()
        if with_captions:  # readable order: the captions before the (long) per-frame masks
            data.update(label=self.label, colour=self.colour_hex, captions=[c.to_json() for c in self.captions])
        frames = ({"frame": f.index, "time": round(f.time, 4), "box": list(f.box), "score": round(f.score, 4),
                   "mask": f.mask.to_rle()} for f in self.frames)
        data["frames"] = frames if lazy else list(frames)
        return data

    @classmethod
    def from_json(cls, data: dict, video: VideoInfo | None = None) -> Track:
        frames = [TrackFrame(int(f["frame"]), float(f["time"]), tuple(float(v) for v in f["box"]),
                             float(f["score"]), BoxMask.from_rle(f["mask"])) for f in data["frames"]]
        if video is not None:
            for f in frames:
                _check_frame_numbers(data["id"], f, video)
                if f.mask.frame_size != (video.width, video.height):
                    raise UserError(f"track {data['id']}: a mask of {f.mask.frame_size[0]}x{f.mask.frame_size[1]} in "
                                    f"a {video.width}x{video.height} video (the file was edited or is damaged)")
        position = {f.index: i for i, f in enumerate(frames)}
        keyframe_positions = [position[int(index)] for index in data.get("keyframes", [])]
        captions = [Caption.from_json(c) for c in data.get("captions", [])]
        prompt = RegionPrompt.from_json(data["prompt"]) if data.get("prompt") else None
        return cls(int(data["id"]), str(data["class"]), frames, keyframe_positions, captions, prompt)


def _check_range(r: dict, video: VideoInfo) -> None:
    start, end, stride = r["start_frame"], r["end_frame"], r["stride"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end, stride)) or stride < 1 \
            or not 0 <= start < end:
        raise UserError(f"range start {start!r}, end {end!r}, stride {stride!r}: give whole numbers with "
                        "0 <= start < end and stride 1 or more (the file was edited or is damaged)")


def _check_frame_numbers(track_id, frame: TrackFrame, video: VideoInfo) -> None:
    """An edited file's numbers within what a video of this size can hold (NaN, 1e12 boxes would draw nothing
    sensible, or take the renderer hours)."""
    x1, y1, x2, y2 = frame.box
    inside = all(math.isfinite(v) for v in (*frame.box, frame.time, frame.score)) and \
        -1 <= x1 <= x2 <= video.width + 1 and -1 <= y1 <= y2 <= video.height + 1 and 0 <= frame.score <= 1
    if not inside:
        raise UserError(f"track {track_id}, frame {frame.index}: box {list(frame.box)}, time {frame.time} or score "
                        f"{frame.score} is not a number inside the {video.width}x{video.height} frame (the file was "
                        "edited or is damaged)")


@dataclass
class TrackingResult:
    """The tracks of one video range (what ``tracks.json`` holds)."""

    video: VideoInfo
    settings: TrackSettings
    frame_range: FrameRange
    tracks: list[Track]
    timing: dict[str, float | bool] = field(default_factory=dict)

    @property
    def hold(self) -> float:
        """How long each processed frame is shown (stride / fps)."""
        return self.video.hold(self.frame_range.stride)

    def to_json(self, lazy: bool = False) -> dict:
        """What tracks.json holds; ``lazy``: each track's frames as a generator (see ``Track.to_json``)."""
        return {
            "schema": TRACKS_SCHEMA,
            "videocap_version": __version__,
            "video": self.video.to_json(),
            "settings": {**settings_json(self.settings),
                         "tracker": segmenter_entry(self.settings.segmenter).tracker_record()},
            "range": {"start_frame": self.frame_range.start, "end_frame": self.frame_range.end,
                      "stride": self.frame_range.stride, "frames_processed": len(self.frame_range)},
            "timing": self.timing,
            "tracks": [t.to_json(with_captions=False, lazy=lazy) for t in self.tracks],
        }

    @classmethod
    def from_json(cls, data: dict) -> TrackingResult:
        settings = {k: v for k, v in data["settings"].items() if k != "tracker"}
        settings["classes"] = tuple(settings["classes"])
        settings["prompts"] = tuple(RegionPrompt.from_json(p) for p in settings.get("prompts", ()))
        if "segmenter_model" not in settings:  # written before one setting named the segmenter's checkpoint
            settings["segmenter_model"] = settings.get("sam3" if settings.get("segmenter") == "sam3" else "model")
        known = {f.name for f in dataclasses.fields(TrackSettings)}
        r = data["range"]
        video = VideoInfo(**data["video"])
        _check_range(r, video)
        ids = [t["id"] for t in data["tracks"]]
        if len(ids) != len(set(ids)):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            raise UserError(f"track id(s) {', '.join(map(str, twice))} appear more than once: each track needs its own "
                            "id (their files would overwrite each other)")
        return cls(video, TrackSettings(**{k: v for k, v in settings.items() if k in known}),
                   FrameRange(r["start_frame"], r["end_frame"], r["stride"]),
                   [Track.from_json(t, video) for t in data["tracks"]], dict(data.get("timing", {})))


@dataclass
class CaptionResult:
    """Everything the outputs are made from: tracks with their captions, and how they were made."""

    tracking: TrackingResult
    settings: CaptionSettings
    start_time: float  # source time of the range's first frame (outputs start at 0 there)
    end_time: float  # source time where the range ends
    video_sha256: str | None = None
    prompt_style: str | None = None
    timing: dict[str, float | bool] = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    model_records: dict = field(default_factory=dict)  # per role: name, path, revision, licence
    run_id: str | None = None  # the run that wrote this set of outputs (also in each video's metadata)

    @property
    def video(self) -> VideoInfo:
        return self.tracking.video

    @property
    def frame_range(self) -> FrameRange:
        return self.tracking.frame_range

    @property
    def tracks(self) -> list[Track]:
        return self.tracking.tracks

    @property
    def hold(self) -> float:
        return self.tracking.hold

    @property
    def caption_count(self) -> int:
        return sum(len(t.captions) for t in self.tracks)

    def to_json(self, lazy: bool = False) -> dict:
        """What captions.json holds; ``lazy``: each track's frames as a generator (see ``Track.to_json``)."""
        data = self.tracking.to_json(lazy=True)  # its tracks are replaced below
        data["schema"] = CAPTIONS_SCHEMA
        data["video_sha256"] = self.video_sha256
        data["models"] = {"segmentation": self.tracking.settings.segmenter_model, "captioning": self.settings.dam,
                          "prompt_style": self.prompt_style, "about": self.model_records}
        data["captioning"] = asdict(self.settings)
        data["range"].update(start_time=round(self.start_time, 4), end_time=round(self.end_time, 4))
        data["timing"] = {**data["timing"], **self.timing}
        data["run"] = self.run_id
        data["outputs"] = self.outputs
        data["tracks"] = [t.to_json(with_captions=True, lazy=lazy) for t in self.tracks]
        return data

    @classmethod
    def from_json(cls, data: dict) -> CaptionResult:
        if data.get("schema") != CAPTIONS_SCHEMA:
            raise UserError(f"not a videocap captions file (schema {data.get('schema')!r}, expected {CAPTIONS_SCHEMA!r})")
        try:
            tracking = TrackingResult.from_json(data)
            known = {f.name for f in dataclasses.fields(CaptionSettings)}
            settings = CaptionSettings(**{k: v for k, v in dict(data["captioning"]).items() if k in known})
            r = data["range"]
            models = data.get("models") or {}
            return cls(tracking, settings, float(r["start_time"]), float(r["end_time"]), data.get("video_sha256"),
                       models.get("prompt_style"), dict(data.get("timing", {})), data.get("outputs") or {},
                       dict(models.get("about") or {}), data.get("run"))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise UserError(f"captions file is damaged or from another version ({type(exc).__name__}: {exc})") from exc


def settings_json(settings: TrackSettings | ImageSettings) -> dict:
    """Segmentation settings as JSON holds them: lists, and each prompt in its own JSON form."""
    return {**asdict(settings), "classes": list(settings.classes), "prompts": [p.to_json() for p in settings.prompts]}


def captions_path(folder_or_json: str | Path) -> Path:
    """A run's ``captions.json``: the path itself, or the one in the folder given."""
    path = Path(folder_or_json)
    return path / "captions.json" if path.is_dir() else path


def read_captions(path: str | Path) -> CaptionResult:
    """A ``captions.json`` written by ``videocap caption`` (or the one in a run's folder); one-line errors for
    anything else."""
    path = captions_path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file (give the captions.json that `videocap caption` wrote)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: not a readable JSON file ({exc})") from exc
    if not isinstance(data, dict):
        raise UserError(f"{path}: not a videocap captions file")
    return CaptionResult.from_json(data)


@dataclass
class PhotoResult:
    """The objects of one photo, each a one-frame ``Track`` with one caption (what ``<photo>.json`` holds)."""

    path: Path
    width: int
    height: int
    sha256: str
    settings: ImageSettings
    captioning: CaptionSettings
    objects: list[Track]
    prompt_style: str | None = None
    outputs: dict = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    model_records: dict = field(default_factory=dict)  # per role: name, path, revision, licence
    run_id: str | None = None  # the run that wrote this photo's outputs

    def to_json(self) -> dict:
        return {
            "schema": IMAGES_SCHEMA, "videocap_version": __version__, "run": self.run_id,
            "image": {"path": str(self.path), "width": self.width, "height": self.height, "sha256": self.sha256},
            "models": {"segmentation": self.settings.segmenter_model, "captioning": self.captioning.dam,
                       "prompt_style": self.prompt_style, "about": self.model_records},
            "settings": settings_json(self.settings),
            "captioning": asdict(self.captioning),
            "outputs": self.outputs,
            "objects": [_photo_object_json(obj) for obj in self.objects],
            "timing": self.timing,
        }


def _photo_object_json(obj: Track) -> dict:
    frame = obj.first
    return {"id": obj.id, "class": obj.class_name, "label": obj.label, "colour": obj.colour_hex,
            "score": round(frame.score, 4), "box": [round(v, 2) for v in frame.box],
            "caption": obj.captions[0].text if obj.captions else "", "mask": frame.mask.to_rle()}
