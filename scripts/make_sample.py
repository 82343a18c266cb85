"""Make the bundled sample clip ``shapes.mp4`` and its ground truth ``shapes.truth.json`` in the package
(``videocap/data/sample/``) and their copies in ``samples/``.

    python scripts/make_sample.py

Four seconds at 25 fps, 320x240: two circles that move (the red one passes in front of a square),
a still star, a triangle that enters from the top, over a textured background.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from videocap.io.encode import H264Writer
from videocap.io.files import write_json
from videocap.synthetic import ShapeObject, clip_truth, make_background, render_clip

REPO = Path(__file__).resolve().parents[1]
PACKAGED = REPO / "videocap" / "data" / "sample"  # what an installed wheel has (`videocap sample`)
SAMPLES = REPO / "samples"  # the same files in the clone, real files so that `serve --root samples/` serves them


def main() -> None:
    size, num_frames, fps = (320, 240), 100, 25.0
    objects = [  # drawn in this order: later ones pass in front
        ShapeObject(1, "square", "white", 24.0, (165.0, 150.0), (0.0, 0.0), 20.0),
        ShapeObject(2, "circle", "red", 20.0, (40.0, 150.0), (2.4, 0.0), 0.0),  # passes in front of the square
        ShapeObject(3, "circle", "blue", 17.0, (280.0, 70.0), (-1.6, 0.0), 0.0),
        ShapeObject(4, "star", "yellow", 22.0, (70.0, 60.0), (0.0, 0.0), 10.0),
        ShapeObject(5, "triangle", "green", 18.0, (230.0, -20.0), (0.0, 1.6), 0.0),
    ]
    rng = np.random.default_rng(7)
    clip = render_clip(objects, make_background("texture", rng, size), num_frames, fps, rng, "texture")
    clip.meta["seed"] = 7
    with H264Writer(PACKAGED / "shapes.mp4", fps, size, crf=18) as writer:
        for frame in clip.frames:
            writer.write(frame)
    write_json(PACKAGED / "shapes.truth.json", clip_truth(clip))
    for name in ("shapes.mp4", "shapes.truth.json"):
        shutil.copyfile(PACKAGED / name, SAMPLES / name)
    print(f"wrote {PACKAGED} and its copy {SAMPLES}: shapes.mp4 and shapes.truth.json")


if __name__ == "__main__":
    main()
