"""The translator's model: attention masks for every attention type, beam search against
exhaustive search, shared embeddings and the config rules that guard them."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from seqkit.config import validate
from seqkit.errors import SeqkitError
from seqkit_translate.model import build_model

B, S, V_SRC, V_TGT = 3, 7, 11, 13
SPECIAL = {"pad": 0, "bos": 2, "eos": 3}


def tiny_model(config, src_vocab=V_SRC, tgt_vocab=V_TGT, shared=False, seed=0):
    torch.manual_seed(seed)
    return build_model(config, src_vocab, tgt_vocab, SPECIAL, 0, shared).eval()


def padded_sources(lengths, seed=0):
    """``(B, S)`` ids with padding (0) after each row's length, and the lengths."""
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(4, V_SRC, (len(lengths), S), generator=gen)
    lengths = torch.tensor(lengths)
    src[torch.arange(S).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    return src, lengths


@pytest.mark.parametrize("attention", ["bahdanau", "luong-dot", "luong-general"])
def test_padding_gets_no_attention(tiny_config, attention):
    """Every attention type puts zero weight on padded source positions, its weights sum to
    one, and what stands in the padding changes nothing."""
    model = tiny_model(tiny_config(attention=attention))
    src, lengths = padded_sources([7, 4, 2])
    inputs = torch.randint(4, V_TGT, (B, 5))
    inputs[:, 0] = SPECIAL["bos"]
    logits, weights, _ = model.decode(model.encode(src, lengths), inputs)
    assert weights.shape == (B, 5, S)
    pad = torch.arange(S).unsqueeze(0) >= lengths.unsqueeze(1)  # (B, S)
    assert torch.all(weights.masked_select(pad.unsqueeze(1).expand_as(weights)) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, 5))
    noisy = src.clone()
    noisy[pad] = torch.randint(4, V_SRC, (int(pad.sum()),))
    again, _, _ = model.decode(model.encode(noisy, lengths), inputs)
    torch.testing.assert_close(again, logits)


def exhaustive(model, memory, max_len, alpha):
    """Every target of at most ``max_len`` tokens before <eos>, scored as beam search scores
    it (summed log-probs over the GNMT penalty of its length with <eos>), best first."""
    vocab = model.decoder.output.out_features
    others = [t for t in range(vocab) if t != SPECIAL["eos"]]
    results = []
    for length in range(max_len + 1):
        for body in itertools.product(others, repeat=length):
            tokens = torch.tensor([[SPECIAL["bos"], *body]])
            logits, _, _ = model.decode(memory, tokens)
            log_probs = logits[0].log_softmax(-1)
            targets = [*body, SPECIAL["eos"]]
            total = sum(log_probs[i, t].item() for i, t in enumerate(targets))
            results.append((list(body), total / ((5 + len(targets)) / 6) ** alpha))
    return sorted(results, key=lambda r: r[1], reverse=True)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_equals_exhaustive_search(tiny_config, alpha):
    """With beams enough to keep every prefix, beam search finds exactly the exhaustive
    search's best targets and scores, in order, for each input of a batch."""
    vocab, max_len = 5, 2
    model = tiny_model(tiny_config(), tgt_vocab=vocab, seed=3)
    with torch.no_grad():  # a peakier model, so that the ranking is not a near-tie
        model.decoder.output.weight.mul_(8)
    src, lengths = padded_sources([5, 3])
    memory = model.encode(src, lengths)
    beam = (vocab - 1) ** max_len + 1
    found = model.nbest(memory, beam, max_len, alpha)
    for row in range(2):
        single = model.encode(src[row: row + 1, : lengths[row]], lengths[row: row + 1])
        truth = exhaustive(model, single, max_len, alpha)
        got = found[row]
        assert [h[0] for h in got[:5]] == [t[0] for t in truth[:5]]
        for (_, score), (_, expected) in zip(got[:5], truth[:5]):
            assert math.isclose(score, expected, rel_tol=1e-4, abs_tol=1e-5)


def test_shared_vocabulary_shares_one_embedding(tiny_config):
    """A shared vocabulary with share_embeddings: the encoder reads the decoder's table, which
    tie_embeddings also makes the output layer."""
    config = tiny_config(shared_vocab=True, tie_embeddings=True, src_tokenizer="bpe",
                         tgt_tokenizer="bpe", embed_size=18)
    model = tiny_model(config, V_TGT, V_TGT, shared=True)
    table = model.decoder.embed.weight
    assert model.encoder.frontend.embed.weight is table
    assert model.decoder.output.weight is table
    separate = tiny_model(tiny_config(), V_TGT, V_TGT, shared=False)
    assert separate.encoder.frontend.embed.weight is not separate.decoder.embed.weight


def test_config_rules(tiny_config):
    """Luong-dot needs a memory as wide as the decoder; a shared vocabulary one tokenizer."""
    with pytest.raises(SeqkitError, match="luong-dot"):
        validate(tiny_config(attention="luong-dot", hidden_size=20))
    with pytest.raises(SeqkitError, match="shared-vocab"):
        validate(tiny_config(shared_vocab=True, src_tokenizer="char", tgt_tokenizer="word"))
    with pytest.raises(SeqkitError, match="--src and --tgt"):
        validate(tiny_config(src="de"))


def manual_score(model, memory, body, alpha):
    """Summed log-probs of ``body`` + <eos> by teacher forcing, over the GNMT penalty."""
    logits, _, _ = model.decode(memory, torch.tensor([[SPECIAL["bos"], *body]]))
    log_probs = logits[0].log_softmax(-1)
    targets = [*body, SPECIAL["eos"]]
    total = sum(log_probs[i, t].item() for i, t in enumerate(targets))
    return total / ((5 + len(targets)) / 6) ** alpha


def test_score_matches_search_scores(tiny_config):
    """``score`` scores a target as beam search scores a finished hypothesis (so that greedy
    results, scored afterwards, and beam results are on one scale), batched over padding."""
    model = tiny_model(tiny_config(), seed=5)
    src, lengths = padded_sources([7, 4, 2])
    memory = model.encode(src, lengths)
    targets = [[5, 6, 7, 8], [4], [9, 10]]
    for alpha in (0.0, 1.5):
        got = model.score(memory, targets, alpha)
        for row, body in enumerate(targets):
            single = model.encode(src[row: row + 1, : lengths[row]], lengths[row: row + 1])
            assert math.isclose(got[row], manual_score(model, single, body, alpha),
                                rel_tol=1e-4, abs_tol=1e-5)
    greedy = model.generate(memory, 1, 6)
    assert greedy == [h[0][0] for h in model.nbest(memory, 1, 6, 1.0)]
