"""FastLSTMStep computes what Decoder.step computes, for every layout it handles."""
import pytest
import torch

from seqkit.decoder import Decoder
from seqkit.decoding import sample
from seqkit.fast_step import FastLSTMStep


@pytest.mark.parametrize("vocab, embed, hidden, layers, tie", [
    (13, 5, 7, 1, False),      # first-layer gate table
    (13, 7, 7, 3, True),       # tied, three layers
    (11, 5, 9, 2, True),       # tied through the bottleneck projection
    (5000, 3, 230, 2, False),  # vocabulary too large for the table
])
def test_matches_decoder_step(vocab, embed, hidden, layers, tie):
    torch.manual_seed(0)
    model = Decoder(vocab, embed, hidden, layers, dropout=0.3, tie_weights=tie).eval()
    for p in model.parameters():  # move the zero-initialised biases off zero
        torch.nn.init.uniform_(p, -0.3, 0.3)
    fast = FastLSTMStep(model)
    assert (fast.table is None) == (vocab * 4 * hidden > 1 << 22)
    prompt = torch.randint(vocab, (3, 4))
    _, state = model(prompt)
    fast_state = fast.state(state)
    tokens = torch.randint(vocab, (3,))
    for _ in range(5):
        expected, state = model.step(tokens, state)
        got, fast_state = fast(tokens, fast_state)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        tokens = expected.argmax(-1)
    h, c = state["rnn"]
    torch.testing.assert_close(torch.stack(fast_state[0::2], 1), h, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.stack(fast_state[1::2], 1), c, atol=1e-5, rtol=1e-5)


def test_empty_state_and_samples_match_the_decoder():
    torch.manual_seed(1)
    model = Decoder(17, 6, 8, 2).eval()
    for p in model.parameters():  # logits far enough apart that a wrong state shows
        torch.nn.init.uniform_(p, -1.0, 1.0)
    fast = FastLSTMStep(model)
    empty = fast.state(None)
    assert len(empty) == 4 and all(t.shape == (1, 8) and not t.any() for t in empty)
    start = torch.tensor([3])
    torch.testing.assert_close(fast(start, empty)[0], model.step(start, None)[0],
                               atol=1e-5, rtol=1e-5)
    draws = [sample(step, state, start, 30, generator=torch.Generator().manual_seed(5))
             for step, state in ((model.step, None), (fast, empty))]
    assert torch.equal(*draws)


def test_refuses_what_it_does_not_handle():
    assert not FastLSTMStep.supports(Decoder(7, 4, 4, cell="gru"))
    attending = Decoder(7, 4, 4, attention="luong", memory_size=3)
    assert not FastLSTMStep.supports(attending)
    with pytest.raises(ValueError, match="without attention"):
        FastLSTMStep(attending)
