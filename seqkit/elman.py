"""An explicit Elman RNN and its hand-written backpropagation through time.

This module is the teaching core of the "BPTT explained" page (docs/bptt.md).
Everything is spelled out step by step; the fast cells used for real training
live elsewhere and call PyTorch's fused kernels.

The model, for one sequence, at time step t = 0 .. T-1:

    a_t = W_hh h_{t-1} + W_xh x_t + b        pre-activation      (H,)
    h_t = tanh(a_t)                          hidden state        (H,)
    y_t = W_hy h_t + b_y                     output (logits)     (O,)

with h_{-1} = h0. Shapes below use B = batch, T = time, I = input size,
H = hidden size, O = output size. Everything is batch-first.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The word the worked example learns to spell, and the order of its letters.
NAMASKAR = "namaskar"


class ElmanRNN(nn.Module):
    """A single-layer Elman RNN written out with plain tensor operations.

    Parameters (named as in the equations):
        W_xh (H, I)  input-to-hidden weights
        W_hh (H, H)  hidden-to-hidden (recurrent) weights
        b    (H,)    hidden bias
        W_hy (O, H)  hidden-to-output weights
        b_y  (O,)    output bias
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        """Create the parameters and initialise them (see `reset_parameters`)."""
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        self.W_xh = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b = nn.Parameter(torch.empty(hidden_size))
        self.W_hy = nn.Parameter(torch.empty(output_size, hidden_size))
        self.b_y = nn.Parameter(torch.empty(output_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise weights uniformly in +-1/sqrt(fan_in); biases at zero.

        The 1/sqrt(fan_in) scale keeps pre-activations of order one, so tanh
        starts in its linear region and gradients neither vanish nor explode
        on the first steps (the same scale PyTorch's nn.RNN uses).
        """
        for weight in (self.W_xh, self.W_hh, self.W_hy):
            bound = 1.0 / math.sqrt(weight.shape[1])
            nn.init.uniform_(weight, -bound, bound)
        nn.init.zeros_(self.b)
        nn.init.zeros_(self.b_y)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run the RNN over a batch of sequences, one time step at a time.

        Args:
            x: inputs, shape (B, T, I).
            h0: initial hidden state, shape (B, H); zeros when None.

        Returns:
            y: outputs (logits) at every step, shape (B, T, O).
            hs: hidden states h_0 .. h_{T-1} after every step, shape (B, T, H).
        """
        batch, steps, _ = x.shape
        h = x.new_zeros(batch, self.hidden_size) if h0 is None else h0  # (B, H)
        hs = []
        for t in range(steps):
            # a_t = W_hh h_{t-1} + W_xh x_t + b; rows are batch items, so the
            # matrix-vector products become h @ W^T.
            a = h @ self.W_hh.T + x[:, t] @ self.W_xh.T + self.b  # (B, H)
            h = torch.tanh(a)  # (B, H)
            hs.append(h)
        hs = torch.stack(hs, dim=1)  # (B, T, H)
        y = hs @ self.W_hy.T + self.b_y  # (B, T, O): y_t = W_hy h_t + b_y
        return y, hs


def bptt(model: ElmanRNN, x: Tensor, h0: Tensor | None, dy: Tensor) -> dict[str, Tensor]:
    """Backpropagation through time, by hand, with no autograd.

    Args:
        model: the ElmanRNN whose gradients we want.
        x: inputs, shape (B, T, I).
        h0: initial hidden state, shape (B, H); zeros when None.
        dy: upstream gradient dL/dy of the loss w.r.t. the outputs, (B, T, O).

    Returns:
        dL/d(name) for every parameter name ("W_xh", "W_hh", "b", "W_hy",
        "b_y") and for "h0"; each has the shape of the tensor it belongs to.
    """
    with torch.no_grad():
        # Forward pass: we need every hidden state h_t to go backwards.
        if h0 is None:
            h0 = x.new_zeros(x.shape[0], model.hidden_size)  # (B, H)
        _, hs = model(x, h0)  # (B, T, H)
        W_hh, W_hy = model.W_hh, model.W_hy  # (H, H), (O, H)

        # Output layer: y_t = W_hy h_t + b_y is applied at every step
        # independently, so its gradients are sums over batch and time.
        dW_hy = torch.einsum("bto,bth->oh", dy, hs)  # (O, H) sum_t dy_t h_t^T
        db_y = dy.sum(dim=(0, 1))  # (O,)     sum_t dy_t

        # Recurrent part: accumulators for the weights shared by all steps.
        dW_xh = torch.zeros_like(model.W_xh)  # (H, I)
        dW_hh = torch.zeros_like(W_hh)  # (H, H)
        db = torch.zeros_like(model.b)  # (H,)
        # da_next = da_{t+1}; nothing flows back from beyond the last step.
        da_next = torch.zeros_like(h0)  # (B, H)

        for t in reversed(range(x.shape[1])):
            h_t = hs[:, t]  # (B, H)
            h_prev = hs[:, t - 1] if t > 0 else h0  # (B, H) h_{t-1}
            # h_t feeds y_t and a_{t+1}: dh_t = W_hy^T dy_t + W_hh^T da_{t+1}.
            dh = dy[:, t] @ W_hy + da_next @ W_hh  # (B, H)
            # Through the tanh: d tanh(a)/da = 1 - tanh(a)^2 = 1 - h_t^2.
            da = dh * (1 - h_t**2)  # (B, H)
            # a_t = W_hh h_{t-1} + W_xh x_t + b: accumulate outer products.
            dW_hh += da.T @ h_prev  # (H, H) da_t h_{t-1}^T
            dW_xh += da.T @ x[:, t]  # (H, I) da_t x_t^T
            db += da.sum(dim=0)  # (H,)   da_t
            da_next = da  # hand da_t to step t-1

        # h0 feeds a_0 only: dh0 = W_hh^T da_0.
        dh0 = da_next @ W_hh  # (B, H)
    return {"W_xh": dW_xh, "W_hh": dW_hh, "b": db, "W_hy": dW_hy, "b_y": db_y, "h0": dh0}


def one_hot_text(text: str, vocab: str) -> Tensor:
    """Encode `text` as one-hot rows over the letters of `vocab`.

    Returns a float tensor of shape (1, len(text), len(vocab)): a batch of one.
    """
    unknown = sorted(set(text) - set(vocab))
    if unknown:
        raise ValueError(f"letters {unknown} are not in the vocabulary {vocab!r}")
    ids = torch.tensor([vocab.index(ch) for ch in text])  # (T,)
    return F.one_hot(ids, len(vocab)).float().unsqueeze(0)  # (1, T, V)


def train_namaskar(
    steps: int = 300, hidden_size: int = 16, lr: float = 0.05, seed: int = 0
) -> tuple[ElmanRNN, str, list[float]]:
    """Train an ElmanRNN to predict the next letter of "namaskar".

    The model reads "namaska" (7 one-hot letters) and, at each step, must
    predict the letter that follows, so the targets are "amaskar". The
    letter 'a' is followed by 'm', 's' and 'r' in turn, so the network has to
    remember where it is: a one-step lookup table cannot solve this.

    Gradients come from `bptt` (not autograd) and are clipped to norm 1
    before each Adam step. The global RNG is left untouched.

    Returns:
        model: the trained ElmanRNN (input and output size V = 6).
        vocab: the distinct letters in order of first appearance, "namskr".
        losses: the mean cross-entropy before each of the `steps` updates.
    """
    vocab = "".join(dict.fromkeys(NAMASKAR))  # "namskr"
    x = one_hot_text(NAMASKAR[:-1], vocab)  # (1, 7, V) "namaska"
    targets = torch.tensor([[vocab.index(ch) for ch in NAMASKAR[1:]]])  # (1, 7) "amaskar"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ElmanRNN(len(vocab), hidden_size, len(vocab))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        with torch.no_grad():
            y, _ = model(x)  # (1, 7, V) logits
            losses.append(F.cross_entropy(y[0], targets[0]).item())
            # d(mean cross-entropy)/dy = (softmax(y) - one_hot(target)) / T.
            dy = (y.softmax(-1) - F.one_hot(targets, len(vocab))) / targets.numel()
        grads = bptt(model, x, None, dy)
        for name, param in model.named_parameters():
            param.grad = grads[name]
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
    return model, vocab, losses


def predict_next(model: ElmanRNN, vocab: str, prefix: str) -> str:
    """Read `prefix` with the model and return the most likely next letter."""
    if not prefix:
        raise ValueError("prefix must contain at least one letter")
    with torch.no_grad():
        y, _ = model(one_hot_text(prefix, vocab))  # (1, T, V)
    return vocab[int(y[0, -1].argmax())]
