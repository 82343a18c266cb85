"""Compact masks and their COCO RLE, checked against a direct column-major run count."""

from __future__ import annotations

import numpy as np
import pytest

from videocap.masks import BoxMask, decode_counts, rle_to_mask


def naive_rle(mask: np.ndarray) -> list[int]:
    flat = mask.T.reshape(-1).astype(int)  # column-major
    counts, current, run = [], 0, 0
    for value in flat:
        if value == current:
            run += 1
        else:
            counts.append(run)
            current, run = value, 1
    counts.append(run)
    return counts


@pytest.mark.parametrize("seed", range(6))
def test_rle_matches_a_direct_count_and_round_trips(seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros((37, 53), bool)
    y0, x0 = rng.integers(0, 30), rng.integers(0, 45)
    mask[y0:y0 + rng.integers(1, 20), x0:x0 + rng.integers(1, 20)] = True
    mask &= rng.random(mask.shape) < 0.8  # holes
    if seed == 0:
        mask[:, -1] = True  # touches the last column: no trailing zero run
    box_mask = BoxMask.from_mask(mask)
    rle = box_mask.to_rle()
    assert rle["size"] == [37, 53]
    assert decode_counts(rle["counts"]) == naive_rle(mask)
    assert np.array_equal(rle_to_mask(rle), mask)
    assert np.array_equal(box_mask.to_mask(), mask)
    assert box_mask.area == int(mask.sum())


def test_box_mask_is_tight_and_small():
    mask = np.zeros((720, 1280), bool)
    mask[100:200, 300:350] = True
    box_mask = BoxMask.from_mask(mask)
    assert box_mask.box == (300, 100, 350, 200)
    assert len(box_mask.bits) < 100 * 50 // 8  # compressed below one bit per pixel


def test_empty_mask():
    box_mask = BoxMask.from_mask(np.zeros((4, 5), bool))
    assert box_mask.area == 0
    assert decode_counts(box_mask.to_rle()["counts"]) == [20]
    assert not box_mask.to_mask().any()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools' own NumPy 2 notice
@pytest.mark.parametrize("seed", range(5))
def test_rle_is_what_pycocotools_writes_and_reads(seed):
    coco = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(seed)
    mask = np.zeros((120, 90), bool)
    mask[rng.integers(0, 60):rng.integers(61, 120), rng.integers(0, 40):rng.integers(41, 90)] = True
    mask &= rng.random(mask.shape) < 0.9
    ours = BoxMask.from_mask(mask).to_rle()
    theirs = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert ours["counts"] == theirs["counts"].decode("ascii")
    assert np.array_equal(coco.decode({"size": ours["size"], "counts": ours["counts"].encode()}), mask)


def test_search_limited_to_a_box_gives_the_same_mask():
    mask = np.zeros((720, 1280), np.float32)
    mask[100:200, 300:350] = 1.0
    mask[150, 349] = 0.3  # below 0.5: outside
    box_mask = BoxMask.from_mask(mask, within=(299.6, 99.2, 350.4, 200.0))
    assert box_mask == BoxMask.from_mask(mask > 0.5)
    assert box_mask.box == (300, 100, 350, 200)
