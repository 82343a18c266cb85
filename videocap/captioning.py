"""Tracks -> DAM captions: the ``caption`` job and the ``captions.json`` it writes.

``caption_video`` tracks a video (or takes the tracks from the cache), cuts each track into
segments (the whole track, or ``segment_seconds`` pieces), picks each segment's keyframes, decodes
the video once more to collect just those frames, and captions the segments with DAM in batches
across tracks: a batch runs as soon as enough segments have all their frames, and frames are
dropped once no waiting segment needs them, so memory does not grow with the video's length.
Then it writes every output (see ``videocap.outputs``).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from videocap import cache
from videocap.errors import UserError
from videocap.keyframes import select_keyframes
from videocap.pipeline import TrackingResult, TrackSettings, keep_track, track_video
from videocap.tracking import ObjectTracker, Track, TrackFrame
from videocap.video import FrameRange, VideoInfo, VideoReader

CAPTIONS_SCHEMA = "videocap.captions/1"

#: One colour per track (RGB), chosen to stay apart from each other and readable with white or black text.
PALETTE = [
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
]


def track_colour(track_id: int) -> tuple[int, int, int]:
    return PALETTE[(track_id - 1) % len(PALETTE)]


def track_label(class_name: str, track_id: int) -> str:
    return f"{class_name} #{track_id}"


@dataclass(frozen=True)
class CaptionSettings:
    """How DAM captions the tracks (``dam``: a checkpoint folder or a Hugging Face hub id)."""

    dam: str
    temperature: float = 0.2
    top_p: float = 0.5
    max_new_tokens: int = 512
    seed: int | None = 0
    batch_size: int = 8
    segment_seconds: float | None = None  # None: one caption per track
    language: str = "eng"  # ISO 639-2 tag of the captions' language, for the subtitle streams
    query: str | None = None  # None: the checkpoint's own video (or image) query
    device: str | None = None  # None: CUDA when available, else CPU
    dtype: str | None = None  # None: bfloat16 on GPU, float32 on CPU

    def __post_init__(self) -> None:
        if self.segment_seconds is not None and self.segment_seconds <= 0:
            raise UserError(f"--segment-seconds must be above 0, got {self.segment_seconds}")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be 1 or more, got {self.batch_size}")
        if self.query is not None and "<image>" in self.query:
            raise UserError("--query: give the question only; videocap adds one <image> per frame itself")


@dataclass
class Caption:
    """The caption of one segment of a track, over source times [start, end)."""

    start: float
    end: float
    first_frame: int
    last_frame: int
    keyframes: list[int]  # frame numbers DAM saw
    text: str

    def to_json(self) -> dict:
        return {"start": round(self.start, 4), "end": round(self.end, 4), "first_frame": self.first_frame,
                "last_frame": self.last_frame, "keyframes": self.keyframes, "text": self.text}

    @classmethod
    def from_json(cls, data: dict) -> "Caption":
        return cls(float(data["start"]), float(data["end"]), int(data["first_frame"]), int(data["last_frame"]),
                   [int(k) for k in data.get("keyframes", [])], str(data.get("text", "")))


@dataclass
class CaptionResult:
    """Everything the outputs are made from: tracks, their captions, and how they were made."""

    tracking: TrackingResult
    settings: CaptionSettings
    captions: dict[int, list[Caption]]  # track id -> captions in time order
    start_time: float  # source time of the range's first frame (outputs start at 0 there)
    end_time: float  # source time where the range ends
    video_sha256: str | None = None
    prompt_style: str | None = None
    timing: dict[str, float | bool] = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)

    @property
    def video(self) -> VideoInfo:
        return self.tracking.video

    @property
    def frame_range(self) -> FrameRange:
        return self.tracking.frame_range

    @property
    def tracks(self) -> list[Track]:
        return self.tracking.tracks

    def to_json(self) -> dict:
        data = self.tracking.to_json()
        data["schema"] = CAPTIONS_SCHEMA
        data["video_sha256"] = self.video_sha256
        data["models"] = {"segmentation": self.tracking.settings.model, "captioning": self.settings.dam,
                          "prompt_style": self.prompt_style}
        data["captioning"] = asdict(self.settings)
        data["range"].update(start_time=round(self.start_time, 4), end_time=round(self.end_time, 4))
        data["timing"] = {**data["timing"], **self.timing}
        data["outputs"] = self.outputs
        for track_json, track in zip(data["tracks"], self.tracks):
            captions = [c.to_json() for c in self.captions.get(track.track_id, [])]
            # Readable order: the captions before the (long) per-frame masks.
            frames = track_json.pop("frames")
            track_json.update(label=track_label(track.class_name, track.track_id),
                              colour="#%02x%02x%02x" % track_colour(track.track_id), captions=captions,
                              frames=frames)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "CaptionResult":
        if data.get("schema") != CAPTIONS_SCHEMA:
            raise UserError(f"not a videocap captions file (schema {data.get('schema')!r}, expected {CAPTIONS_SCHEMA!r})")
        try:
            tracking = TrackingResult.from_json(data)
            captioning = dict(data["captioning"])
            known = {f.name for f in dataclasses.fields(CaptionSettings)}
            settings = CaptionSettings(**{k: v for k, v in captioning.items() if k in known})
            captions = {int(t["id"]): [Caption.from_json(c) for c in t.get("captions", [])] for t in data["tracks"]}
            r = data["range"]
            return cls(tracking, settings, captions, float(r["start_time"]), float(r["end_time"]),
                       data.get("video_sha256"), (data.get("models") or {}).get("prompt_style"),
                       {k: v for k, v in data.get("timing", {}).items()}, data.get("outputs") or {})
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"captions file is damaged or from another version ({type(exc).__name__}: {exc})") from exc


# -- tracking, with the cache --

def track_with_cache(path: str | Path, settings: TrackSettings, tracker: ObjectTracker | None = None,
                     progress: bool = True, use_cache: bool = True) -> tuple[TrackingResult, str, bool]:
    """Tracks of a video range, from the cache when this video, range, model and settings were tracked before.

    Returns the result (``min_frames`` and keyframes applied), the video's SHA-256 and whether it came
    from the cache.
    """
    with VideoReader(path) as reader:  # bad video input fails here, before any model loads
        frame_range = reader.resolve_range(settings.start, settings.end, settings.stride)
        info = reader.info
    video_sha = cache.file_sha256(path)
    key = cache.tracking_key(video_sha, frame_range.start, frame_range.end, frame_range.stride, settings.model,
                             settings.classes, settings.conf, settings.imgsz, settings.device)
    raw = cache.load(key) if use_cache else None
    cached = raw is not None
    if cached:
        try:
            result = TrackingResult.from_json(raw)
        except (KeyError, TypeError, ValueError):
            cached = False
    if not cached:
        result = track_video(path, dataclasses.replace(settings, min_frames=1, min_score=0.0), tracker,
                             progress=progress)
        if use_cache:
            cache.store(key, result.to_json())
    tracks = [t for t in result.tracks if keep_track(t, settings)]
    keyframes = {t.track_id: select_keyframes(t, settings.keyframes, settings.keyframe_method) for t in tracks}
    timing = dict(result.timing) if not cached else {"track_seconds": 0.0}
    timing["tracking_cached"] = cached
    return TrackingResult(info, settings, frame_range, tracks, keyframes, timing), video_sha, cached


# -- segments and keyframes --

@dataclass
class Job:
    """One caption to make: a segment of a track, with the frames DAM sees."""

    track: Track
    frames: list[TrackFrame]  # the segment's frames
    keyframes: list[TrackFrame]
    start: float
    end: float

    @property
    def last_needed(self) -> int:
        return max(f.index for f in self.keyframes)


def segments(track: Track, seconds: float | None, min_frames: int = 3) -> list[list[TrackFrame]]:
    """The track's frames cut into ``seconds``-long pieces from its first frame (one piece when None).

    A last piece shorter than ``min_frames`` frames joins the one before it.
    """
    if not seconds:
        return [list(track.frames)]
    pieces: list[list[TrackFrame]] = []
    current_bin = None
    for frame in track.frames:
        index = int((frame.time - track.first.time + 1e-6) // seconds)
        if index != current_bin:
            pieces.append([])
            current_bin = index
        pieces[-1].append(frame)
    if len(pieces) > 1 and len(pieces[-1]) < min_frames:
        pieces[-2].extend(pieces.pop())
    return pieces


def make_jobs(tracking: TrackingResult, segment_seconds: float | None, end_time: float) -> list[Job]:
    """Every segment of every track, with its keyframes and its time span."""
    settings = tracking.settings
    hold = tracking.frame_range.stride / max(tracking.video.fps, 1e-6)  # how long a processed frame is shown
    jobs = []
    for track in tracking.tracks:
        pieces = segments(track, segment_seconds, settings.min_frames)
        for n, frames in enumerate(pieces):
            if segment_seconds is None:
                keyframes = tracking.keyframe_frames(track)
            else:
                piece = Track(track.track_id, track.class_name, frames)
                keyframes = [frames[i] for i in select_keyframes(piece, settings.keyframes, settings.keyframe_method)]
            start = frames[0].time
            end = pieces[n + 1][0].time if n + 1 < len(pieces) else min(frames[-1].time + hold, end_time)
            jobs.append(Job(track, frames, keyframes, start, max(end, start + 1e-3)))
    return jobs


# -- DAM --

def dam_device(device: str | None) -> str | None:
    """YOLO-style device names ('0', '0,1') as torch devices ('cuda:0')."""
    if device is None:
        return None
    first = device.split(",")[0].strip()
    return f"cuda:{first}" if first.isdigit() else first


def load_dam(settings: CaptionSettings):
    """The DAM model of ``settings.dam``; a one-line error (with what to do) when it cannot be had."""
    import torch

    from videocap.dam import DamModel

    dtype = None if settings.dtype in (None, "auto") else getattr(torch, settings.dtype)
    try:
        return DamModel.from_pretrained(settings.dam, device=dam_device(settings.device), dtype=dtype)
    except (RuntimeError, AssertionError) as exc:
        if "CUDA" in str(exc) or "cuda" in str(exc):
            raise UserError(f"--device {settings.device}: {str(exc).splitlines()[0]}") from exc
        raise


def check_dam_available(dam: str | None) -> None:
    """Fail before tracking when the DAM checkpoint cannot be found (reading it comes later)."""
    if not dam:
        raise UserError("no DAM checkpoint given: pass --dam PATH_OR_ID (e.g. nvidia/DAM-3B-Video, or a local "
                        "folder), or set `dam:` in the config")
    from videocap.dam import loading

    loading.resolve(dam)


def caption_jobs(model, video_path: str | Path, frame_range: FrameRange, jobs: list[Job], settings: CaptionSettings,
                 progress: bool = True, on_caption: Callable[[Job, str], None] | None = None) -> list[str]:
    """Caption every job with DAM, batching across tracks as their keyframes get decoded."""
    texts: list[str | None] = [None] * len(jobs)
    if not jobs:
        return []
    pending_uses: dict[int, int] = {}
    for job in jobs:
        for frame in job.keyframes:
            pending_uses[frame.index] = pending_uses.get(frame.index, 0) + 1
    order = sorted(range(len(jobs)), key=lambda n: jobs[n].last_needed)
    images: dict = {}
    ready: list[int] = []
    next_job = 0
    batch_count = 0
    bar = tqdm(total=len(jobs), unit="caption", desc="captioning", file=sys.stderr, disable=not progress,
               dynamic_ncols=True)

    def run(batch: list[int]) -> None:
        nonlocal batch_count
        items = []
        for n in batch:
            job = jobs[n]
            frames = [images[f.index] for f in job.keyframes]
            masks = [f.mask.to_mask() for f in job.keyframes]
            query = None if settings.query is None else model.default_query(len(frames), settings.query)
            items.append((frames, masks, query))
        seed = None if settings.seed is None else settings.seed + batch_count * settings.batch_size
        outputs = model.describe_batch(items, max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                       top_p=settings.top_p, seed=seed, batch_size=len(items))
        batch_count += 1
        for n, text in zip(batch, outputs):
            texts[n] = text
            for frame in jobs[n].keyframes:
                pending_uses[frame.index] -= 1
                if pending_uses[frame.index] == 0:
                    images.pop(frame.index, None)
            if on_caption is not None:
                on_caption(jobs[n], text)
        bar.update(len(batch))

    first = min(f.index for job in jobs for f in job.keyframes)
    last = max(job.last_needed for job in jobs)
    needed = set(pending_uses)
    span = FrameRange(first, last + 1, frame_range.stride if (first - frame_range.start) % frame_range.stride == 0 else 1)
    with bar, VideoReader(video_path, span) as reader:
        for frame in reader:
            if frame.index in needed:
                images[frame.index] = frame.image
            while next_job < len(order) and jobs[order[next_job]].last_needed <= frame.index:
                ready.append(order[next_job])
                next_job += 1
            while len(ready) >= settings.batch_size:
                run(ready[:settings.batch_size])
                ready = ready[settings.batch_size:]
        if next_job < len(order):
            missing = jobs[order[next_job]].last_needed
            raise UserError(f"{video_path}: frame {missing} could not be decoded again for captioning "
                            "(the file changed or is damaged)")
        while ready:
            run(ready[:settings.batch_size])
            ready = ready[settings.batch_size:]
    return [t or "" for t in texts]


# -- the whole job --

def caption_video(path: str | Path, track_settings: TrackSettings, settings: CaptionSettings, out_dir: str | Path,
                  tracker: ObjectTracker | None = None, model=None, progress: bool = True, use_cache: bool = True,
                  on_caption: Callable[[Job, str], None] | None = None, render: bool = True) -> CaptionResult:
    """Track, caption and write every output into ``out_dir``; returns what ``captions.json`` holds.

    ``tracker`` and ``model`` (a loaded ``DamModel``) may be passed in to reuse loaded models.
    """
    from videocap import outputs
    from videocap.io import ensure_writable_dir

    started = time.perf_counter()
    out = ensure_writable_dir(out_dir)
    if model is None:
        check_dam_available(settings.dam)
    tracking, video_sha, _ = track_with_cache(path, track_settings, tracker, progress, use_cache)
    with VideoReader(path) as reader:
        start_time = reader.time_of(tracking.frame_range.start)
        end = tracking.frame_range.end
        end_time = reader.time_of(end) if end < reader.info.frame_count else reader.info.duration
    jobs = make_jobs(tracking, settings.segment_seconds, end_time)
    timing: dict[str, float | bool] = dict(tracking.timing)
    prompt_style = getattr(model, "prompt_style", None)
    texts: list[str] = []
    if jobs:
        tracker = None  # let YOLO go before DAM loads
        loaded = time.perf_counter()
        if model is None:
            model = load_dam(settings)
        prompt_style = model.prompt_style
        timing["dam_load_seconds"] = round(time.perf_counter() - loaded, 3)
        captioned = time.perf_counter()
        texts = caption_jobs(model, path, tracking.frame_range, jobs, settings, progress, on_caption)
        timing["caption_seconds"] = round(time.perf_counter() - captioned, 3)
        timing["captions"] = len(jobs)
    captions: dict[int, list[Caption]] = {t.track_id: [] for t in tracking.tracks}
    for job, text in zip(jobs, texts):
        captions[job.track.track_id].append(Caption(job.start, job.end, job.frames[0].index, job.frames[-1].index,
                                                    [f.index for f in job.keyframes], text))
    result = CaptionResult(tracking, settings, captions, start_time, end_time, video_sha, prompt_style, timing)
    outputs.write_all(result, out, render=render, progress=progress)
    result.timing["total_seconds"] = round(time.perf_counter() - started, 3)
    outputs.write_captions_json(result, out)
    return result
