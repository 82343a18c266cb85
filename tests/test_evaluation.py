"""The tracking metrics (TrackEval through ``videocap.testing.track_metrics``) on hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from videocap.testing.track_metrics import iou, iou_matrix, score_tracking


def box(x):
    return (x, 0.0, x + 10.0, 10.0)


def test_perfect_tracking():
    truth = {t: {1: box(t), 2: box(100 + t)} for t in range(10)}
    hyp = {t: {7: box(t), 9: box(100 + t)} for t in range(10)}
    scores = score_tracking(truth, hyp)
    assert (scores.mota, scores.idf1, scores.id_switches) == (1.0, 1.0, 0)
    assert (scores.hota, scores.det_a, scores.ass_a) == (1.0, 1.0, 1.0)


def test_identity_change_halfway():
    truth = {t: {1: box(t)} for t in range(10)}
    hyp = {t: {7 if t < 5 else 8: box(t)} for t in range(10)}
    scores = score_tracking(truth, hyp)
    assert scores.id_switches == 1
    assert scores.mota == pytest.approx(1 - 1 / 10)
    assert scores.idf1 == pytest.approx(2 * 5 / 20)  # gt 1 maps to one of the halves
    # Every box is found exactly (DetA 1); each match pairs gt 1 (10 boxes) with a 5-box track that
    # it shares 5 frames with: association IoU 5 / (10 + 5 - 5) at every threshold.
    assert scores.det_a == pytest.approx(1.0)
    assert scores.ass_a == pytest.approx(0.5)
    assert scores.hota == pytest.approx(np.sqrt(0.5))


def test_misses_and_false_positives():
    truth = {t: {1: box(t)} for t in range(4)}
    hyp = {0: {5: box(0)}, 1: {5: box(1), 6: box(200)}, 2: {}, 3: {5: box(3)}}
    scores = score_tracking(truth, hyp)
    assert (scores.false_negatives, scores.false_positives, scores.id_switches) == (1, 1, 0)
    assert scores.mota == pytest.approx(1 - 2 / 4)
    assert scores.idf1 == pytest.approx(2 * 3 / (4 + 4))
    # 3 exact matches, 1 miss, 1 false box: DetA 3 / 5; gt 1 (4 boxes) and track 5 (3 boxes) share 3.
    assert scores.det_a == pytest.approx(3 / 5)
    assert scores.ass_a == pytest.approx(3 / (4 + 3 - 3))
    assert scores.hota == pytest.approx(np.sqrt(3 / 5 * 3 / 4))


def test_low_overlap_is_not_a_match():
    scores = score_tracking({0: {1: box(0)}}, {0: {2: box(8)}})  # IoU 2/18
    assert (scores.false_negatives, scores.false_positives) == (1, 1)
    # HOTA is not held to the 0.5 threshold: it averages over IoU thresholds 0.05, 0.10, ..., 0.95,
    # and IoU 0.11 is a match at the first two of those 19.
    assert scores.hota == pytest.approx(2 / 19)


def crossing():
    """Two objects cross; the tracker swaps their ids at the crossing, misses one box there and adds a
    two-frame false track."""
    truth = {t: {1: box(10 * t), 2: box(100 - 10 * t)} for t in range(11)}
    hyp = {t: dict(zip((3, 4) if t < 5 else (4, 3), (box(10 * t + 1), box(100 - 10 * t - 1)))) for t in range(11)}
    del hyp[5][4]
    hyp[7][9] = hyp[8][9] = box(300)
    return truth, hyp


# (mota, idf1, id_switches, false_negatives, false_positives, ground_truth) as the hand-written CLEAR
# and IDF1 code that TrackEval replaced gave them on these cases.
HAND_WRITTEN = {
    "perfect": (1.0, 1.0, 0, 0, 0, 20),
    "identity change": (0.9, 0.5, 1, 0, 0, 10),
    "misses and false positives": (0.5, 0.75, 0, 1, 1, 4),
    "low overlap": (-1.0, 0.0, 0, 1, 1, 1),
    "crossing": (0.7727272727272727, 0.4888888888888889, 2, 1, 2, 22),
}
CASES = {
    "perfect": ({t: {1: box(t), 2: box(100 + t)} for t in range(10)}, {t: {7: box(t), 9: box(100 + t)} for t in range(10)}),
    "identity change": ({t: {1: box(t)} for t in range(10)}, {t: {7 if t < 5 else 8: box(t)} for t in range(10)}),
    "misses and false positives": ({t: {1: box(t)} for t in range(4)},
                                   {0: {5: box(0)}, 1: {5: box(1), 6: box(200)}, 2: {}, 3: {5: box(3)}}),
    "low overlap": ({0: {1: box(0)}}, {0: {2: box(8)}}),
    "crossing": crossing(),
}


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_agrees_with_the_hand_written_metrics(name):
    s = score_tracking(*CASES[name])
    mota, idf1, *counts = HAND_WRITTEN[name]
    assert s.mota == pytest.approx(mota) and s.idf1 == pytest.approx(idf1)
    assert [s.id_switches, s.false_negatives, s.false_positives, s.ground_truth] == counts


def test_iou_matrix():
    a = np.array([box(0), box(5), (0.0, 0.0, 0.0, 0.0)])
    b = np.array([box(0), box(8), box(50)])
    expected = [[1.0, 2 / 18, 0.0], [5 / 15, 7 / 13, 0.0], [0.0, 0.0, 0.0]]
    np.testing.assert_allclose(iou_matrix(a, b), expected)
    assert iou(box(0), box(8)) == pytest.approx(2 / 18)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)
