"""Segmentation and tracking: frames in, ``Detections`` with track ids out, collected into tracks."""
