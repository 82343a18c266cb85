"""The library API: the one place that strings the stages together, one module per kind of run.

video -> detections -> tracks -> keyframes -> captions -> outputs:

- ``videocap.pipeline.tracks``: ``track_video`` (a range's tracks with their keyframes), ``write_tracks``;
- ``videocap.pipeline.video``: ``caption_video`` (tracks, DAM captions, every output in a folder), and its
  steps for ``videocap batch``: ``track_for_captions``, ``plan_captions``, ``caption_runs``, ``write_run``;
- ``videocap.pipeline.photos``: ``caption_images``, every object of a class in a photo or a folder;
- ``videocap.pipeline.remake``: ``render_captions``, ``write_subtitles``, ``write_report``, ``export_tracks``:
  the outputs again from a ``captions.json``, no model run;
- ``videocap.pipeline.describe``: ``describe_region``, DAM on one masked object (``videocap describe``).
"""

from videocap.pipeline.describe import describe_region
from videocap.pipeline.photos import caption_images
from videocap.pipeline.remake import (
           export_tracks,
           render_captions,
           write_report,
           write_subtitles,
)
from videocap.pipeline.tracks import track_video, write_tracks
from videocap.pipeline.video import (
           CaptionRun,
           caption_runs,
           caption_video,
           plan_captions,
           track_for_captions,
           write_run,
)

__all__ = ["CaptionRun", "caption_images", "caption_runs", "caption_video", "describe_region", "export_tracks",
           "plan_captions", "render_captions", "track_for_captions", "track_video", "write_report", "write_run",
           "write_subtitles", "write_tracks"]
