"""Captions made while tracking goes on: a thread runs DAM on the jobs of tracks that have ended.

A track has ended when ByteTrack will not find it again (or the video is over): its frames, and so its
keyframes and caption jobs, are final, the same as the sequential order makes once the last frame is
tracked. Each job samples with its own seed (``captioning.job_seed``), so a caption does not depend on
which jobs share its batch: the captions are the sequential order's. YOLO and DAM share the device,
both loaded once; torch and ffmpeg release the GIL while they work, so a thread is enough.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence

from videocap.caption.jobs import (
    CaptionJob,
    caption_jobs,
    keyframe_span,
    load_dam,
    make_jobs,
)
from videocap.caption.keyframes import finish_tracks
from videocap.io.video import Video
from videocap.results import Caption, CaptionResult, FrameRange, Track
from videocap.settings import CaptionSettings, TrackSettings


class CaptionWorker:
    """Captions submitted jobs in a thread, ``settings.batch_size`` at a time; ``finish`` returns them all.

    Each batch decodes its own keyframe span (a second reader, beside the tracking one).
    """

    def __init__(self, model, video: Video, frame_range: FrameRange, settings: CaptionSettings) -> None:
        self.model, self.video, self.frame_range, self.settings = model, video, frame_range, settings
        self.captions: list[tuple[CaptionJob, Caption]] = []
        self._queue: queue.Queue[list[CaptionJob] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="videocap-captions", daemon=True)
        self._thread.start()

    def submit(self, jobs: Sequence[CaptionJob]) -> None:
        """Jobs whose tracks have ended (their keyframes are final)."""
        if jobs:
            self._queue.put(list(jobs))

    def finish(self) -> list[tuple[CaptionJob, Caption]]:
        """Wait for every submitted job's caption; raise what the thread raised."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self.captions

    def _work(self) -> None:
        pending: list[CaptionJob] = []
        closing = False
        while not closing:
            jobs = self._queue.get()
            closing = jobs is None
            pending += jobs or []
            size = self.settings.batch_size
            while self._error is None and (len(pending) >= size or (closing and pending)):
                batch, pending = pending[:size], pending[size:]
                try:
                    self._caption(batch)
                except BaseException as exc:  # raised again by finish, in the caller's thread
                    self._error = exc

    def _caption(self, jobs: list[CaptionJob]) -> None:
        with self.video.read(keyframe_span(jobs, self.frame_range)) as frames:
            self.captions += caption_jobs(self.model, jobs, frames, self.settings, progress=False)


class EarlyCaptions:
    """Caption jobs of the tracks that have ended while tracking goes on (loading DAM at the first); ``finish``
    puts the captions into the run's result as ``videocap.pipeline.caption_runs`` would."""

    def __init__(self, video: Video, frame_range: FrameRange, model, settings: CaptionSettings,
                 track_settings: TrackSettings, checkpoint=None) -> None:
        self.frame_range, self.hold = frame_range, video.info.hold(frame_range.stride)
        self.end_time = video.end_time(frame_range)
        self.video, self.model, self.settings, self.track_settings = video, model, settings, track_settings
        self.checkpoint = checkpoint  # the DAM checkpoint opened before tracking (None: open it when loading)
        self.worker: CaptionWorker | None = None
        self.tracked = False  # tracking ran (the tracks did not come from the cache)
        self.load_seconds = 0.0

    def submit(self, ended: list[Track]) -> None:
        """The same kept tracks, keyframes and jobs as the end of tracking makes (``finish_tracks``)."""
        self.tracked = True
        jobs = make_jobs(finish_tracks(ended, self.track_settings), self.hold, self.end_time,
                         self.settings.segment_seconds, self.track_settings)
        if jobs and self.worker is None:
            loaded = time.perf_counter()
            self.model = self.model or load_dam(self.settings, checkpoint=self.checkpoint)  # beside the segmenter on the same device
            self.load_seconds = round(time.perf_counter() - loaded, 3)
            self.worker = CaptionWorker(self.model, self.video, self.frame_range, self.settings)
        if jobs:
            self.worker.submit(jobs)

    def finish(self, result: CaptionResult, on_caption: Callable[[Track, Caption], None] | None) -> None:
        """Wait for the last captions and record them in ``result`` (caption_seconds: the wait after tracking)."""
        waited = time.perf_counter()
        made = self.worker.finish() if self.worker else []
        result.prompt_style = getattr(self.model, "prompt_style", None)
        for job, caption in made:
            job.track.captions.append(caption)
            if on_caption is not None:
                on_caption(job.track, caption)
        if not made:
            return
        for track in result.tracks:
            track.captions.sort(key=lambda c: c.start)
        result.timing.update(dam_load_seconds=self.load_seconds, captioned_while_tracking=True,
                             caption_seconds=round(time.perf_counter() - waited, 3), captions=len(made))
