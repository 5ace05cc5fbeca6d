"""The unpacked run of a padded batch (``run_padded``) against PyTorch's packed run: the same
outputs and gradients at real frames, zeros at padding, for every cell and both directions."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqkit_speech.recurrence import reverse_within, run_padded

B, T, F, H = 3, 7, 8, 5  # batch, steps, input features, hidden units


def packed(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    out, _ = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0]


def test_reverse_within_keeps_the_padding_in_place():
    x = torch.arange(B * T, dtype=torch.float32).view(B, T, 1)
    lengths = torch.tensor([7, 4, 1])
    flipped = reverse_within(x, lengths)
    assert flipped[1, :, 0].tolist() == [10.0, 9.0, 8.0, 7.0, 11.0, 12.0, 13.0]
    assert flipped[2, :, 0].tolist() == x[2, :, 0].tolist()
    assert torch.equal(reverse_within(flipped, lengths), x)


@pytest.mark.parametrize("kind", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_run_padded_equals_the_packed_run(kind, bidirectional):
    torch.manual_seed(0)
    rnn = kind(F, H, 2, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(B, T, F)
    x[1, 4:] = 5.0  # padding that must not reach the real frames
    x[2, 1:] = -5.0
    lengths = torch.tensor([7, 4, 1])
    want, got = packed(rnn, x, lengths), run_padded(rnn, x, lengths)
    assert got.shape == (B, T, H * (2 if bidirectional else 1))
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert got[1, 4:].abs().max() == 0 and got[2, 1:].abs().max() == 0
    weight = rnn.weight_hh_l1_reverse if bidirectional else rnn.weight_hh_l1
    torch.testing.assert_close(torch.autograd.grad(got.square().sum(), weight)[0],
                               torch.autograd.grad(want.square().sum(), weight)[0],
                               atol=1e-5, rtol=1e-4)
