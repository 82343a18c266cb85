"""Tracking metrics against ground truth: CLEAR MOTA (with ID switches) and IDF1.

Written here because py-motmetrics, the usual package, no longer runs on NumPy 2. Definitions
follow Bernardin & Stiefelhagen 2008 (CLEAR MOT) and Ristani et al. 2016 (identity measures),
with IoU >= ``iou_threshold`` as a match.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

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


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _match(gt: dict[int, tuple], hyp: dict[int, tuple], threshold: float,
           keep: dict[int, int] | None = None) -> dict[int, int]:
    """gt id -> hyp id for one frame; pairs in ``keep`` that still overlap are kept first (CLEAR)."""
    pairs: dict[int, int] = {}
    for g, h in (keep or {}).items():
        if g in gt and h in hyp and iou(gt[g], hyp[h]) >= threshold:
            pairs[g] = h
    gts = [g for g in gt if g not in pairs]
    hyps = [h for h in hyp if h not in pairs.values()]
    if gts and hyps:
        cost = np.array([[1.0 - iou(gt[g], hyp[h]) for h in hyps] for g in gts])
        for r, c in zip(*linear_sum_assignment(cost)):
            if cost[r, c] <= 1.0 - threshold:
                pairs[gts[r]] = hyps[c]
    return pairs


def score_tracking(truth: FrameBoxes, hypothesis: FrameBoxes, iou_threshold: float = 0.5) -> TrackingScores:
    frames = sorted(set(truth) | set(hypothesis))
    last_match: dict[int, int] = {}  # gt id -> hyp id it was last matched to
    current: dict[int, int] = {}
    fn = fp = switches = total = 0
    overlap: dict[tuple[int, int], int] = defaultdict(int)  # (gt, hyp) -> frames matched (for IDF1)
    gt_count: dict[int, int] = defaultdict(int)
    hyp_count: dict[int, int] = defaultdict(int)
    for frame in frames:
        gt, hyp = truth.get(frame, {}), hypothesis.get(frame, {})
        total += len(gt)
        for g in gt:
            gt_count[g] += 1
        for h in hyp:
            hyp_count[h] += 1
        current = _match(gt, hyp, iou_threshold, current)
        for g, h in current.items():
            if g in last_match and last_match[g] != h:
                switches += 1
            last_match[g] = h
        fn += len(gt) - len(current)
        fp += len(hyp) - len(current)
        # IDF1 counts every overlapping pair, not only the per-frame assignment.
        for g, gbox in gt.items():
            for h, hbox in hyp.items():
                if iou(gbox, hbox) >= iou_threshold:
                    overlap[(g, h)] += 1
    gts, hyps = sorted(gt_count), sorted(hyp_count)
    idtp = 0
    if gts and hyps:
        gain = np.array([[overlap.get((g, h), 0) for h in hyps] for g in gts])
        rows, cols = linear_sum_assignment(-gain)
        idtp = int(gain[rows, cols].sum())
    denominator = sum(gt_count.values()) + sum(hyp_count.values())
    return TrackingScores(
        mota=1.0 - (fn + fp + switches) / total if total else 1.0,
        idf1=2 * idtp / denominator if denominator else 1.0,
        id_switches=switches, false_negatives=fn, false_positives=fp, ground_truth=total,
    )
