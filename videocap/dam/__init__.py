"""Describe Anything (DAM) inference: detailed captions for masked regions of images and videos.

A clean-room implementation of NVIDIA's reference (NVlabs/describe-anything) on transformers 5.x that
loads the official checkpoints (``nvidia/DAM-3B``, ``nvidia/DAM-3B-Video``) and reproduces their outputs.
"""

__all__ = ["DamLoadError", "DamModel"]


def __getattr__(name: str):
    # Imported on first use: transformers takes seconds to import, and the CLI only needs it for some commands.
    if name == "DamModel":
        from videocap.dam.model import DamModel
        return DamModel
    if name == "DamLoadError":
        from videocap.dam.loading import DamLoadError
        return DamLoadError
    raise AttributeError(f"module 'videocap.dam' has no attribute {name!r}")
