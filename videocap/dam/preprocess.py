"""Frames and masks -> the reference's 8-channel "cimage" per frame (spec §5).

Each frame gives two views, the full frame and a focal crop around the mask, each resized with PIL's
bicubic filter on uint8 (a different resize kernel would not match the reference) to the tower's input
size, plus the mask resized the same way. Views stay uint8 here; ``normalize`` turns them into model
input on the model's device, with the reference's exact float arithmetic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image

from videocap.dam.config import PreprocessConfig

FrameImage = np.ndarray | Image.Image  # one image given to DAM (not videocap.io.video.Frame, a decoded frame record)
Mask = np.ndarray | Image.Image

MIN_FOCAL_SIDE = 48  # the focal box is at least 48x48 original pixels before being tripled


def as_rgb(frame: FrameImage, index: int) -> np.ndarray:
    """A frame as an HxWx3 uint8 array (PIL images are converted to RGB)."""
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"frame {index} must be an HxWx3 uint8 RGB array, got shape {arr.shape} {arr.dtype}")
    return arr


def as_mask(mask: Mask, index: int) -> np.ndarray:
    """A mask as an HxW uint8 array of 0/1 (any non-zero pixel is inside, as in the reference)."""
    arr = np.asarray(mask.convert("L") if isinstance(mask, Image.Image) and mask.mode not in ("1", "L") else mask)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise ValueError(f"mask {index} must be an HxW array, got shape {arr.shape}")
    return (arr != 0).view(np.uint8)


def check_inputs(frames: Sequence[FrameImage],
                 masks: Sequence[Mask]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Validated RGB frames and 0/1 masks; ValueError for a count or size mismatch or an empty mask."""
    if len(frames) != len(masks):
        raise ValueError(f"got {len(frames)} frames but {len(masks)} masks: give one mask per frame")
    if not frames:
        raise ValueError("no frames given")
    rgb = [as_rgb(f, i) for i, f in enumerate(frames)]
    bin_masks = [as_mask(m, i) for i, m in enumerate(masks)]
    for i, (f, m) in enumerate(zip(rgb, bin_masks)):
        if f.shape[:2] != m.shape:
            raise ValueError(f"mask {i} is {m.shape[1]}x{m.shape[0]} but its frame is {f.shape[1]}x{f.shape[0]} "
                             "(width x height): they must be the same size")
        if not m.any():
            raise ValueError(f"mask {i} is empty: DAM needs at least one pixel inside the region")
    return rgb, bin_masks


def focal_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """The focal crop ``(row0, row1, col0, col1)``: the mask's box (at least 48 px a side) tripled, clipped."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    y0, x0 = int(rows[0]), int(cols[0])
    h, w = int(rows[-1]) + 1 - y0, int(cols[-1]) + 1 - x0
    xc, yc = x0 + w / 2, y0 + h / 2
    w, h = max(w, MIN_FOCAL_SIDE), max(h, MIN_FOCAL_SIDE)
    x0, y0 = int(xc - w / 2), int(yc - h / 2)  # int() truncates toward zero, as the reference does
    height, width = mask.shape
    return max(y0 - h, 0), min(y0 + 2 * h, height), max(x0 - w, 0), min(x0 + 2 * w, width)


def _pad_square(img: Image.Image, fill: int | tuple[int, ...]) -> Image.Image:
    """The image centred on a square of ``fill`` (offsets rounded down), as the reference's "pad" mode."""
    w, h = img.size
    side = max(w, h)
    out = Image.new(img.mode, (side, side), fill)
    out.paste(img, ((side - w) // 2, (side - h) // 2))
    return out


def _resized(img: Image.Image, fill: int | tuple[int, ...], cfg: PreprocessConfig) -> np.ndarray:
    if cfg.aspect_ratio == "pad":
        img = _pad_square(img, fill)
    return np.asarray(img.resize((cfg.width, cfg.height), cfg.resample))


def _fills(cfg: PreprocessConfig) -> tuple[tuple[int, ...], int]:
    """Padding colours of the "pad" mode: the mean grey, for the image and for its mask."""
    fill = tuple(int(m * 255) for m in cfg.image_mean)
    return fill, fill[0]


def render_view(img: Image.Image, msk: Image.Image, cfg: PreprocessConfig, rgb: np.ndarray | None = None) -> np.ndarray:
    """One view as uint8 ``[4, H, W]``: the RGB image and its 0/255 mask (mode L), both PIL-resized.

    Resizing the L mask gives exactly channel 0 of the reference's RGB copy of it. ``rgb`` is the
    already resized image, when another object on the same frame resized it.
    """
    fill, mask_fill = _fills(cfg)
    out = np.empty((4, cfg.height, cfg.width), dtype=np.uint8)
    out[:3] = (_resized(img, fill, cfg) if rgb is None else rgb).transpose(2, 0, 1)
    out[3] = _resized(msk, mask_fill, cfg)
    return out


def make_cimage(image: np.ndarray, mask: np.ndarray, cfg: PreprocessConfig,
                full_rgb: np.ndarray | None = None) -> np.ndarray:
    """The 8-channel uint8 cimage of one frame: full view then focal view (spec §3.1)."""
    img = Image.fromarray(image)
    msk = Image.fromarray(mask * np.uint8(255))
    full = render_view(img, msk, cfg, full_rgb)
    r0, r1, c0, c1 = focal_box(mask)
    if (r0, r1, c0, c1) == (0, mask.shape[0], 0, mask.shape[1]):
        focal = full  # the crop is the whole frame: same pixels, same resize
    else:
        box = (c0, r0, c1, r1)
        focal = render_view(img.crop(box), msk.crop(box), cfg)
    return np.concatenate([full, focal])


_POOL: ThreadPoolExecutor | None = None


def make_cimages(images: Sequence[np.ndarray], masks: Sequence[np.ndarray], cfg: PreprocessConfig) -> torch.Tensor:
    """uint8 ``[N, 8, H, W]`` for N frames; PIL releases the GIL while resizing, so frames run in threads.

    A frame shared by several objects (the same array object) has its full view resized once.
    """
    global _POOL
    if len(images) == 1:
        return torch.from_numpy(make_cimage(images[0], masks[0], cfg)[None])
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="dam-prep")
    unique = {id(image): image for image in images}
    fill = _fills(cfg)[0]
    resized = _POOL.map(lambda image: _resized(Image.fromarray(image), fill, cfg), unique.values())
    full_rgb = dict(zip(unique, resized, strict=True))
    views = _POOL.map(lambda pair: make_cimage(pair[0], pair[1], cfg, full_rgb[id(pair[0])]),
                      zip(images, masks, strict=True))
    return torch.from_numpy(np.stack(list(views)))


def normalize(pixels: torch.Tensor, cfg: PreprocessConfig) -> torch.Tensor:
    """uint8 cimages -> float32 model input, bit-identical to the reference's processor.

    The reference rescales in float64, rounds to float32, then normalizes in float32, the mask channel of
    each view like the red channel; a 256-entry table per channel holds those exact values.
    """
    mean = np.array([*cfg.image_mean, cfg.image_mean[0]] * 2, dtype=np.float32)[:, None]
    std = np.array([*cfg.image_std, cfg.image_std[0]] * 2, dtype=np.float32)[:, None]
    table = ((np.arange(256) * cfg.rescale_factor).astype(np.float32)[None] - mean) / std  # [8, 256]
    # numpy's take is several times faster than torch indexing on the CPU; on a GPU, index there.
    return _lookup_numpy(pixels, table) if pixels.device.type == "cpu" else _lookup_torch(pixels, table)


def _lookup_numpy(pixels: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    src = pixels.numpy()
    out = np.empty(src.shape, dtype=np.float32)
    for c in range(table.shape[0]):
        np.take(table[c], src[:, c], out=out[:, c])
    return torch.from_numpy(out)


def _lookup_torch(pixels: torch.Tensor, table: np.ndarray) -> torch.Tensor:
    lut = torch.from_numpy(table).to(pixels.device)
    return torch.stack([lut[c][pixels[:, c].long()] for c in range(table.shape[0])], dim=1)
