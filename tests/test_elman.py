"""Tests for the explicit Elman RNN and its hand-written BPTT (seqkit/elman.py)."""

import pytest
import torch
import torch.nn.functional as F

from seqkit.elman import ElmanRNN, bptt, one_hot_text, predict_next, train_namaskar

# Small odd sizes, all different, so that a swapped dimension fails loudly.
B, T, I, H, O = 3, 7, 5, 8, 11


def make_model(seed: int = 0) -> ElmanRNN:
    """A float64 ElmanRNN with non-zero biases (so their gradients are exercised)."""
    torch.manual_seed(seed)
    model = ElmanRNN(I, H, O).double()
    with torch.no_grad():
        model.b.normal_(0, 0.3)
        model.b_y.normal_(0, 0.3)
    return model


def test_parameter_names_and_shapes():
    model = ElmanRNN(I, H, O)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {"W_xh": (H, I), "W_hh": (H, H), "b": (H,), "W_hy": (O, H), "b_y": (O,)}


def test_forward_shapes_and_default_h0():
    model = make_model()
    x = torch.randn(B, T, I, dtype=torch.float64)
    y, hs = model(x)
    assert y.shape == (B, T, O)
    assert hs.shape == (B, T, H)
    y_zero, hs_zero = model(x, torch.zeros(B, H, dtype=torch.float64))
    torch.testing.assert_close(y, y_zero)
    torch.testing.assert_close(hs, hs_zero)


def test_forward_matches_torch_rnn():
    """The explicit loop computes what nn.RNN (tanh) computes with the same weights."""
    model = make_model()
    rnn = torch.nn.RNN(I, H, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(model.W_xh)
        rnn.weight_hh_l0.copy_(model.W_hh)
        rnn.bias_ih_l0.copy_(model.b)
        rnn.bias_hh_l0.zero_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    y, hs = model(x, h0)
    expected_hs, _ = rnn(x, h0.unsqueeze(0))  # (B, T, H)
    torch.testing.assert_close(hs, expected_hs)
    torch.testing.assert_close(y, expected_hs @ model.W_hy.T + model.b_y)


def weighted_sum_loss(y, targets, weights):
    """Loss = sum(y * weights): dL/dy is just `weights`."""
    return (y * weights).sum()


def cross_entropy_loss(y, targets, weights):
    """Mean cross-entropy of the logits y (B, T, O) against targets (B, T)."""
    return F.cross_entropy(y.reshape(-1, O), targets.reshape(-1))


@pytest.mark.parametrize("loss_fn", [weighted_sum_loss, cross_entropy_loss])
@pytest.mark.parametrize("with_h0", [True, False])
def test_bptt_matches_autograd(loss_fn, with_h0):
    model = make_model(seed=1)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(B, T, I, dtype=torch.float64, generator=gen)
    h0 = torch.randn(B, H, dtype=torch.float64, generator=gen) if with_h0 else torch.zeros(
        B, H, dtype=torch.float64
    )
    h0.requires_grad_(True)
    targets = torch.randint(0, O, (B, T), generator=gen)
    weights = torch.randn(B, T, O, dtype=torch.float64, generator=gen)

    # Reference: autograd through the explicit forward loop.
    y, _ = model(x, h0)
    y.retain_grad()
    loss_fn(y, targets, weights).backward()
    expected = {name: p.grad for name, p in model.named_parameters()}
    expected["h0"] = h0.grad

    # Hand-written BPTT, given only dL/dy.
    got = bptt(model, x, h0.detach() if with_h0 else None, y.grad)

    assert set(got) == {"W_xh", "W_hh", "b", "W_hy", "b_y", "h0"}
    for name, grad in expected.items():
        assert not got[name].requires_grad, name
        torch.testing.assert_close(got[name], grad, msg=lambda m, n=name: f"{n}: {m}")


def test_one_hot_text_rejects_unknown_letters():
    assert one_hot_text("aab", "ab").shape == (1, 3, 2)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        one_hot_text("abc", "ab")


def test_namaskar_learns_the_next_letter():
    model, vocab, losses = train_namaskar(steps=300, seed=0)
    assert vocab == "namskr"
    assert len(losses) == 300
    # The loss starts near log(6) ~ 1.8 (a uniform guess) and must fall far below.
    assert losses[0] > 1.0
    assert losses[-1] < 0.05 * losses[0]
    # After reading "namaska" the model must say 'r'.
    assert predict_next(model, vocab, "namaska") == "r"
    # And it spells the whole word: every prefix predicts its next letter,
    # including the three different letters that follow 'a'.
    word = "namaskar"
    for k in range(1, len(word)):
        assert predict_next(model, vocab, word[:k]) == word[k], word[:k]


def test_namaskar_untrained_model_is_not_already_right():
    """Guard against a test that passes without learning: zero steps fail."""
    model, vocab, losses = train_namaskar(steps=0, seed=0)
    assert losses == []
    word = "namaskar"
    guesses = [predict_next(model, vocab, word[:k]) for k in range(1, len(word))]
    assert guesses != list(word[1:])
