"""videocap: detailed, localized captions for the objects in a video.

The package reads like the data flow: video (``videocap.io.video``) -> detections and tracks
(``videocap.segment.tracking``, ``videocap.segment.yolo``) -> keyframes (``videocap.caption.keyframes``) -> captions
(``videocap.caption.jobs``, ``videocap.dam``) -> outputs (``videocap.outputs.writing``), with the settings
(``videocap.settings``) and result records (``videocap.results``) below the stages and
``videocap.pipeline`` on top. ``import videocap`` stays light: the names below load on first use.
"""

__version__ = "0.1.0"

__all__ = ["CaptionResult", "CaptionSettings", "DamModel", "ImageSettings", "TrackSettings", "TrackingResult",
           "caption_images", "caption_video", "render_captions", "track_video"]

_HOMES = {
    "track_video": "videocap.pipeline", "caption_video": "videocap.pipeline", "caption_images": "videocap.pipeline",
    "render_captions": "videocap.pipeline",
    "TrackSettings": "videocap.settings", "CaptionSettings": "videocap.settings", "ImageSettings": "videocap.settings",
    "TrackingResult": "videocap.results", "CaptionResult": "videocap.results",
    "DamModel": "videocap.dam",
}


def __getattr__(name: str):
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'videocap' has no attribute {name!r}")
