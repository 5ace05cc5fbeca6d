"""Action-segmentation metrics as MS-TCN defines them (Farha and Gall, CVPR 2019, ``eval.py``).

- ``frame_accuracy``: the fraction of frames whose tag is right, over the whole set.
- ``edit``: the segmental edit score, ``(1 - levenshtein(P, Y) / max(|P|, |Y|)) * 100`` between
  the sequences of segment tags of a prediction and the truth, averaged over videos.
- ``f1@k``: a predicted segment is a true positive when its IoU with a true segment of the same
  tag reaches ``k`` and that true segment was not matched before; true and false positives and
  misses are summed over the set, then F1 is computed once (times 100).

Segments of the background tag count for neither edit nor F1, as in MS-TCN. Multi-label tags
are scored tag by tag: each tag's on/off track gives its segments, and ``map`` is the mean over
tags of the average precision of the per-frame scores.
"""
from __future__ import annotations

from typing import Sequence

import torch

Segment = tuple[int, int, int]  # (start frame, end frame exclusive, tag)
OVERLAPS = (0.10, 0.25, 0.50)


def segments(labels: Sequence[int], background: int | None = None) -> list[Segment]:
    """Runs of equal tags in a frame-wise sequence, ``[(start, end_exclusive, tag)]``, leaving
    out runs of ``background``."""
    out, start = [], 0
    for t in range(1, len(labels) + 1):
        if t == len(labels) or labels[t] != labels[start]:
            if labels[start] != background:
                out.append((start, t, int(labels[start])))
            start = t
    return out


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance between two tag sequences (insertions, deletions, substitutions)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def edit_score(predicted: Sequence[int], truth: Sequence[int], background: int | None) -> float:
    """Segmental edit score of one video, 0-100 (100 when both have no segment)."""
    p = [s[2] for s in segments(predicted, background)]
    y = [s[2] for s in segments(truth, background)]
    if not p and not y:
        return 100.0
    return (1 - levenshtein(p, y) / max(len(p), len(y))) * 100


def match_counts(predicted: Sequence[int], truth: Sequence[int], overlap: float,
                 background: int | None) -> tuple[int, int, int]:
    """(true positives, false positives, misses) of one video at IoU threshold ``overlap``."""
    p_segs, y_segs = segments(predicted, background), segments(truth, background)
    hit = [False] * len(y_segs)
    tp = fp = 0
    for start, end, tag in p_segs:
        best, best_j = 0.0, -1
        for j, (y_start, y_end, y_tag) in enumerate(y_segs):
            if y_tag != tag:
                continue
            inter = min(end, y_end) - max(start, y_start)
            union = max(end, y_end) - min(start, y_start)
            iou = inter / union if union > 0 else 0.0
            if iou > best:
                best, best_j = iou, j
        if best >= overlap and not hit[best_j]:
            tp, hit[best_j] = tp + 1, True
        else:
            fp += 1
    return tp, fp, len(y_segs) - sum(hit)


def f1(tp: int, fp: int, fn: int) -> float:
    """F1 times 100 from summed counts (0 when nothing was predicted or expected)."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 200 * precision * recall / (precision + recall) if precision + recall else 0.0


def segmentation_metrics(predicted: list[Sequence[int]], truth: list[Sequence[int]],
                         background: int | None) -> dict[str, float]:
    """``frame_accuracy`` (0-1), ``edit``, ``f1_10``, ``f1_25``, ``f1_50`` (0-100) of a set of
    single-label videos, each a frame-wise tag sequence."""
    frames = sum(len(y) for y in truth)
    correct = sum(int(p_t == y_t) for p, y in zip(predicted, truth) for p_t, y_t in zip(p, y))
    out = {"frame_accuracy": correct / max(frames, 1),
           "edit": sum(edit_score(p, y, background) for p, y in zip(predicted, truth))
           / max(len(truth), 1)}
    for overlap in OVERLAPS:
        counts = [match_counts(p, y, overlap, background) for p, y in zip(predicted, truth)]
        out[f"f1_{round(overlap * 100)}"] = f1(*map(sum, zip(*counts))) if counts else 0.0
    return out


def average_precision(scores: torch.Tensor, positive: torch.Tensor) -> float:
    """Average precision of ``scores (N,)`` against bool ``positive (N,)``: the mean of the
    precision at the rank of each positive (NaN when there is no positive)."""
    if not positive.any():
        return float("nan")
    order = torch.argsort(scores, descending=True, stable=True)
    hits = positive[order].float()
    precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / hits.sum())


def multilabel_metrics(scores: list[torch.Tensor], truth: list[torch.Tensor],
                       background: int | None, decisions: list[torch.Tensor] | None = None
                       ) -> dict[str, float]:
    """Metrics of multi-label videos: ``scores`` are per-frame probabilities ``(T, K)``,
    ``truth`` 0/1 ``(T, K)``, ``decisions`` the predicted on/off ``(T, K)`` (default: score
    at least 0.5). ``frame_accuracy`` counts frames whose whole tag set is right; ``map``
    averages per-tag AP over the tags that occur; edit and F1 score each tag's track."""
    decisions = decisions or [s >= 0.5 for s in scores]
    all_scores, all_truth = torch.cat(scores), torch.cat(truth).bool()
    aps = [average_precision(all_scores[:, k], all_truth[:, k])
           for k in range(all_scores.size(1)) if k != background]
    aps = [ap for ap in aps if ap == ap]
    exact = (torch.cat(decisions).bool() == all_truth).all(1).float().mean().item()
    predicted, actual = [], []
    for video_on, video_truth in zip(decisions, truth):
        for k in range(video_on.size(1)):
            on, true_on = video_on[:, k].bool(), video_truth[:, k].bool()
            if k != background and (on.any() or true_on.any()):  # tracks where tag k occurs
                predicted.append(torch.where(on, k, -1).tolist())  # k where on, -1 where off
                actual.append(torch.where(true_on, k, -1).tolist())
    tracks = segmentation_metrics(predicted, actual, -1)
    return {"frame_accuracy": exact, "map": sum(aps) / max(len(aps), 1) * 100,
            **{k: v for k, v in tracks.items() if k != "frame_accuracy"}}
