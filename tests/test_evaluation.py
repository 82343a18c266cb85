"""The tracking metrics on hand-checked cases."""

from __future__ import annotations

import pytest

from videocap.evaluation import score_tracking


def box(x):
    return (x, 0.0, x + 10.0, 10.0)


def test_perfect_tracking():
    truth = {t: {1: box(t), 2: box(100 + t)} for t in range(10)}
    hyp = {t: {7: box(t), 9: box(100 + t)} for t in range(10)}
    scores = score_tracking(truth, hyp)
    assert (scores.mota, scores.idf1, scores.id_switches) == (1.0, 1.0, 0)


def test_identity_change_halfway():
    truth = {t: {1: box(t)} for t in range(10)}
    hyp = {t: {7 if t < 5 else 8: box(t)} for t in range(10)}
    scores = score_tracking(truth, hyp)
    assert scores.id_switches == 1
    assert scores.mota == pytest.approx(1 - 1 / 10)
    assert scores.idf1 == pytest.approx(2 * 5 / 20)  # gt 1 maps to one of the halves


def test_misses_and_false_positives():
    truth = {t: {1: box(t)} for t in range(4)}
    hyp = {0: {5: box(0)}, 1: {5: box(1), 6: box(200)}, 2: {}, 3: {5: box(3)}}
    scores = score_tracking(truth, hyp)
    assert (scores.false_negatives, scores.false_positives, scores.id_switches) == (1, 1, 0)
    assert scores.mota == pytest.approx(1 - 2 / 4)
    assert scores.idf1 == pytest.approx(2 * 3 / (4 + 4))


def test_low_overlap_is_not_a_match():
    scores = score_tracking({0: {1: box(0)}}, {0: {2: box(8)}})  # IoU 2/18
    assert (scores.false_negatives, scores.false_positives) == (1, 1)
