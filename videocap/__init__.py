"""videocap: detailed, localized captions for the objects in a video.

The pipeline reads like the data flow:
video (``videocap.video``) -> detections and tracks (``videocap.tracking``) ->
keyframes (``videocap.keyframes``) -> captions (``videocap.dam``) -> outputs.
"""

__version__ = "0.1.0"
