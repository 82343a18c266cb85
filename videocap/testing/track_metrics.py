"""Tracking metrics against ground truth: HOTA, CLEAR MOTA (with ID switches) and IDF1.

The metrics come from TrackEval (the ``trackeval`` package on PyPI, the HOTA authors' evaluation
code), which runs on NumPy 2; py-motmetrics, the other usual package, does not. This module only
adapts boxes to TrackEval's per-sequence input: it computes the IoU matrices of each frame, numbers
the ids 0..n-1 and calls ``eval_sequence`` of the ``HOTA``, ``CLEAR`` and ``Identity`` metrics.

CLEAR (Bernardin & Stiefelhagen 2008) and the identity measures (Ristani et al. 2016) count a pair
as a match at IoU >= ``iou_threshold``. HOTA (Luiten et al. 2021) does not take that threshold: it
is the mean over IoU thresholds 0.05, 0.10, ..., 0.95 of sqrt(DetA * AssA) at each threshold, and
``det_a`` and ``ass_a`` are the means of DetA and AssA over the same thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from trackeval.metrics import CLEAR, HOTA, Identity

#: frame -> {object id: (x0, y0, x1, y1)}
FrameBoxes = dict[int, dict[int, tuple[float, float, float, float]]]


@dataclass(frozen=True)
class TrackingScores:
    mota: float
    idf1: float
    id_switches: int
    false_negatives: int
    false_positives: int
    ground_truth: int  # number of ground-truth boxes
    hota: float
    det_a: float  # HOTA's detection accuracy
    ass_a: float  # HOTA's association accuracy


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n x 4, xyxy) with every box in ``b`` (m x 4): an n x m array."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return float(iou_matrix(np.array(a), np.array(b))[0, 0])


def _sequence(truth: FrameBoxes, hypothesis: FrameBoxes) -> dict:
    """TrackEval's input for one sequence; a timestep for each frame with a box on either side."""
    frames = sorted(set(truth) | set(hypothesis))
    gt_index = {g: i for i, g in enumerate(sorted({g for f in truth.values() for g in f}))}
    hyp_index = {h: i for i, h in enumerate(sorted({h for f in hypothesis.values() for h in f}))}
    gt_ids, tracker_ids, similarity = [], [], []
    for frame in frames:
        gt, hyp = truth.get(frame, {}), hypothesis.get(frame, {})
        gt_ids.append(np.array([gt_index[g] for g in gt], dtype=int))
        tracker_ids.append(np.array([hyp_index[h] for h in hyp], dtype=int))
        similarity.append(iou_matrix(list(gt.values()), list(hyp.values())))
    return {
        "num_timesteps": len(frames),
        "gt_ids": gt_ids,
        "tracker_ids": tracker_ids,
        "similarity_scores": similarity,
        "num_gt_dets": sum(len(ids) for ids in gt_ids),
        "num_tracker_dets": sum(len(ids) for ids in tracker_ids),
        "num_gt_ids": len(gt_index),
        "num_tracker_ids": len(hyp_index),
    }


def score_tracking(truth: FrameBoxes, hypothesis: FrameBoxes, iou_threshold: float = 0.5) -> TrackingScores:
    data = _sequence(truth, hypothesis)
    config = {"THRESHOLD": iou_threshold, "PRINT_CONFIG": False}
    clear = CLEAR(config).eval_sequence(data)
    identity = Identity(dict(config)).eval_sequence(data)
    hota = HOTA().eval_sequence(data)
    return TrackingScores(
        mota=float(clear["MOTA"]), idf1=float(identity["IDF1"]), id_switches=int(clear["IDSW"]),
        false_negatives=int(clear["CLR_FN"]), false_positives=int(clear["CLR_FP"]),
        ground_truth=data["num_gt_dets"],
        hota=float(np.mean(hota["HOTA"])), det_a=float(np.mean(hota["DetA"])), ass_a=float(np.mean(hota["AssA"])),
    )
