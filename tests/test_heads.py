"""Per-step losses against values computed by hand, with padding that would change them if read."""
from __future__ import annotations

import math

import pytest
import torch

from seqkit.errors import SeqkitError
from seqkit.heads import ctc_loss, masked_step_loss, multilabel_step_loss

torch.set_num_threads(1)


def as_logits(probs) -> torch.Tensor:
    """Logits whose softmax is ``probs``, shifted per step (softmax ignores the shift)."""
    probs = torch.tensor(probs, dtype=torch.float64)
    shift = torch.arange(probs.shape[1], dtype=torch.float64)[None, :, None]  # (1, S, 1)
    return (probs.log() + 3.0 - shift).requires_grad_()


def test_masked_step_loss_by_hand():
    # B=3, S=3, C=3. The probability of the target at each valid step is 0.5, 0.8 | 0.1 |
    # 0.25, 0.5, 0.2: their product is 1/1000, so the mean over 6 steps is ln(1000) / 6.
    probs = [[[.25, .5, .25], [.8, .1, .1], [.98, .01, .01]],  # last step padded
             [[.3, .6, .1], [.98, .01, .01], [.98, .01, .01]],  # two padded steps
             [[.25, .5, .25], [.25, .5, .25], [.2, .2, .6]]]
    targets = torch.tensor([[1, 0, 2], [2, 2, 1], [0, 1, 1]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=torch.bool)
    logits = as_logits(probs)
    loss = masked_step_loss(logits, targets, mask)
    assert loss.item() == pytest.approx(math.log(1000) / 6, rel=1e-12)
    assert loss.item() == pytest.approx(1.1512925, abs=1e-6)
    loss.backward()
    assert logits.grad[~mask].abs().max() == 0  # padded steps get no gradient
    assert masked_step_loss(logits, targets, torch.zeros_like(mask)).item() == 0.0  # no NaN


def test_ctc_loss_by_hand():
    # Classes: blank, a, b. Frames f1 = (.5, .3, .2), f2 = (.4, .4, .2); a third frame differs.
    f1, f2, pad = [.5, .3, .2], [.4, .4, .2], [.01, .01, .98]
    probs = [[f1, f2, pad, pad],  # 2 frames, "a": a a + a _ + _ a = .12 + .12 + .2 = .44
             [f1, f2, [.2, .2, .6], pad],  # 3 frames, "a b": aab abb a_b _ab ab_ = .312
             [f1, f2, [.2, .6, .2], pad]]  # 3 frames, "a a": only a _ a = .3 * .4 * .6 = .072
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    targets = torch.tensor([[1, 2], [1, 2], [1, 1]])  # row 1's second label is padding
    target_lengths = torch.tensor([1, 2, 2])
    logits = as_logits(probs)
    # Each row's negative log-likelihood over its target length, then the mean of the rows.
    by_hand = (-math.log(.44) / 1 - math.log(.312) / 2 - math.log(.072) / 2) / 3
    loss = ctc_loss(logits, mask, targets, target_lengths)
    assert loss.item() == pytest.approx(by_hand, rel=1e-6)  # CTC runs in float32
    assert loss.item() == pytest.approx(0.9063004, abs=1e-6)
    loss.backward()
    assert logits.grad[~mask].abs().max() == 0


def test_ctc_loss_of_an_impossible_row_is_zero_not_infinite():
    # "a a" needs three frames (a _ a); two cannot hold it.
    logits = as_logits([[[.5, .3, .2], [.4, .4, .2], [.4, .4, .2]]])
    mask = torch.tensor([[1, 1, 0]], dtype=torch.bool)
    assert ctc_loss(logits, mask, torch.tensor([[1, 1]]), torch.tensor([2])).item() == 0.0
    mask = torch.ones(1, 3, dtype=torch.bool)
    assert ctc_loss(logits, mask, torch.tensor([[1, 1]]), torch.tensor([2])).item() == \
        pytest.approx(-math.log(.3 * .4 * .4) / 2, rel=1e-6)


def test_multilabel_step_loss_by_hand():
    third = math.log(3)  # sigmoid(ln 3) = 0.75, sigmoid(-ln 3) = 0.25, sigmoid(0) = 0.5
    logits = torch.tensor([[[third, -third, 0.0], [10.0, 10.0, 10.0], [third, third, third]],
                           [[third, third, third], [-10.0, -10.0, -10.0], [0.0, 0.0, 0.0]],
                           [[10.0, 10.0, 10.0], [10.0, 10.0, 10.0], [10.0, 10.0, 10.0]]],
                          dtype=torch.float64, requires_grad=True)  # B=3, S=3, C=3 tags
    targets = torch.tensor([[[1, 0, 1], [0, 0, 0], [1, 1, 0]],
                            [[0, 0, 1], [1, 1, 1], [0, 1, 0]],
                            [[0, 0, 0], [0, 0, 0], [0, 0, 0]]], dtype=torch.float64)
    mask = torch.tensor([[1, 0, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    # Valid: row 0 step 0 gives ln(4/3), ln(4/3), ln 2; row 1 step 0 gives ln 4, ln 4, ln(4/3).
    by_hand = (3 * math.log(4 / 3) + math.log(2) + 2 * math.log(4)) / 6
    loss = multilabel_step_loss(logits, targets, mask)
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)
    assert loss.item() == pytest.approx(0.7214637, abs=1e-6)
    loss.backward()
    assert logits.grad[~mask].abs().max() == 0
    # A weight of 2 on tag 0's positives doubles its one valid positive term (row 0, step 0).
    weighted = multilabel_step_loss(logits, targets, mask, pos_weight=torch.tensor([2.0, 1, 1]))
    assert weighted.item() == pytest.approx(by_hand + math.log(4 / 3) / 6, rel=1e-12)
    assert multilabel_step_loss(logits, targets, torch.zeros_like(mask)).item() == 0.0


def test_multilabel_step_loss_rejects_class_targets():
    logits = torch.randn(3, 7, 11)
    with pytest.raises(SeqkitError, match="one 0/1 column per tag"):
        multilabel_step_loss(logits, torch.randint(0, 11, (3, 7)), torch.ones(3, 7))
