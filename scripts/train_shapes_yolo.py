"""Train the bundled offline YOLO-seg model on generated shape videos.

Reproduces ``videocap/data/models/shapes-yolo11n-seg.pt``:

    python scripts/train_shapes_yolo.py --out videocap/data/models/shapes-yolo11n-seg.pt

It writes a YOLO segmentation dataset of frames from ``videocap.synthetic`` clips (seeds
1_000_000+, disjoint from the seeds tests and evaluations use), then trains ``yolo11n-seg``
from scratch (no pretrained weights exist offline) at image size 256 on the CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch
import yaml

from videocap.synthetic import SHAPES, make_clip

SEED_BASE = 1_000_000
IMGSZ = 256


def mask_polygon(mask: np.ndarray) -> np.ndarray | None:
    """Largest outer contour of a mask as (N, 2) pixel points, or None when too small to label."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = [c for c in contours if cv2.contourArea(c) >= 12]
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    return largest.reshape(-1, 2) if len(largest) >= 3 else None


def write_dataset(root: Path, num_train: int, num_val: int) -> Path:
    """Two frames per generated clip, with one polygon label line per visible object."""
    shape_ids = {name: i for i, name in enumerate(SHAPES)}
    for split, count, offset in (("train", num_train, 0), ("val", num_val, num_train)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for index in range(0, count, 2):
            seed = SEED_BASE + offset + index
            rng = np.random.default_rng(seed)
            clip = make_clip(seed, num_frames=40, num_objects=int(rng.integers(1, 7)))
            width, height = clip.size
            for frame_index in rng.choice(len(clip.frames), size=min(2, count - index), replace=False):
                name = f"{seed}_{frame_index:02d}"
                cv2.imwrite(str(root / "images" / split / f"{name}.png"),
                            cv2.cvtColor(clip.frames[frame_index], cv2.COLOR_RGB2BGR))
                lines = []
                for obj in clip.objects:
                    mask = clip.masks[frame_index].get(obj.object_id)
                    polygon = None if mask is None else mask_polygon(mask)
                    if polygon is None:
                        continue
                    coords = " ".join(f"{x / width:.5f} {y / height:.5f}" for x, y in polygon)
                    lines.append(f"{shape_ids[obj.shape]} {coords}")
                (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines))
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(root.resolve()), "train": "images/train", "val": "images/val",
                                    "names": dict(enumerate(SHAPES))}))
    return data


def _relative(value: object, root: str) -> object:
    """Paths of this machine inside checkpoint metadata, made relative to the repository."""
    if isinstance(value, str) and value.startswith(root):
        return value[len(root):].lstrip("/") or "."
    if isinstance(value, dict):
        return {k: _relative(v, root) for k, v in value.items()}
    return value


def portable_checkpoint(src: Path, dst: Path) -> None:
    """Copy an ultralytics checkpoint without the training machine's absolute paths in its metadata."""
    from ultralytics.utils.patches import torch_load

    root = str(Path.cwd().resolve())
    checkpoint = torch_load(src, map_location="cpu")  # ultralytics' own loader for its own files
    checkpoint["train_args"] = _relative(checkpoint.get("train_args", {}), root)
    checkpoint.pop("git", None)  # repository metadata: absolute root, commit, branch
    model = checkpoint.get("model")
    if isinstance(getattr(model, "args", None), dict):
        model.args = _relative(model.args, root)
    torch.save(checkpoint, dst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("videocap/data/models/shapes-yolo11n-seg.pt"))
    parser.add_argument("--work", type=Path, default=Path("runs/shapes-yolo"), help="dataset and training runs")
    parser.add_argument("--train-images", type=int, default=800)
    parser.add_argument("--val-images", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=45)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (ultralytics would pick cores - 1)")
    args = parser.parse_args()

    from ultralytics import YOLO

    data = write_dataset(args.work / "dataset", args.train_images, args.val_images)
    model = YOLO("yolo11n-seg.yaml")  # architecture only: trained from scratch

    def use_threads(_trainer: object) -> None:
        torch.set_num_threads(args.threads)  # ultralytics resets threads when it selects the device

    model.add_callback("on_pretrain_routine_end", use_threads)
    model.add_callback("on_train_epoch_start", use_threads)
    model.train(data=str(data), imgsz=IMGSZ, epochs=args.epochs, batch=16, workers=0, device="cpu", amp=False,
                plots=False, seed=0, deterministic=True, pretrained=False, project=str(args.work.resolve()),
                name="train", exist_ok=True, verbose=False)
    best = args.work / "train" / "weights" / "best.pt"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    portable_checkpoint(best, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
