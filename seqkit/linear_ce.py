"""The output layer and the cross-entropy fused: ``mean CE(hidden @ W^T + b, targets)``.

A language model's output layer is its largest cost: ``N = B * T`` rows of ``V`` logits (700 x
10,003 for PTB's small model). Written plainly (``linear`` -> ``.float()`` -> ``cross_entropy``)
each training step makes four ``N x V`` tensors (the logits, their fp32 copy, the log-softmax
and its gradient) and walks them in several passes; the fp32 ones, 28 MB each, are large
enough that the C allocator hands them back to the system after every step and faults them in
again on the next (on the AMX Xeon VM measured in ``docs/benchmarks.md``, that made the
log-softmax backward 7x slower than its arithmetic).

``linear_cross_entropy`` computes the same loss in one pass over the logits, in row chunks that
fit the cache: per chunk, the log-softmax in fp32, the picked log-probabilities, and at once
the gradient with respect to the logits, ``softmax - onehot``, written over the logits in their
own dtype (bf16 under autocast, as autocast's ``linear`` backward would receive it). Backward
is then only the two matrix products of the output layer. Without gradients (evaluation) the
gradient is not formed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

CHUNK_ELEMENTS = 1 << 18  # fp32 logits per chunk: 1 MiB, within a core's L2 cache


def _rows_per_chunk(vocab: int) -> int:
    return max(1, CHUNK_ELEMENTS // vocab)


class _LinearCrossEntropy(torch.autograd.Function):
    """Forward returns the summed loss; the logits' gradient is formed in the same pass."""

    @staticmethod
    def forward(ctx, hidden: Tensor, weight: Tensor, bias: Tensor, targets: Tensor) -> Tensor:
        logits = torch.addmm(bias, hidden, weight.t())  # (N, V) in the compute dtype
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_bias = torch.zeros(logits.size(1), dtype=torch.float32, device=hidden.device)
        minus_one = torch.full((1, 1), -1.0, device=hidden.device).expand(len(targets), 1)
        step = _rows_per_chunk(logits.size(1))
        for rows, picks in zip(logits.split(step), targets[:, None].split(step)):
            logp = torch.log_softmax(rows.float(), -1)  # (c, V)
            total -= logp.gather(1, picks).sum()
            grad = logp.exp_().scatter_add_(1, picks, minus_one[:len(picks)])  # softmax - onehot
            grad_bias += grad.sum(0)  # while the chunk is in cache: the bias gradient (V,)
            rows.copy_(grad)  # d(sum of losses) / d(logits), over the logits' storage
        ctx.save_for_backward(hidden, weight, logits, grad_bias)
        return total

    @staticmethod
    def backward(ctx, grad_total: Tensor):
        hidden, weight, grad_logits, grad_bias = ctx.saved_tensors
        grad_hidden = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_hidden = (grad_logits @ weight).mul_(grad_total)  # (N, D)
        if ctx.needs_input_grad[1]:  # scale the small (N, D) factor, not the (V, D) product
            grad_weight = grad_logits.t() @ (hidden * grad_total.to(hidden.dtype))  # (V, D)
        grad_bias = (grad_bias * grad_total).to(hidden.dtype) if ctx.needs_input_grad[2] else None
        return grad_hidden, grad_weight, grad_bias, None


def _summed_loss(hidden: Tensor, weight: Tensor, bias: Tensor, targets: Tensor) -> Tensor:
    """The summed loss without forming a gradient (no autograd), chunk by chunk."""
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    step = _rows_per_chunk(weight.size(0))
    for rows, picks in zip(hidden.split(step), targets.split(step)):
        logits = torch.addmm(bias, rows, weight.t()).float()  # (c, V)
        total += (logits.logsumexp(-1) - logits.gather(1, picks[:, None]).squeeze(1)).sum()
    return total


def linear_cross_entropy(hidden: Tensor, weight: Tensor, bias: Tensor,
                         targets: Tensor) -> Tensor:
    """Mean cross-entropy of the logits ``hidden @ weight.T + bias`` against ``targets``.

    ``hidden (N, D)``, ``weight (V, D)``, ``bias (V,)``, ``targets (N,)`` of class ids (every
    one counted; no ignore index). Equal to ``F.cross_entropy(F.linear(hidden, weight,
    bias).float(), targets)`` and its gradients, without keeping any ``(N, V)`` tensor but the
    logits' gradient. Under CPU or CUDA autocast the matrix products run in its dtype and the
    softmax in fp32, as autocast would run the unfused form. Returns an fp32 scalar.

    Under ``torch.compile`` it returns the unfused form, which the compiler fuses itself (its
    tracing does not follow the in-place chunk loop).
    """
    if torch.compiler.is_compiling():
        return F.cross_entropy(F.linear(hidden, weight, bias).float(), targets)
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        hidden, weight, bias = hidden.to(dtype), weight.to(dtype), bias.to(dtype)
    with torch.autocast(device, enabled=False):
        if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad
                                        or bias.requires_grad):
            total = _LinearCrossEntropy.apply(hidden, weight, bias, targets)
        else:
            total = _summed_loss(hidden, weight, bias, targets)
    return total / targets.numel()
