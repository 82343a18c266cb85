"""Training and evaluation items for the demo captioner, made with ``videocap.synthetic``.

With ``num_frames=1`` an item is a still image (DAM's single-image query) and its caption names
colour, shape and size only.

Each generated clip gives one item per object that is visible long enough: 8 keyframes spread evenly
over the frames where it shows at least ``MIN_PIXELS`` pixels, its visible masks there, a caption from
the ground truth, and the attributes the auxiliary training heads predict. Objects of one clip share
their frames, so the model must use the mask to say which object it describes.
"""

from __future__ import annotations

from collections.abc import Iterable
from multiprocessing import Pool

import numpy as np

from videocap.dam.examples import Example
from videocap.synthetic import (
    COLOURS,
    SHAPES,
    make_clip,
    motion_words,
    true_caption,
    true_still_caption,
)

MIN_PIXELS = 40
MOTIONS = ("still", "left", "right", "up", "down", "up and to the left", "up and to the right",
           "down and to the left", "down and to the right")


def clip_examples(seed: int, num_frames: int = 8, clip_frames: int = 48, size: tuple[int, int] = (320, 240),
                  max_objects: int = 4) -> list[Example]:
    rng = np.random.default_rng(seed)
    clip = make_clip(seed, num_frames=clip_frames, size=size, num_objects=int(rng.integers(1, max_objects + 1)))
    width, height = clip.size
    examples = []
    for obj in clip.objects:
        visible = [t for t, masks in enumerate(clip.masks)
                   if obj.object_id in masks and masks[obj.object_id].sum() >= MIN_PIXELS]
        if len(visible) < num_frames:
            continue
        if num_frames == 1:  # a still image: one frame from the middle of the object's visible span
            keyframes = [visible[len(visible) // 2]]
        else:
            keyframes = [visible[int(round(x))] for x in np.linspace(0, len(visible) - 1, num_frames)]
        centres = [[obj.centre(t)[0] / width, obj.centre(t)[1] / height] for t in keyframes]
        examples.append(Example(
            frames=[clip.frames[t] for t in keyframes],
            masks=[clip.masks[t][obj.object_id].astype(np.uint8) * 255 for t in keyframes],
            caption=true_caption(clip, obj.object_id, rng) if num_frames > 1 else true_still_caption(clip, obj.object_id, rng),
            attributes={"colour": list(COLOURS).index(obj.colour), "shape": SHAPES.index(obj.shape),
                        "motion": MOTIONS.index(motion_words(obj.velocity)),
                        "centres": np.clip(centres, -0.2, 1.2).tolist(), "seed": seed, "object_id": obj.object_id,
                        "truth": (obj.colour, obj.shape, obj.motion)},
        ))
    return examples


def shape_examples(seeds: Iterable[int], processes: int = 1, **kwargs) -> list[Example]:
    """Items from many clips, generated in ``processes`` worker processes."""
    seeds = list(seeds)
    if processes <= 1:
        chunks = [clip_examples(s, **kwargs) for s in seeds]
    else:
        with Pool(processes) as pool:
            chunks = pool.starmap(_clip_examples_kw, [(s, kwargs) for s in seeds], chunksize=16)
    return [example for chunk in chunks for example in chunk]


def _clip_examples_kw(seed: int, kwargs: dict) -> list[Example]:
    return clip_examples(seed, **kwargs)
