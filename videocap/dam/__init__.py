"""Describe Anything (DAM) inference: detailed captions for masked regions of images and videos.

A clean-room implementation of NVIDIA's reference (NVlabs/describe-anything) on transformers 5.x that
loads the official checkpoints (``nvidia/DAM-3B``, ``nvidia/DAM-3B-Video``) and reproduces their outputs.
"""

from videocap.dam.loading import DamLoadError
from videocap.dam.model import DamModel

__all__ = ["DamLoadError", "DamModel"]
