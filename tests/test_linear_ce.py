"""The fused output layer and loss equals linear -> cross_entropy, its gradients included,
across chunk boundaries, with and without bf16 autocast, and through the Decoder."""
import pytest
import torch
import torch.nn.functional as F

from seqkit import linear_ce
from seqkit.decoder import Decoder
from seqkit.linear_ce import linear_cross_entropy

N, D, V = 21, 8, 11


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 4 rows (44 logits), so that 21 rows make five full chunks and a short one."""
    monkeypatch.setattr(linear_ce, "CHUNK_ELEMENTS", 4 * V)


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, D, generator=g, requires_grad=True)
    weight = torch.randn(V, D, generator=g, requires_grad=True)
    bias = torch.randn(V, generator=g, requires_grad=True)
    targets = torch.randint(V, (N,), generator=g)
    return hidden, weight, bias, targets


def _loss_and_grads(fn, bf16: bool):
    hidden, weight, bias, targets = _inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = fn(hidden, weight, bias, targets)
    return loss, torch.autograd.grad(3.0 * loss, (hidden, weight, bias))


def _unfused(hidden, weight, bias, targets):
    return F.cross_entropy(F.linear(hidden, weight, bias).float(), targets)


@pytest.mark.parametrize("bf16, tol", [(False, 1e-6), (True, 2e-2)])
def test_equals_linear_then_cross_entropy(small_chunks, bf16, tol):
    expected, expected_grads = _loss_and_grads(_unfused, bf16)
    got, grads = _loss_and_grads(linear_cross_entropy, bf16)
    assert got.dtype == torch.float32 and got.shape == ()
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol)
    for a, b in zip(grads, expected_grads):  # the 3.0 upstream gradient is applied too
        assert a.dtype == b.dtype == torch.float32
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_without_gradients_gives_the_same_loss(small_chunks):
    hidden, weight, bias, targets = _inputs(1)
    with torch.no_grad():
        fused = linear_cross_entropy(hidden, weight, bias, targets)
        torch.testing.assert_close(fused, _unfused(hidden, weight, bias, targets))


@pytest.mark.parametrize("tie", [False, True])
def test_decoder_targets_give_the_loss_of_its_logits(tie):
    """``Decoder(tokens, state, targets=)`` is the cross-entropy of ``Decoder(tokens, state)``'s
    logits, with the same state and the same gradients (tied weights: both uses summed)."""
    B, T, H, E = 3, 7, 8, 8 if tie else 6
    torch.manual_seed(0)
    model = Decoder(V, E, H, num_layers=2, tie_weights=tie)
    for p in model.parameters():
        torch.nn.init.uniform_(p, -0.5, 0.5)
    tokens, targets = torch.randint(V, (B, T)), torch.randint(V, (B, T))
    logits, state = model(tokens)
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    expected_grads = torch.autograd.grad(expected, list(model.parameters()))
    loss, fused_state = model(tokens, targets=targets)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    torch.testing.assert_close(loss, expected)
    for a, b in zip(fused_state["rnn"], state["rnn"]):
        torch.testing.assert_close(a, b)
    for a, b in zip(grads, expected_grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
