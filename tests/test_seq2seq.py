"""The core Seq2Seq at small odd sizes: shapes, the label-smoothed loss against hand-computed
numbers, the bridge from any encoder into any decoder, beam search against exhaustive search,
the memory kept out of the beams' reorder, and a tiny model that learns to reverse sequences."""
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from seqkit.decoder import Decoder
from seqkit.decoding import beam_search, select_rows
from seqkit.encoder import Encoder, Memory, TokenEmbedding
from seqkit.seq2seq import (Seq2Seq, Seq2SeqBatch, Seq2SeqLoss, smoothed_cross_entropy,
                            target_batch)

B, S, T, E, H, V = 3, 7, 5, 6, 8, 11
PAD, BOS, EOS = 0, 1, 2


def build(enc_layers=1, dec_layers=1, enc_cell="gru", dec_cell="lstm", attention="bahdanau",
          vocab=V, embed=E, hidden=H, **kwargs) -> Seq2Seq:
    encoder = Encoder(TokenEmbedding(vocab, embed), embed, enc_cell, hidden, enc_layers,
                      bidirectional=True)
    decoder = Decoder(vocab, embed, hidden, dec_layers, dec_cell, attention=attention,
                      memory_size=encoder.output_size, bridge_size=encoder.summary_size)
    return Seq2Seq(encoder, decoder, BOS, EOS, PAD, **kwargs)


def batch(seed=0) -> Seq2SeqBatch:
    g = torch.Generator().manual_seed(seed)
    src_lengths = torch.tensor([7, 4, 2])
    src = torch.randint(3, V, (B, S), generator=g) * (torch.arange(S) < src_lengths[:, None])
    targets = [torch.randint(3, V, (n,), generator=g).tolist() for n in (4, 1, 3)]
    tgt, tgt_lengths = target_batch(targets, BOS, EOS, PAD)
    return Seq2SeqBatch(src, src_lengths, tgt, tgt_lengths, index=torch.arange(B))


def test_forward_shapes_and_target_shifting():
    torch.manual_seed(0)
    model, data = build(enc_layers=2, dec_layers=3).eval(), batch()
    out = model(data)
    assert isinstance(out, Seq2SeqLoss) and out.items == 4 + 1 + 3 + 3  # words + one eos each
    memory = model.encode(data.src, data.src_lengths)
    assert memory.features.shape == (B, S, 2 * H) and memory.mask.sum(1).tolist() == [7, 4, 2]
    logits, weights, _ = model.decode(memory, data.tgt[:, :-1])
    assert logits.shape == (B, 5, V) and weights.shape == (B, 5, S)
    assert weights[2, :, 2:].abs().max() == 0  # no attention on source padding
    # the loss scores tgt[:, 1:] from tgt[:, :-1]: shifting by one more would change it
    by_hand = F.cross_entropy(logits.transpose(1, 2), data.tgt[:, 1:], ignore_index=PAD)
    torch.testing.assert_close(out.nll, by_hand)
    torch.testing.assert_close(out.loss, out.nll)  # no smoothing, no penalty
    moved = data.to("cpu")
    assert isinstance(moved, Seq2SeqBatch) and torch.equal(moved.tgt, data.tgt)


def test_label_smoothed_loss_equals_a_hand_computed_value_with_padding():
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                           [[0.0, 0.0, 3.0], [5.0, -5.0, 9.0]]])  # (N=2, T=2, V=3)
    targets = torch.tensor([[1, 2], [2, 0]])  # the last position is padding (id 0)
    eps = 0.3
    lse = [math.log(math.exp(2) + 2), math.log(math.e + 2), math.log(math.exp(3) + 2)]
    nll = [lse[0] - 0.0, lse[1] - 0.0, lse[2] - 3.0]  # -log p(target) of the 3 real tokens
    uniform = [lse[0] - 2 / 3, lse[1] - 1 / 3, lse[2] - 1.0]  # mean over v of -log p(v)
    want = sum((1 - eps) * a + eps * b for a, b in zip(nll, uniform)) / 3
    loss, plain, items = smoothed_cross_entropy(logits, targets, pad_id=0, smoothing=eps)
    assert items == 3
    assert math.isclose(loss.item(), want, rel_tol=1e-6)
    assert math.isclose(plain.item(), sum(nll) / 3, rel_tol=1e-6)
    torch_value = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=0,
                                  label_smoothing=eps)
    torch.testing.assert_close(loss, torch_value)


def test_the_model_uses_its_label_smoothing_and_penalty_weight():
    torch.manual_seed(0)
    plain = build().eval()
    smoothed = build(label_smoothing=0.2, attention_penalty=0.5).eval()
    smoothed.load_state_dict(plain.state_dict())
    a, b = plain(batch()), smoothed(batch())
    torch.testing.assert_close(a.nll, b.nll)
    assert b.penalty > 0
    assert not torch.allclose(b.loss - 0.5 * b.penalty, b.nll)  # smoothing changed the loss
    torch.testing.assert_close(b.loss, smoothed_cross_entropy(
        smoothed.decode(smoothed.encode(batch().src, batch().src_lengths), batch().tgt[:, :-1])[0],
        batch().tgt[:, 1:], PAD, 0.2)[0] + 0.5 * b.penalty)


@pytest.mark.parametrize("enc_cell,dec_cell", [("lstm", "lstm"), ("gru", "gru"),
                                               ("gru", "lstm"), ("lstm", "gru")])
@pytest.mark.parametrize("enc_layers,dec_layers", list(itertools.product((1, 2, 3), (1, 2, 3))))
def test_bridge_from_a_bidirectional_encoder_into_any_decoder(enc_layers, dec_layers,
                                                              enc_cell, dec_cell):
    torch.manual_seed(enc_layers * 10 + dec_layers)
    model, data = build(enc_layers, dec_layers, enc_cell, dec_cell).eval(), batch()
    memory = model.encode(data.src, data.src_lengths)
    parts = 2 if enc_cell == "lstm" else 1
    assert len(memory.state) == parts and memory.state[0].shape == (B, 2 * enc_layers, H)
    state = model.start(memory)["rnn"]
    assert len(state) == (2 if dec_cell == "lstm" else 1)
    assert all(part.shape == (B, dec_layers, H) for part in state)
    # every encoder layer and both directions reach the decoder's initial state
    for slot in (0, 2 * enc_layers - 1):  # first layer forward, last layer backward
        changed = tuple(p.clone() for p in memory.state)
        changed[0][:, slot] += 1.0
        moved = model.start(Memory(memory.features, memory.mask, changed))["rnn"]
        assert all((a - b).abs().amax(dim=(1, 2)).min() > 0 for a, b in zip(moved, state))
    assert model.generate(memory, beam=2, max_len=4)  # and it decodes from there


def sequence_log_prob(model: Seq2Seq, memory: Memory, ids: list[int]) -> float:
    """log p(ids + <eos> | memory row 0) by teacher forcing."""
    tgt, _ = target_batch([ids], BOS, EOS, PAD)
    with torch.no_grad():
        logits = model.decode(memory, tgt[:, :-1])[0].log_softmax(-1)[0]  # (len+1, V)
    return logits.gather(1, tgt[0, 1:, None]).sum().item()


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_search_equals_exhaustive_search(alpha):
    torch.manual_seed(3)
    vocab, longest = 5, 3  # words 3 and 4; 2 + 4 + 8 live prefixes at most: a beam of 8 is exact
    model = build(vocab=vocab, hidden=7, embed=5).eval()
    with torch.no_grad():  # sharpen the model so that the best sequence is not the shortest
        model.decoder.output.weight.mul_(8.0)
        model.decoder.output.bias[[PAD, BOS]] = -1e4  # words are 3 and 4 only
    src = torch.tensor([[3, 4, 4, 3, 4]])
    memory = model.encode(src, torch.tensor([5]))
    scored = []
    for n in range(longest + 1):
        for ids in itertools.product((3, 4), repeat=n):
            logp = sequence_log_prob(model, memory, list(ids))
            scored.append((logp / ((5 + n + 1) / 6) ** alpha, list(ids)))
    scored.sort(reverse=True)
    found = model.generate(memory, beam=8, max_len=longest, length_penalty=alpha)
    assert found == [scored[0][1]]
    hyps = beam_search(model.decoder.step, model.start(memory), torch.tensor([BOS]), EOS, 8,
                       longest + 1, alpha, memory=model.decoder.prepare(memory))[0]
    assert [h[0] for h in hyps] == [ids for _, ids in scored[:8]]
    for (tokens, score), (want, _) in zip(hyps, scored):
        assert math.isclose(score, want, rel_tol=1e-4, abs_tol=1e-5)


def test_beam_search_expands_the_memory_once_and_never_reorders_it():
    torch.manual_seed(4)
    model, data = build(enc_layers=2, dec_layers=2).eval(), batch()
    memory = model.decoder.prepare(model.encode(data.src, data.src_lengths))
    seen = []

    def step(tokens, state, mem):
        seen.append(mem)
        assert all(not isinstance(v, Memory) for v in state.values())
        return model.decoder.step(tokens, state, mem)

    start = torch.full((B,), BOS)
    hyps = beam_search(step, model.start(memory), start, EOS, 4, 6, memory=memory)
    assert len(seen) > 1 and all(m is seen[0] for m in seen)  # one object, never reordered
    assert seen[0].features.size(0) == B * 4
    assert torch.equal(seen[0].features[4:8], memory.features[1:2].expand(4, -1, -1))

    def reordered(tokens, state):  # the old way: the memory inside the state, moved every step
        return model.decoder.step(tokens, state["dec"], state["mem"])[0], {
            **state, "dec": model.decoder.step(tokens, state["dec"], state["mem"])[1]}

    old = beam_search(reordered, {"dec": model.start(memory), "mem": memory}, start, EOS, 4, 6)
    assert [[h[0] for h in row] for row in hyps] == [[h[0] for h in row] for row in old]


def test_select_rows_of_a_memory_picks_owner_rows():
    memory = Memory(torch.randn(B, S, H), torch.ones(B, S, dtype=torch.bool))
    rows = select_rows(memory, torch.tensor([2, 2, 0]))
    assert torch.equal(rows.features[1], memory.features[2]) and rows.keys is None


def reversal_batch(g: torch.Generator, count: int, symbols=range(3, 9), shortest=2, longest=6):
    lengths = torch.randint(shortest, longest + 1, (count,), generator=g)
    seqs = [torch.tensor(list(symbols))[torch.randint(0, len(symbols), (n,), generator=g)]
            for n in lengths.tolist()]
    src = torch.zeros(count, longest, dtype=torch.long)
    for i, seq in enumerate(seqs):
        src[i, : len(seq)] = seq
    tgt, tgt_lengths = target_batch([s.flip(0).tolist() for s in seqs], BOS, EOS, PAD)
    return Seq2SeqBatch(src, lengths, tgt, tgt_lengths)


def test_a_tiny_seq2seq_learns_to_reverse_sequences():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    encoder = Encoder(TokenEmbedding(9, 16), 16, "gru", 32, bidirectional=True)
    decoder = Decoder(9, 16, 32, cell="lstm", attention="luong", memory_size=64,
                      bridge_size=encoder.summary_size)
    model = Seq2Seq(encoder, decoder, BOS, EOS, PAD, label_smoothing=0.05)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(1)
    for _ in range(300):
        out = model(reversal_batch(g, 32))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    model.eval()
    held_out = reversal_batch(torch.Generator().manual_seed(99), 61)
    memory = model.encode(held_out.src, held_out.src_lengths)
    want = [row[1: n - 1] for row, n in zip(held_out.tgt.tolist(), held_out.tgt_lengths.tolist())]
    for beam in (1, 3):
        said = model.generate(memory, beam=beam, max_len=8)
        exact = sum(a == b for a, b in zip(said, want)) / len(want)
        assert exact >= 0.9, (beam, exact)
