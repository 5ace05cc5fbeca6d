"""Tests for model-agnostic decoding (seqkit/decoding.py) on toy step functions.

The toy models are exact: a bigram table (logits = log T[prev]) and a model whose state is the
running sum of the fed tokens, so that a wrongly reordered state changes the logits. Beam search
is checked against brute-force enumeration of every sequence up to the length limit.
"""

import dataclasses
import math
from collections import namedtuple

import pytest
import torch

from seqkit.decoding import (beam_best, beam_search, filter_logits, greedy, map_state,
                             repeat_rows, sample, select_rows)

N, V = 3, 11          # batch and vocabulary for greedy/sampling
SMALL_V, MOD = 7, 5   # vocabulary and sum modulus for brute-force beam tests
EOS = 0


# ----------------------------------------------------------------------------- toy models

def random_log_table(seed: int, vocab: int = V, scale: float = 2.0) -> torch.Tensor:
    """A random bigram table of log-probs, ``(vocab, vocab)``; row = previous token."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(vocab, vocab, generator=g) * scale).log_softmax(dim=-1)


def table_from_rows(vocab: int, rows: dict) -> torch.Tensor:
    """Log bigram table from ``{prev: {next: prob}}``; leftover mass is spread evenly."""
    probs = torch.full((vocab, vocab), 1.0 / vocab)
    for prev, nexts in rows.items():
        rest = (1.0 - sum(nexts.values())) / (vocab - len(nexts))
        probs[prev] = rest
        for tok, p in nexts.items():
            probs[prev, tok] = p
    return probs.log()


def bigram_step(log_table: torch.Tensor, calls: list = None):
    """Step function ``logits = log_table[prev]``; the state passes through untouched."""
    def step(prev, state):
        if calls is not None:
            calls.append(prev.numel())
        return log_table.to(prev.device)[prev], state
    return step


def sum_model(seed: int):
    """Step function whose logits depend on the running sum of all fed tokens (mod MOD).

    State: ``{"sum": (N, 1) long, "extra": ((N, 2) float,)}``, all batch-first.
    """
    g = torch.Generator().manual_seed(seed)
    table = (torch.randn(SMALL_V, MOD, SMALL_V, generator=g) * 2.0).log_softmax(dim=-1)

    def step(prev, state):
        total = state["sum"] + prev.unsqueeze(1)              # (N, 1)
        (extra,) = state["extra"]
        logits = table.to(prev.device)[prev, total[:, 0] % MOD]  # (N, V)
        return logits, {"sum": total, "extra": (extra + 1,)}
    return step


def sum_state(n: int, device="cpu"):
    """Initial state of :func:`sum_model` for ``n`` rows."""
    return {"sum": torch.zeros(n, 1, dtype=torch.long, device=device),
            "extra": (torch.zeros(n, 2, device=device),)}


def lp(length: int, alpha: float) -> float:
    return ((5.0 + length) / 6.0) ** alpha


def brute_force(step, state, start: int, max_len: int, alpha: float):
    """Every sequence that ends in EOS within ``max_len`` tokens, sorted best first."""
    found = []

    def visit(prefix, last, state, score):
        logits, state = step(torch.tensor([last]), state)
        log_probs = logits[0].log_softmax(-1).tolist()
        for tok, lp_tok in enumerate(log_probs):
            if tok == EOS:
                found.append((prefix, (score + lp_tok) / lp(len(prefix) + 1, alpha)))
            elif len(prefix) + 1 < max_len:
                visit(prefix + [tok], tok, state, score + lp_tok)

    visit([], start, state, 0.0)
    return sorted(found, key=lambda h: h[1], reverse=True)


def rescore(step, state, start: int, tokens: list, alpha: float, with_eos=True) -> float:
    """Normalized score of one sequence by feeding it token by token (teacher forcing)."""
    seq = tokens + [EOS] if with_eos else tokens
    prev, total = start, 0.0
    for tok in seq:
        logits, state = step(torch.tensor([prev]), state)
        total += logits[0].log_softmax(-1)[tok].item()
        prev = tok
    return total / lp(len(seq), alpha)


# ----------------------------------------------------------------------------- state helpers

Pair = namedtuple("Pair", "h c")


@dataclasses.dataclass
class Memory:
    features: torch.Tensor
    size: int


def test_state_helpers_keep_structure_and_move_rows():
    x = torch.arange(N).float().unsqueeze(1)                      # (3, 1): row i holds i
    state = (x, [Pair(x * 2, x.repeat(1, 5)), None], {"m": Memory(x, 4)})
    picked = select_rows(state, torch.tensor([2, 0]))
    assert picked[0].squeeze(1).tolist() == [2, 0]
    assert isinstance(picked[1][0], Pair) and picked[1][1] is None
    assert picked[1][0].c.shape == (2, 5) and picked[1][0].h.squeeze(1).tolist() == [4, 0]
    assert isinstance(picked[2]["m"], Memory) and picked[2]["m"].size == 4
    assert picked[2]["m"].features.squeeze(1).tolist() == [2, 0]
    repeated = repeat_rows(state, 2)
    assert repeated[1][0].c.shape == (2 * N, 5)
    assert repeated[0].squeeze(1).tolist() == [0, 0, 1, 1, 2, 2]
    assert map_state(lambda t: t, None) is None
    with pytest.raises(TypeError, match="batch-first"):
        map_state(lambda t: t, (x, object()))


# ----------------------------------------------------------------------------- filter_logits

def test_top_k_keeps_exactly_k_best():
    logits = torch.randn(N, V, generator=torch.Generator().manual_seed(0))
    out = filter_logits(logits, top_k=4)
    kept = torch.isfinite(out)
    assert kept.sum(-1).tolist() == [4] * N
    best = logits.topk(4, dim=-1).indices
    assert kept.gather(1, best).all()
    assert torch.equal(out[kept], logits[kept])
    assert torch.equal(filter_logits(logits, top_k=V), logits)
    assert torch.equal(filter_logits(logits), logits)


# Hand-made distribution, scattered over positions so that order of index does not help.
PROBS = {5: 0.4, 1: 0.25, 9: 0.15, 0: 0.1, 3: 0.05, 7: 0.03, 2: 0.02}


def nucleus_logits() -> torch.Tensor:
    probs = torch.zeros(V)
    for tok, p in PROBS.items():
        probs[tok] = p
    return probs.log().unsqueeze(0)                                # (1, V); 4 tokens at -inf


@pytest.mark.parametrize("top_p, kept", [(0.3, {5}), (0.6, {5, 1}), (0.7, {5, 1, 9}),
                                         (0.97, {5, 1, 9, 0, 3, 7}), (1.0, set(PROBS))])
def test_top_p_keeps_smallest_nucleus(top_p, kept):
    out = filter_logits(nucleus_logits(), top_p=top_p)
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == kept


def test_top_k_then_top_p_uses_renormalized_mass():
    logits = nucleus_logits()
    # top-2 leaves {0.4, 0.25} -> renormalized {0.615, 0.385}: top_p=0.6 keeps only the best.
    out = filter_logits(logits, top_k=2, top_p=0.6)
    assert torch.isfinite(out[0]).nonzero().flatten().tolist() == [5]
    # top-k is the tighter limit here.
    out = filter_logits(logits, top_k=3, top_p=0.95)
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == {5, 1, 9}
    # top-p is the tighter limit here: top-5 mass 0.95, 0.4 / 0.95 = 0.42 < 0.5 <= 0.68.
    out = filter_logits(logits, top_k=5, top_p=0.5)
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == {5, 1}
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(logits, top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        filter_logits(logits, top_k=-1)


# ----------------------------------------------------------------------------- greedy, sample

def test_greedy_follows_the_argmax_chain():
    table = random_log_table(1)
    start = torch.tensor([1, 4, 10])
    out = greedy(bigram_step(table), None, start, max_len=7)
    assert out.shape == (N, 7) and out.dtype == torch.long
    prev = start
    for t in range(7):
        prev = table[prev].argmax(-1)
        assert torch.equal(out[:, t], prev)


def test_greedy_pads_after_eos_and_stops_early():
    # chains: 1 -> 0 (eos); 2 -> 3 -> 0; 4 -> 5 -> 6 -> 0; then eos -> 8 if fed on.
    rows = {1: {0: .9}, 2: {3: .9}, 3: {0: .9}, 4: {5: .9}, 5: {6: .9}, 6: {0: .9},
            0: {8: .9}}
    calls = []
    out = greedy(bigram_step(table_from_rows(V, rows), calls), None,
                 torch.tensor([1, 2, 4]), max_len=9, eos=EOS, pad=10)
    assert out.tolist() == [[0, 10, 10], [3, 0, 10], [5, 6, 0]]
    assert len(calls) == 3
    out = greedy(bigram_step(table_from_rows(V, rows)), None, torch.tensor([1, 2]),
                 max_len=9, eos=EOS)
    assert out.tolist() == [[0, 0], [3, 0]]                        # pad defaults to eos
    assert greedy(bigram_step(table_from_rows(V, rows)), None, torch.tensor([2]),
                  max_len=1, eos=EOS).tolist() == [[3]]           # max_len cuts it short


def test_sample_limits_equal_greedy():
    table = random_log_table(2, scale=1.0)
    start = torch.tensor([0, 3, 7])
    expected = greedy(bigram_step(table), None, start, max_len=7)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample(bigram_step(table), None, start, 7, temperature=0.0), expected)
    assert torch.equal(sample(bigram_step(table), None, start, 7, top_k=1, generator=g),
                       expected)
    assert torch.equal(sample(bigram_step(table), None, start, 7, top_p=1e-6, generator=g),
                       expected)


def test_sample_frequencies_match_the_model():
    table = random_log_table(3, scale=1.0)
    probs = table.exp()
    draws = 4000
    start = torch.full((draws,), 2)
    g = torch.Generator().manual_seed(0)
    out = sample(bigram_step(table), None, start, max_len=2, generator=g)
    first = torch.bincount(out[:, 0], minlength=V) / draws
    second = torch.bincount(out[:, 1], minlength=V) / draws
    assert (first - probs[2]).abs().max() < 0.03
    assert (second - probs[2] @ probs).abs().max() < 0.03         # previous token fed back
    out = sample(bigram_step(table), None, start, max_len=1, temperature=0.5, generator=g)
    cooled = (table[2] / 0.5).softmax(-1)
    assert (torch.bincount(out[:, 0], minlength=V) / draws - cooled).abs().max() < 0.03


def test_sample_respects_filters_and_generator():
    table = random_log_table(4, scale=1.0)
    start = torch.full((500,), 6)
    out = sample(bigram_step(table), None, start, 1, top_k=3,
                 generator=torch.Generator().manual_seed(1))
    assert set(out[:, 0].tolist()) == set(table[6].topk(3).indices.tolist())
    allowed = torch.isfinite(filter_logits(table[6:7], top_p=0.5))[0].nonzero().flatten()
    out = sample(bigram_step(table), None, start, 1, top_p=0.5,
                 generator=torch.Generator().manual_seed(1))
    assert set(out[:, 0].tolist()) == set(allowed.tolist())
    runs = [sample(bigram_step(table), None, start[:N], 7, eos=EOS,
                   generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


# ----------------------------------------------------------------------------- beam search

def test_beam_finds_what_greedy_misses():
    # From 1: token 2 is likelier (0.5) but leads nowhere (uniform); token 3 (0.4) then eos 0.9.
    table = table_from_rows(SMALL_V, {1: {2: .5, 3: .4}, 3: {0: .9}})
    step, start = bigram_step(table), torch.tensor([1])
    assert greedy(step, None, start, max_len=4, eos=EOS)[0, 0] == 2
    assert brute_force(step, None, 1, 4, 0.0)[0][0] == [3]
    assert beam_best(step, None, start, EOS, beam_size=2, max_len=4, length_penalty=0.0) == [[3]]
    hyps = beam_search(step, None, start, EOS, 2, 4, length_penalty=0.0)[0]
    assert hyps[0][1] == pytest.approx(math.log(0.4 * 0.9), abs=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("model", ["bigram", "sum"])
def test_exhaustive_beam_equals_brute_force(model, alpha):
    max_len = 4
    if model == "bigram":
        step, state = bigram_step(random_log_table(5, SMALL_V)), None
    else:
        step, state = sum_model(6), sum_state(1)
    width = (SMALL_V - 1) ** (max_len - 1)                         # every non-eos prefix lives
    expected = brute_force(step, state, 3, max_len, alpha)
    hyps = beam_search(step, state, torch.tensor([3]), EOS, width, max_len, alpha)[0]
    assert len(hyps) == width
    assert len({tuple(toks) for toks, _ in hyps}) == width          # no duplicate beams
    assert [toks for toks, _ in hyps[:5]] == [toks for toks, _ in expected[:5]]
    assert [s for _, s in hyps] == pytest.approx([s for _, s in expected[:width]], abs=1e-4)


def test_narrow_beam_scores_match_rescoring():
    # A narrow beam on the running-sum model: a row reordered without its state would give
    # scores that do not match feeding the returned tokens back through the model.
    step = sum_model(7)
    for alpha in (0.0, 0.7):
        hyps = beam_search(step, sum_state(1), torch.tensor([2]), EOS, 3, 7, alpha)[0]
        assert len(hyps) == 3
        for toks, score in hyps:
            assert EOS not in toks
            assert score == pytest.approx(rescore(step, sum_state(1), 2, toks, alpha), abs=1e-4)


def test_batched_beam_equals_separate_calls():
    step, starts = sum_model(8), [1, 4, 6]
    together = beam_search(step, sum_state(N), torch.tensor(starts), EOS, 4, 6, 1.0)
    assert len(together) == N
    for start, hyps in zip(starts, together):
        alone = beam_search(step, sum_state(1), torch.tensor([start]), EOS, 4, 6, 1.0)[0]
        assert [t for t, _ in hyps] == [t for t, _ in alone]
        assert [s for _, s in hyps] == pytest.approx([s for _, s in alone], abs=1e-5)
    assert beam_best(step, sum_state(N), torch.tensor(starts), EOS, 4, 6, 1.0) == \
        [h[0][0] for h in together]


def test_length_penalty_favours_longer_hypotheses():
    # Short [2] has prob 0.5 * 0.9 = 0.45; long [3, 4, 5] has 0.45 * 0.95**3 = 0.386.
    rows = {1: {2: .5, 3: .45}, 2: {0: .9}, 3: {4: .95}, 4: {5: .95}, 5: {0: .95}}
    step, start = bigram_step(table_from_rows(SMALL_V, rows)), torch.tensor([1])
    raw = beam_search(step, None, start, EOS, 3, 4, length_penalty=0.0)[0]
    assert raw[0][0] == [2] and raw[0][1] == pytest.approx(math.log(0.45), abs=1e-5)
    assert raw[1][0] == [3, 4, 5]
    penalized = beam_search(step, None, start, EOS, 3, 4, length_penalty=2.0)[0]
    assert penalized[0][0] == [3, 4, 5]
    assert penalized[0][1] == pytest.approx(math.log(0.45 * 0.95 ** 3) / 1.5 ** 2, abs=1e-5)
    assert penalized[1][0] == [2]


def test_beam_without_finished_returns_live_beams():
    table = random_log_table(9, SMALL_V)
    table[:, EOS] = float("-inf")                                  # eos is impossible
    step = bigram_step(table)
    hyps = beam_search(step, None, torch.tensor([1]), EOS, 3, 5, length_penalty=0.0)[0]
    assert len(hyps) == 3 and all(len(toks) == 5 for toks, _ in hyps)
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(rescore(step, None, 1, hyps[0][0], 0.0, False), abs=1e-4)


def test_beam_stops_once_nothing_can_improve():
    table = table_from_rows(SMALL_V, {t: {EOS: 0.97} for t in range(SMALL_V)})
    calls = []
    hyps = beam_search(bigram_step(table, calls), None, torch.tensor([1, 2, 3]), EOS, 3, 50,
                       length_penalty=0.0)
    assert [h[0][0] for h in hyps] == [[], [], []]
    assert len(calls) <= 4 and all(c == 3 * 3 for c in calls)      # one call for N*K rows


def memory_model(seed: int, seen: list):
    """``sum_model`` whose logits also depend on a per-row memory ``(N, 1)`` long (a source
    token); records the memory object of every call."""
    inner = sum_model(seed)
    shift = torch.randn(SMALL_V, generator=torch.Generator().manual_seed(seed))

    def step(prev, state, memory):
        seen.append(memory)
        logits, state = inner(prev, state)
        return (logits + memory.float() * shift).log_softmax(-1), state
    return step


def test_memory_is_expanded_once_and_never_reordered():
    seen: list = []
    step, starts = memory_model(5, seen), torch.tensor([1, 4, 6])
    memory = torch.tensor([[0], [3], [1]])
    hyps = beam_search(step, sum_state(N), starts, EOS, 4, 6, 1.0, memory=memory)
    assert len(seen) > 1 and all(m is seen[0] for m in seen)  # the same object every step
    assert seen[0].squeeze(1).tolist() == [0] * 4 + [3] * 4 + [1] * 4  # each row K times

    def inside(prev, state):  # the reference: the memory rides in the state, reordered
        logits, new = step(prev, state["s"], state["m"])
        return logits, {"s": new, "m": state["m"]}

    reference = beam_search(inside, {"s": sum_state(N), "m": memory}, starts, EOS, 4, 6, 1.0)
    assert [[t for t, _ in h] for h in hyps] == [[t for t, _ in h] for h in reference]
    seen.clear()
    tokens = sample(step, sum_state(N), starts, 5, eos=EOS, memory=memory,
                    generator=torch.Generator().manual_seed(0))
    assert tokens.size(0) == N
    assert seen and all(m is memory for m in seen)  # passed through as it is


def test_greedy_drops_ended_rows_and_gives_what_each_row_gives_alone():
    seen: list = []
    step = memory_model(3, seen)
    starts = torch.arange(1, 7) % SMALL_V
    memory = torch.tensor([[0], [3], [1], [4], [2], [0]])
    state = sum_state(6)
    together = greedy(step, state, starts, 8, eos=EOS, pad=-1, memory=memory)
    alone = [greedy(step, select_rows(state, torch.tensor([i])), starts[i:i + 1], 8,
                    eos=EOS, pad=-1, memory=memory[i:i + 1])[0].tolist() for i in range(6)]
    width = together.size(1)
    assert together.tolist() == [row + [-1] * (width - len(row)) for row in alone]
    ends = [row.index(EOS) + 1 if EOS in row else 8 for row in alone]
    assert len(set(ends)) > 2  # rows end at different steps: the batch must shrink
    seen.clear()
    greedy(step, state, starts, 8, eos=EOS, memory=memory)
    # step t decodes only the rows that have not ended before it, with their memory rows
    assert [len(m) for m in seen] == [sum(end > t for end in ends) for t in range(len(seen))]


def test_decoding_never_touches_the_global_onednn_switch(monkeypatch):
    writes = []
    real = torch.backends.mkldnn

    class Watch:  # records every write of torch.backends.mkldnn's settings
        def __getattr__(self, name):
            return getattr(real, name)

        def __setattr__(self, name, value):
            writes.append(name)
            setattr(real, name, value)

    monkeypatch.setattr(torch.backends, "mkldnn", Watch())
    step, start = bigram_step(random_log_table(3)), torch.tensor([1, 2, 3])
    greedy(step, None, start, 5, eos=EOS)
    sample(step, None, start, 5, eos=EOS, generator=torch.Generator().manual_seed(0))
    beam_search(step, None, start, EOS, 3, 5)
    assert writes == []


def test_decoding_is_gradient_free_and_keeps_mode():
    torch.manual_seed(0)
    embed, head = torch.nn.Embedding(V, 8), torch.nn.Linear(8, V)
    model = torch.nn.Sequential(embed, head).train()

    grad_seen = []

    def step(prev, state):
        grad_seen.append(torch.is_grad_enabled())
        return model(prev), state

    start = torch.tensor([1, 2, 3])
    greedy(step, None, start, 5, eos=EOS)
    sample(step, None, start, 5, eos=EOS, generator=torch.Generator().manual_seed(0))
    hyps = beam_search(step, None, start, EOS, 3, 5)
    assert model.training and all(isinstance(s, float) for h in hyps for _, s in h)
    assert grad_seen and not any(grad_seen)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_decoding_runs_on_cuda():
    step, starts = sum_model(8), torch.tensor([1, 4, 6])
    on_gpu = beam_search(step, sum_state(N, "cuda"), starts.cuda(), EOS, 4, 6, 1.0)
    on_cpu = beam_search(step, sum_state(N), starts, EOS, 4, 6, 1.0)
    assert [[t for t, _ in h] for h in on_gpu] == [[t for t, _ in h] for h in on_cpu]
    out = sample(bigram_step(random_log_table(2)), None, starts.cuda(), 7, eos=EOS,
                 generator=torch.Generator("cuda").manual_seed(0))
    assert out.device.type == "cuda" and out.shape[0] == N
