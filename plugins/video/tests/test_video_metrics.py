"""MS-TCN's segmentation metrics on a worked example, Viterbi smoothing against brute force,
and average precision by hand."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqkit_video.metrics import (average_precision, edit_score, multilabel_metrics, segments,
                                  segmentation_metrics)
from seqkit_video.smoothing import smooth_labels, smooth_multilabel, viterbi

# 0 is the background tag. Truth segments: A [2, 6), B [6, 8), A [9, 10).
# Predicted: A [1, 4), B [4, 8). IoU(A) = 2 / 5 = 0.4, IoU(B) = 2 / 4 = 0.5.
TRUTH = [0, 0, 1, 1, 1, 1, 2, 2, 0, 1]
PREDICTED = [0, 1, 1, 1, 2, 2, 2, 2, 0, 0]


def test_segments_leave_out_the_background():
    assert segments(TRUTH, background=0) == [(2, 6, 1), (6, 8, 2), (9, 10, 1)]
    assert segments(PREDICTED, background=None)[0] == (0, 1, 0)


def test_worked_example():
    metrics = segmentation_metrics([PREDICTED], [TRUTH], background=0)
    assert metrics["frame_accuracy"] == pytest.approx(0.6)  # 6 of 10 frames
    assert metrics["edit"] == pytest.approx(100 * (1 - 1 / 3))  # [A, B] vs [A, B, A]
    # IoU 0.4 and 0.5 pass 0.10 and 0.25: tp 2, fp 0, fn 1 -> P 1, R 2/3 -> F1 0.8
    assert metrics["f1_10"] == pytest.approx(80.0)
    assert metrics["f1_25"] == pytest.approx(80.0)
    # at 0.50 only B counts: tp 1, fp 1, fn 2 -> P 1/2, R 1/3 -> F1 0.4
    assert metrics["f1_50"] == pytest.approx(40.0)


def test_f1_sums_counts_over_videos_and_edit_averages():
    perfect = [1, 1, 2, 2, 2]
    both = segmentation_metrics([PREDICTED, perfect], [TRUTH, perfect], background=0)
    # F1@50: tp 1 + 2, fp 1 + 0, fn 2 + 0 -> P 3/4, R 3/5
    assert both["f1_50"] == pytest.approx(200 * 0.75 * 0.6 / 1.35)
    assert both["edit"] == pytest.approx((100 * (2 / 3) + 100) / 2)


def test_a_segment_is_matched_once():
    # two predicted A segments inside one true A: the second is a false positive
    assert edit_score([1, 1, 0, 1, 1], [1, 1, 1, 1, 1], 0) == pytest.approx(50.0)
    metrics = segmentation_metrics([[1, 1, 1, 0, 1]], [[1, 1, 1, 1, 1]], 0)
    assert metrics["f1_50"] == pytest.approx(200 * 0.5 * 1.0 / 1.5)


def test_average_precision_by_hand():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    positive = torch.tensor([True, False, True, False])
    assert average_precision(scores, positive) == pytest.approx((1 + 2 / 3) / 2)
    assert math.isnan(average_precision(scores, torch.zeros(4, dtype=torch.bool)))


def test_multilabel_metrics():
    # tag 0 is the background; tag 1 is on at frames 1-3 but predicted at frame 1 only
    truth = torch.tensor([[1, 0, 0], [0, 1, 1], [0, 1, 1], [0, 1, 1]], dtype=torch.float)
    scores = torch.tensor([[0.9, 0.1, 0.2], [0.1, 0.8, 0.7], [0.2, 0.4, 0.9], [0.1, 0.1, 0.6]])
    metrics = multilabel_metrics([scores], [truth], background=0)
    assert metrics["frame_accuracy"] == pytest.approx(2 / 4)  # frames 2 and 3 miss tag 1
    # tag 1 ranks .8 (+) .4 (+) .1 (-) .1 (+): AP (1 + 1 + 3/4) / 3; tag 2 ranks all first
    assert metrics["map"] == pytest.approx(100 * ((1 + 1 + 0.75) / 3 + 1) / 2)
    # tag 1: IoU 1/3, a false positive and a miss at 0.5; tag 2 matches: P = R = 1/2
    assert metrics["f1_50"] == pytest.approx(50.0)
    assert metrics["f1_25"] == pytest.approx(100.0)


def _brute_force(log_probs: torch.Tensor, penalty: float) -> list[int]:
    steps, tags = log_probs.shape
    def score(path):
        return (sum(log_probs[t, k].item() for t, k in enumerate(path))
                - penalty * sum(a != b for a, b in zip(path, path[1:])))
    return list(max(itertools.product(range(tags), repeat=steps), key=score))


@pytest.mark.parametrize("penalty", [0.0, 0.3, 0.7, 1.5, 3.0])
def test_viterbi_finds_the_best_path(penalty):
    torch.manual_seed(3)
    for _ in range(6):
        log_probs = (torch.randn(7, 3) * 1.5).log_softmax(-1)
        assert viterbi(log_probs, penalty).tolist() == _brute_force(log_probs, penalty)


def test_smoothing_removes_a_flicker_but_keeps_a_change():
    probs = torch.tensor([[0.9, 0.1]] * 4 + [[0.4, 0.6]] + [[0.9, 0.1]] * 3 + [[0.1, 0.9]] * 5)
    assert smooth_labels(probs, 0.0).tolist() == [0] * 4 + [1] + [0] * 3 + [1] * 5
    assert smooth_labels(probs, 2.0).tolist() == [0] * 8 + [1] * 5
    on = smooth_multilabel(probs, 2.0)
    assert on[:, 1].tolist() == [False] * 8 + [True] * 5
