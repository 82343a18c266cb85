"""The caption stage: DAM over caption jobs (a segment of a track with its keyframes), returning captions.

``make_jobs`` cuts each track into segments (the whole track, or ``segment_seconds`` pieces) and picks
each segment's keyframes; ``caption_jobs`` takes the frames of the keyframe span once, in order, and
captions the jobs in batches across tracks: a batch runs as soon as enough jobs have all their frames,
and frames are dropped once no waiting job needs them, so memory does not grow with the video's
length. Captions come out as a generator, in the order they are made. ``caption_videos`` does the same
for several videos at once (``videocap batch``), their jobs filling the same batches.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from videocap import checkpoints
from videocap.caption.keyframes import select_keyframes
from videocap.checkpoints import memory_notes
from videocap.dam.records import DamInput
from videocap.errors import UserError
from videocap.io.video import Frame
from videocap.progress import progress_bar
from videocap.results import Caption, FrameRange, Track, TrackFrame
from videocap.segment.registry import check_segmenter
from videocap.settings import CaptionSettings, TrackSettings


@dataclass
class CaptionJob:
    """One caption to make: a segment of a track, with the frames DAM sees."""

    track: Track
    frames: Sequence[TrackFrame]  # the segment's frames
    keyframes: list[TrackFrame]
    start: float
    end: float

    @property
    def last_needed(self) -> int:
        return max(f.index for f in self.keyframes)

    def caption(self, text: str) -> Caption:
        return Caption(self.start, self.end, self.frames[0].index, self.frames[-1].index,
                       [f.index for f in self.keyframes], text)


def segments(track: Track, seconds: float | None, min_frames: int = 3) -> list[Sequence[TrackFrame]]:
    """The track's frames cut into ``seconds``-long pieces from its first frame (one piece when None).

    A last piece shorter than ``min_frames`` frames joins the one before it.
    """
    if not seconds:
        return [track.frames]  # as it is: frames kept on disk stay there
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


def make_jobs(tracks: Sequence[Track], hold: float, end_time: float, segment_seconds: float | None,
              track_settings: TrackSettings) -> list[CaptionJob]:
    """Every segment of every track, with its keyframes and its time span.

    ``hold`` is how long a processed frame is shown (stride / fps); a track's last caption ends that long
    after its last frame, or at ``end_time``.
    """
    jobs = []
    for track in tracks:
        pieces = segments(track, segment_seconds, track_settings.min_frames)
        for n, frames in enumerate(pieces):
            if segment_seconds is None:
                keyframes = track.keyframe_frames
            else:
                piece = Track(track.id, track.class_name, frames)
                positions = select_keyframes(piece, track_settings.keyframe_count, track_settings.keyframe_method)
                keyframes = [frames[i] for i in positions]
            start = frames[0].time
            end = pieces[n + 1][0].time if n + 1 < len(pieces) else min(frames[-1].time + hold, end_time)
            jobs.append(CaptionJob(track, frames, keyframes, start, max(end, start + 1e-3)))
    return jobs


def keyframe_span(jobs: Sequence[CaptionJob], frame_range: FrameRange) -> FrameRange:
    """The frames to decode again for the jobs' keyframes (every processed frame between the first and last)."""
    first = min(f.index for job in jobs for f in job.keyframes)
    last = max(job.last_needed for job in jobs)
    on_stride = (first - frame_range.start) % frame_range.stride == 0
    return FrameRange(first, last + 1, frame_range.stride if on_stride else 1)


# -- DAM --

def dam_device(device: str | None) -> str | None:
    """YOLO-style device names ('0', '0,1') as torch devices ('cuda:0')."""
    if device is None:
        return None
    first = device.split(",")[0].strip()
    return f"cuda:{first}" if first.isdigit() else first


def check_dam_available(settings: CaptionSettings, frames: int, flag: str = "--keyframes", segmenting=None):
    """The DAM checkpoint of ``settings`` opened (a ``videocap.dam.loading.DamCheckpoint``: found, configs and
    tokenizer read, no weights), failing before tracking when it cannot be had, or when ``frames`` frames with
    the query do not fit its context. With ``segmenting`` (the TrackSettings or ImageSettings of the run) a
    segmenter's model that cannot be had is named in the same line as the DAM's."""
    if not settings.dam:
        raise UserError("no DAM checkpoint given: pass --dam PATH_OR_ID (e.g. nvidia/DAM-3B-Video, or a local "
                        "folder), or set `dam:` in the config")
    from videocap.dam import loading
    from videocap.dam.inputs import check_context

    models = [(settings.dam, "DAM checkpoint", "--dam")]
    if segmenting is not None:
        registration = check_segmenter(segmenting.segmenter)
        model = segmenting.segmenter_model or registration.default_model
        # a hub id where the segmenter takes none gets the segmenter's own error when it loads
        if registration.hub_weights or checkpoints.classify(model).kind != checkpoints.HUB:
            models.insert(0, (model, f"{segmenting.segmenter} model", "--model"))
    checkpoints.check_models_here(models)

    checkpoint = loading.open_checkpoint(settings.dam)
    check_context(checkpoint, frames, settings.query, flag)
    return checkpoint


def load_dam(settings: CaptionSettings, prompt_style: str | None = None, checkpoint=None):
    """The DAM model of ``settings.dam`` (``checkpoint``: it opened already); a one-line error (with what to
    do) when it cannot be had.

    ``prompt_style`` ("dam-3b" or "dam-3b-video") overrides the checkpoint's default queries. Before any
    weight is read, the model's size is checked against the device's free memory, and a CPU run of a
    model of billions of parameters says how slow it will be.
    """
    import torch

    from videocap.dam import DamModel, loading

    device = dam_device(settings.device) or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name = settings.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    dtype = getattr(torch, dtype_name)
    checkpoint = loading.open_checkpoint(checkpoint or settings.dam, prompt_style)
    for note in memory_notes(settings.dam, checkpoint.root, device, dtype_name, dtype.itemsize):
        print(f"videocap: {note}", file=sys.stderr)
    try:
        return DamModel.from_pretrained(checkpoint, device=device, dtype=dtype)
    except (RuntimeError, AssertionError) as exc:
        if "CUDA" in str(exc) or "cuda" in str(exc):
            raise UserError(f"--device {settings.device}: {str(exc).splitlines()[0]}") from exc
        raise


def job_seed(seed: int | None, job: CaptionJob) -> int | None:
    """The job's own sampling seed, from the run's seed, its track's id and its first frame: its caption does
    not depend on which jobs share its batch, nor in which order jobs are captioned."""
    return None if seed is None else zlib.crc32(f"{seed}:{job.track.id}:{job.frames[0].index}".encode())


def describe(model, objects: Sequence[DamInput], settings: CaptionSettings, seed: int | Sequence[int] | None
             ) -> list[str]:
    """DAM's captions of the objects in one batch, with the settings' sampling (``seed``: one for the batch, or
    one per object)."""
    return model.describe_batch(list(objects), max_new_tokens=settings.max_new_tokens, temperature=settings.temperature,
                                top_p=settings.top_p, seed=seed, batch_size=len(objects))


def caption_jobs(model, jobs: Sequence[CaptionJob], frames: Iterable[Frame], settings: CaptionSettings,
                 progress: bool = True) -> Iterator[tuple[CaptionJob, Caption]]:
    """Caption every job with DAM, batching across tracks as their keyframes arrive in ``frames``.

    ``frames`` are the video's frames over ``keyframe_span(jobs, ...)``, in order. Each job samples with
    its own ``job_seed``, so a caption depends on its job alone, not on the batches.
    """
    for _, job, caption in caption_videos(model, [(jobs, frames)], settings, progress):
        yield job, caption


def caption_videos(model, videos: Iterable[tuple[Sequence[CaptionJob], Iterable[Frame]]], settings: CaptionSettings,
                   progress: bool = True) -> Iterator[tuple[int, CaptionJob, Caption]]:
    """``caption_jobs`` over several videos at once: DAM batches are filled with the jobs of every video.

    ``videos`` gives each video's jobs and its frames over their keyframe span; the frames are read one
    video after another, and jobs left waiting for a full batch keep only their keyframes. Yields
    (position of the video in ``videos``, job, caption); each job samples with its own ``job_seed``, so one
    video alone gets exactly what ``caption_jobs`` gives.
    """
    videos = [(list(jobs), frames) for jobs, frames in videos]
    ready: list[tuple[int, _Batcher, CaptionJob]] = []
    with progress_bar(sum(len(jobs) for jobs, _ in videos), "captioning", "caption", progress) as bar:
        for position, (jobs, frames) in enumerate(videos):
            batcher = _Batcher(jobs)
            for frame in frames:
                ready += [(position, batcher, job) for job in batcher.add_frame(frame)]
                while len(ready) >= settings.batch_size:
                    yield from _run(model, ready, settings)
                    bar.update(settings.batch_size)
            if batcher.waiting:
                raise UserError(f"frame {batcher.waiting[0].last_needed} could not be decoded again for captioning "
                                "(the file changed or is damaged)")
        while ready:
            size = min(len(ready), settings.batch_size)
            yield from _run(model, ready, settings)
            bar.update(size)


class _Batcher:
    """Keeps the keyframes that waiting jobs need, and knows which jobs have all theirs."""

    def __init__(self, jobs: Sequence[CaptionJob]) -> None:
        self.waiting = sorted(jobs, key=lambda job: job.last_needed)
        self.uses: dict[int, int] = {}
        for job in jobs:
            for f in job.keyframes:
                self.uses[f.index] = self.uses.get(f.index, 0) + 1
        self.images: dict[int, np.ndarray] = {}

    def add_frame(self, frame: Frame) -> list[CaptionJob]:
        """Keep the frame if a job needs it; the jobs that now have all their keyframes."""
        if frame.index in self.uses:
            self.images[frame.index] = frame.image
        ready = []
        while self.waiting and self.waiting[0].last_needed <= frame.index:
            ready.append(self.waiting.pop(0))
        return ready

    def release(self, job: CaptionJob) -> None:
        for f in job.keyframes:
            self.uses[f.index] -= 1
            if self.uses[f.index] == 0:
                self.images.pop(f.index, None)


def _run(model, ready: list[tuple[int, _Batcher, CaptionJob]],
         settings: CaptionSettings) -> Iterator[tuple[int, CaptionJob, Caption]]:
    """Caption the first ``batch_size`` ready jobs (taken off ``ready``) in one DAM batch."""
    batch = ready[:settings.batch_size]
    del ready[:settings.batch_size]
    objects = [DamInput([batcher.images[f.index] for f in job.keyframes], [f.mask.to_mask() for f in job.keyframes],
                        settings.query) for _, batcher, job in batch]
    seeds = None if settings.seed is None else [job_seed(settings.seed, job) for _, _, job in batch]
    texts = describe(model, objects, settings, seeds)
    for (position, batcher, job), text in zip(batch, texts):
        batcher.release(job)
        yield position, job, job.caption(text)
