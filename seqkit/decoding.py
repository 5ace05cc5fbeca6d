"""Model-agnostic decoding: greedy search, sampling and beam search over a step function.

A *step function* is the single-step form of a decoder::

    logits, state = step(prev_tokens, state)    # prev_tokens (N,) long -> logits (N, V)

``state`` is ``None`` or a nested tuple/list/dict (or dataclass) of batch-first tensors (dim 0
indexes the N rows). The decoders never look inside it; they only expand or reorder its rows
with :func:`repeat_rows` and :func:`select_rows`, so an RNN language model, an attention decoder
or a toy bigram table are all decoded by the same code.

What a step reads but never changes (an encoder's memory) goes in ``memory`` instead: the same
kind of nested batch-first structure, passed to every call as ``step(tokens, state, memory)``.
Beam search expands it once to ``N * K`` rows and never reorders it (every beam of an input
reads the same memory rows); only the state and the history follow the beams.

Every function runs under ``torch.no_grad()``, leaves the model's train/eval mode alone and
every global setting as it found it (decoders of seqkit take single steps by cell math, which
never reaches oneDNN's slow one-step RNN calls), and creates its tensors on the device of
``start``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Optional

import torch
from torch import Tensor

State = Any  # None, a tensor, or a nested tuple/list/dict/dataclass of batch-first tensors
StepFn = Callable[..., tuple[Tensor, State]]  # (tokens, state[, memory]) -> (logits, state)
Hypothesis = tuple[list[int], float]  # (tokens without start and eos, normalized score)

def _decoding(fn: Callable) -> Callable:
    """Run a decoder without gradients (and without touching any global setting, so that
    concurrent callers such as a demo's callbacks cannot see each other's)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.no_grad():
            return fn(*args, **kwargs)

    return wrapper


def _stepper(step: StepFn, memory: State) -> Callable[[Tensor, State], tuple[Tensor, State]]:
    """``step`` as a two-argument function: ``memory`` (if any) bound as its third argument."""
    if memory is None:
        return step
    return lambda tokens, state: step(tokens, state, memory)


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor in a nested state and return a state of the same structure.

    Tuples (named tuples included), lists, dicts and dataclasses are rebuilt with the same type;
    ``None`` and plain scalars are returned unchanged. Anything else raises ``TypeError``
    rather than being silently left unexpanded.
    """
    if state is None or isinstance(state, (int, float, bool, str)):
        return state
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # named tuple
        return type(state)(*(map_state(fn, part) for part in state))
    if isinstance(state, (tuple, list)):
        return type(state)(map_state(fn, part) for part in state)
    if isinstance(state, dict):
        return type(state)((key, map_state(fn, value)) for key, value in state.items())
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        return dataclasses.replace(state, **{f.name: map_state(fn, getattr(state, f.name))
                                             for f in dataclasses.fields(state) if f.init})
    raise TypeError(
        f"decoding state holds a {type(state).__name__}; a state must be None or a nested "
        "tuple/list/dict/dataclass of batch-first tensors")


def select_rows(state: State, index: Tensor) -> State:
    """Pick rows of every state tensor: ``(N, ...)`` -> ``(M, ...)`` for ``index`` ``(M,)`` long."""
    return map_state(lambda t: t.index_select(0, index.to(t.device)), state)


def repeat_rows(state: State, k: int) -> State:
    """Repeat each row of every state tensor k times: ``(N, ...)`` -> ``(N*k, ...)``, row i at
    rows ``i*k .. i*k+k-1`` (``repeat_interleave`` on dim 0)."""
    return map_state(lambda t: t.repeat_interleave(k, dim=0), state)


def filter_logits(logits: Tensor, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Mask to ``-inf`` every token outside the top-k and then outside the top-p nucleus.

    Args:
        logits: ``(N, V)`` (any leading dims work); not modified.
        top_k: keep exactly the ``top_k`` largest logits of each row; 0 (or >= V) keeps all.
        top_p: then keep the smallest set of best tokens whose probability mass (softmax over
            the logits left by top-k) reaches ``top_p``; 1.0 keeps all. The best token is
            always kept.

    Returns:
        ``(N, V)`` logits with the dropped entries set to ``-inf``, kept entries unchanged.
    """
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 disables it), got {top_k}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] (1 disables it), got {top_p}")
    if 0 < top_k < logits.size(-1):
        best = logits.topk(top_k, dim=-1).indices
        keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, best, True)
        logits = logits.masked_fill(~keep, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.float().softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # mass of the strictly better tokens
        drop_sorted = mass_before >= top_p
        drop_sorted[..., 0] = False
        drop = torch.zeros_like(drop_sorted).scatter_(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _check_inputs(start: Tensor, max_len: int) -> None:
    """Raise a clear error for a malformed ``start`` or ``max_len``."""
    if start.dim() != 1 or start.dtype.is_floating_point or start.dtype == torch.bool:
        raise ValueError(
            f"start must be a 1-D integer tensor of shape (N,), got {tuple(start.shape)} "
            f"{start.dtype}")
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")


def _generate(step: StepFn, state: State, start: Tensor, max_len: int,
              pick: Callable[[Tensor], Tensor], eos: Optional[int],
              pad: Optional[int]) -> Tensor:
    """Shared loop of greedy and sampling: ``pick`` turns logits ``(N, V)`` into tokens ``(N,)``.

    Returns ``(N, L)`` tokens, ``L <= max_len``; positions after a row's eos hold ``pad``.
    """
    _check_inputs(start, max_len)
    pad = eos if pad is None else pad
    tokens = start.long()
    finished = torch.zeros_like(tokens, dtype=torch.bool)  # (N,)
    out: list[Tensor] = []
    for _ in range(max_len):
        logits, state = step(tokens, state)  # (N, V)
        tokens = pick(logits)
        if eos is not None:
            tokens = tokens.masked_fill(finished, pad)
            finished = finished | (tokens == eos)
        out.append(tokens)
        if eos is not None and bool(finished.all()):
            break
    if not out:
        return tokens.new_empty((tokens.size(0), 0))
    return torch.stack(out, dim=1)


@_decoding
def greedy(step: StepFn, state: State, start: Tensor, max_len: int,
           eos: Optional[int] = None, pad: Optional[int] = None,
           memory: State = None) -> Tensor:
    """Decode by always taking the most likely next token.

    Args:
        step: ``(tokens (N,), state) -> (logits (N, V), state)``.
        state: initial batch-first state for the N rows (or ``None``).
        start: ``(N,)`` tokens fed at the first step (e.g. BOS); not part of the output.
        max_len: most tokens to generate.
        eos: end token; after a row emits it, its later positions hold ``pad``. Decoding stops
            early once every row has emitted it.
        pad: filler after eos; defaults to ``eos``.
        memory: what every step reads unchanged, passed as ``step(tokens, state, memory)``;
            ``None``: ``step(tokens, state)``.

    Returns:
        ``(N, L)`` long tensor of generated tokens, ``L <= max_len``.

    With ``eos``, a row that has ended leaves the batch: later steps run on the rows still
    decoding only (their state and memory rows selected), so a batch of short and long outputs
    costs what its outputs' lengths add up to, not its longest times its size.
    """
    if eos is None:
        return _generate(_stepper(step, memory), state, start, max_len,
                         lambda logits: logits.argmax(dim=-1), eos, pad)
    _check_inputs(start, max_len)
    tokens = start.long()
    out = tokens.new_full((tokens.size(0), max_len), eos if pad is None else pad)
    active = torch.arange(tokens.size(0), device=tokens.device)  # output rows still decoding
    steps = 0
    while steps < max_len and active.numel():
        logits, state = step(tokens, state, memory) if memory is not None else step(tokens, state)
        tokens = logits.argmax(dim=-1)
        out[active, steps] = tokens
        steps += 1
        going = tokens != eos
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            active, tokens = active[keep], tokens[keep]
            state, memory = select_rows(state, keep), select_rows(memory, keep)
    return out[:, :steps]


@_decoding
def sample(step: StepFn, state: State, start: Tensor, max_len: int,
           temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
           eos: Optional[int] = None, generator: Optional[torch.Generator] = None,
           pad: Optional[int] = None, memory: State = None) -> Tensor:
    """Decode by sampling each next token from the model's (filtered) distribution.

    Args:
        step, state, start, max_len, eos, pad, memory: as in :func:`greedy`.
        temperature: logits are divided by it; ``<= 0`` means greedy decoding.
        top_k, top_p: restrict the choice as in :func:`filter_logits`.
        generator: ``torch.Generator`` on the device of the logits, for reproducible draws.

    Returns:
        ``(N, L)`` long tensor of generated tokens, ``L <= max_len``.
    """
    if temperature <= 0:
        return greedy(step, state, start, max_len, eos=eos, pad=pad, memory=memory)

    def pick(logits: Tensor) -> Tensor:
        logits = filter_logits(logits.float() / temperature, top_k, top_p)
        probs = logits.softmax(dim=-1)  # (N, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _generate(_stepper(step, memory), state, start, max_len, pick, eos, pad)


def _length_penalty(length: int, alpha: float) -> float:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``; 1 when ``alpha == 0``."""
    return ((5.0 + length) / 6.0) ** alpha


def _collect_finished(finished: list, eos_scores: Tensor, history: Tensor,
                      penalty: float, keep: int) -> None:
    """Add the hypotheses that end in eos now to each input's best-``keep`` list.

    ``eos_scores`` is ``(N, K)`` summed log-probs including eos; ``history`` ``(N, K, t)``
    holds the beams' tokens before it. Lists stay sorted best first.
    """
    normalized = (eos_scores / penalty).tolist()
    tokens = None
    for i, row in enumerate(normalized):
        hyps = finished[i]
        for j, score in enumerate(row):
            if not math.isfinite(score):
                continue  # a dead beam
            if len(hyps) < keep or score > hyps[-1][1]:
                tokens = history.tolist() if tokens is None else tokens
                hyps.append((tokens[i][j], score))
                hyps.sort(key=lambda h: h[1], reverse=True)
                del hyps[keep:]


def _search_done(finished: list, scores: Tensor, length: int, max_len: int,
                 alpha: float, keep: int) -> bool:
    """True when no live beam can still enter any input's best-``keep`` finished list.

    ``scores`` ``(N, K)`` are the live beams' sums, each beam ``length`` tokens long. Log-probs
    are <= 0, so a beam's sum only falls; its best normalized score is reached with the
    largest penalty it can still get.
    """
    longest = max_len if alpha >= 0 else length + 1
    bound = _length_penalty(longest, alpha)
    for hyps, live in zip(finished, scores.max(dim=1).values.tolist()):
        if not math.isfinite(live):
            continue  # no live beam left for this input
        if len(hyps) < keep or hyps[-1][1] < live / bound:
            return False
    return True


def _finalize(finished: list, history: Tensor, scores: Tensor, alpha: float) -> list:
    """Per input: its finished hypotheses, or, if none finished, its live beams normalized."""
    results = []
    length = history.size(-1)
    tokens, live = history.tolist(), scores.tolist()
    for i, hyps in enumerate(finished):
        if not hyps:
            penalty = _length_penalty(length, alpha)
            hyps = [(tokens[i][j], s / penalty) for j, s in enumerate(live[i])
                    if math.isfinite(s)]  # topk order: already best first
        results.append(hyps)
    return results


def _advance(cand: Tensor, state: State, history: Tensor) -> tuple:
    """Keep the K best extensions of each input's beams and move state and history with them.

    ``cand`` is ``(N, K, V)`` candidate sums; ``history`` ``(N, K, t)``. Returns the new
    scores ``(N, K)``, tokens ``(N*K,)``, state rows reordered, and history ``(N, K, t+1)``.
    """
    n, k, vocab = cand.shape
    scores, flat = cand.reshape(n, k * vocab).topk(k, dim=-1)  # (N, K) each
    origin, tokens = flat // vocab, flat % vocab  # parent beam and new token
    rows = origin + torch.arange(n, device=cand.device).unsqueeze(1) * k  # into the N*K rows
    state = select_rows(state, rows.reshape(-1))
    parents = history.gather(1, origin.unsqueeze(-1).expand(-1, -1, history.size(-1)))
    history = torch.cat([parents, tokens.unsqueeze(-1)], dim=-1)
    return scores, tokens.reshape(-1), state, history


@_decoding
def beam_search(step: StepFn, state: State, start: Tensor, eos: int, beam_size: int,
                max_len: int, length_penalty: float = 1.0,
                memory: State = None) -> list[list[Hypothesis]]:
    """Batched beam search: one ``step`` call per time step for all ``N * beam_size`` rows.

    Beams are scored by summed log-probs. Each step, every live beam extended by ``eos`` is a
    finished hypothesis scored ``sum / lp(len)``: ``len`` counts its tokens including eos,
    ``lp(len) = ((5 + len) / 6) ** length_penalty`` (GNMT; 0 gives raw sums, larger values
    favour longer outputs). The K best non-eos extensions stay live. Search stops at
    ``max_len`` or once no live beam can enter any input's K best finished hypotheses.

    Args:
        step: ``(tokens (N*K,), state) -> (logits (N*K, V), state)``.
        state: batch-first state for the N inputs; expanded to ``N * beam_size`` rows.
        start: ``(N,)`` first tokens, one per input.
        eos: end token id.
        beam_size: K, the live beams kept per input.
        max_len: most tokens generated, eos included.
        length_penalty: GNMT exponent alpha.
        memory: what every step reads unchanged (an encoder memory) for the N inputs: expanded
            once to ``N * beam_size`` rows and passed as ``step(tokens, state, memory)``,
            never reordered (an input's beams all read its rows).

    Returns:
        Per input, up to K ``(tokens, score)`` pairs, best first; tokens exclude the start
        token and the final eos. Where none finished by ``max_len``, the live beams instead
        (normalized by their length). ``result[i][0][0]`` is input i's best (:func:`beam_best`).
    """
    _check_inputs(start, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    n, k = start.size(0), beam_size
    state = repeat_rows(state, k)
    step = _stepper(step, repeat_rows(memory, k))
    tokens = start.long().repeat_interleave(k)  # (N*K,)
    scores = torch.full((n, k), float("-inf"), device=start.device)
    scores[:, 0] = 0.0  # the K copies are identical at t=0: only the first one is live
    history = tokens.new_empty((n, k, 0))  # (N, K, t) tokens of each live beam
    finished: list = [[] for _ in range(n)]
    for t in range(max_len):
        logits, state = step(tokens, state)  # (N*K, V)
        log_probs = logits.float().log_softmax(dim=-1).reshape(n, k, -1)
        cand = scores.unsqueeze(-1) + log_probs  # (N, K, V)
        _collect_finished(finished, cand[:, :, eos], history,
                          _length_penalty(t + 1, length_penalty), k)
        cand[:, :, eos] = float("-inf")  # eos extensions are finished, not live
        scores, tokens, state, history = _advance(cand, state, history)
        if _search_done(finished, scores, t + 1, max_len, length_penalty, k):
            break
    return _finalize(finished, history, scores, length_penalty)


def beam_best(step: StepFn, state: State, start: Tensor, eos: int, beam_size: int,
              max_len: int, length_penalty: float = 1.0,
              memory: State = None) -> list[list[int]]:
    """Run :func:`beam_search` and return only the best token list of each of the N inputs.

    Tokens exclude the start token and the final eos; an input with no hypothesis at all
    (every token impossible) gets ``[]``.
    """
    hyps = beam_search(step, state, start, eos, beam_size, max_len, length_penalty, memory)
    return [h[0][0] if h else [] for h in hyps]
