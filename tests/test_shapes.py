"""Shapes of the core modules at small odd sizes (B=3, T=7, S=5, H=8, V=11), so that a swapped
dimension fails loudly, and the consistency of incremental decoding with teacher forcing."""
import pytest
import torch

from seqkit.cells import RNN, CellStack, last_layer
from seqkit.decoder import Decoder
from seqkit.encoder import Encoder, Memory, TokenEmbedding, lengths_to_mask
from seqkit.heads import StepClassifier, ctc_loss, masked_step_loss

B, T, S, E, H, V, L = 3, 7, 5, 6, 8, 11, 2


@pytest.mark.parametrize("cell,parts", [("rnn", 1), ("gru", 1), ("lstm", 2)])
def test_rnn_is_batch_first_in_outputs_and_state(cell, parts):
    rnn = RNN(cell, E, H, num_layers=L)
    out, state = rnn(torch.randn(B, T, E))
    assert out.shape == (B, T, H)
    assert len(state) == parts and all(s.shape == (B, L, H) for s in state)
    # the carried state continues the sequence exactly as one long call would
    x = torch.randn(B, 2 * T, E)
    whole, _ = rnn(x)
    first, carry = rnn(x[:, :T])
    second, _ = rnn(x[:, T:], carry)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    assert torch.equal(last_layer(state), state[0][:, -1])


def test_packed_rnn_ignores_padding():
    rnn = RNN("gru", E, H, bidirectional=True)
    x, lengths = torch.randn(B, T, E), torch.tensor([7, 4, 2])
    out, state = rnn(x, lengths=lengths)
    assert out.shape == (B, T, 2 * H) and state[0].shape == (B, 2, H)
    assert out[1, 4:].abs().sum() == 0 and out[2, 2:].abs().sum() == 0
    alone, _ = rnn(x[2:3, :2])  # the short row alone, unpadded
    torch.testing.assert_close(out[2:3, :2], alone)


def test_encoder_memory_shapes_and_mask():
    encoder = Encoder(TokenEmbedding(V, E), E, "lstm", H, num_layers=L, bidirectional=True)
    memory = encoder(torch.randint(1, V, (B, S)), torch.tensor([5, 3, 1]))
    assert memory.features.shape == (B, S, 2 * H)
    assert memory.mask.tolist()[2] == [True, False, False, False, False]
    assert memory.state[0].shape == (B, 2 * L, H)
    assert lengths_to_mask(None, B, S, torch.device("cpu")).all()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_language_model_decoder_shapes(cell):
    decoder = Decoder(V, E, H, num_layers=L, cell=cell, tie_weights=True)
    logits, state = decoder(torch.randint(0, V, (B, T)))
    assert logits.shape == (B, T, V)
    assert decoder.output.weight is decoder.embed.weight  # tied through a projection (H != E)
    assert all(s.shape == (B, L, H) for s in state["rnn"])


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("attention,feeding", [("bahdanau", False), ("bahdanau", True),
                                               ("luong", True), ("luong", False)])
def test_attending_decoder_step_matches_teacher_forcing(attention, feeding, cell):
    torch.manual_seed(0)
    memory = Memory(torch.randn(B, S, 2 * H), lengths_to_mask(torch.tensor([5, 3, 2]), B, S,
                                                              torch.device("cpu")))
    decoder = Decoder(V, E, H, num_layers=L, cell=cell, attention=attention, memory_size=2 * H,
                      input_feeding=feeding, gate=attention == "bahdanau",
                      bridge_size=2 * H).eval()
    assert isinstance(decoder.rnn, CellStack) and len(decoder.rnn.cells) == L
    tokens = torch.randint(0, V, (B, T))
    logits, _, weights = decoder(tokens, memory=memory, return_attention=True)
    assert logits.shape == (B, T, V) and weights.shape == (B, T, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
    assert weights[2, :, 2:].abs().max() == 0  # never attends to padding
    state, stepped = decoder.start(memory), []
    assert "features" not in state and "keys" not in state  # the memory is not in the state
    prepared = decoder.prepare(memory)
    for t in range(T):
        step_logits, state = decoder.step(tokens[:, t], state, prepared)
        stepped.append(step_logits)
    torch.testing.assert_close(torch.stack(stepped, 1), logits)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_cell_stack_equals_the_fused_rnn_with_the_same_weights(cell):
    torch.manual_seed(1)
    fused, stack = RNN(cell, E, H, num_layers=L), CellStack(cell, E, H, num_layers=L)
    with torch.no_grad():
        for i, module in enumerate(stack.cells):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(module, name).copy_(getattr(fused.rnn, f"{name}_l{i}"))
    x = torch.randn(B, T, E)
    start = tuple(torch.randn(B, L, H) for _ in range(2 if cell == "lstm" else 1))
    want, want_state = fused(x, start)
    got, got_state = stack(x, start)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(got_state, want_state)
    stepped, state = [], start  # and the fused module's own single-step form
    for t in range(T):
        out, state = fused.step(x[:, t], state)
        stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, 1), want)
    torch.testing.assert_close(state, want_state)


def test_language_model_step_never_changes_the_onednn_setting(monkeypatch):
    decoder = Decoder(V, E, H, num_layers=L, cell="gru").eval()
    tokens = torch.randint(0, V, (B, T))
    logits, _ = decoder(tokens)
    flips = []
    real = torch.backends.mkldnn

    class Watch:  # records every write of torch.backends.mkldnn.enabled
        def __getattr__(self, name):
            return getattr(real, name)

        def __setattr__(self, name, value):
            flips.append((name, value))
            setattr(real, name, value)

    monkeypatch.setattr(torch.backends, "mkldnn", Watch())
    from seqkit.decoding import greedy

    greedy(decoder.step, None, tokens[:, 0], 4)
    state, stepped = None, []
    for t in range(T):
        step_logits, state = decoder.step(tokens[:, t], state)
        stepped.append(step_logits)
    torch.testing.assert_close(torch.stack(stepped, 1), logits)
    assert flips == []


def test_heads_shapes_and_losses():
    memory = Memory(torch.randn(B, S, H), lengths_to_mask(torch.tensor([5, 4, 3]), B, S,
                                                          torch.device("cpu")))
    logits = StepClassifier(H, V)(memory)
    assert logits.shape == (B, S, V)
    loss = masked_step_loss(logits, torch.randint(0, V, (B, S)), memory.mask)
    assert loss.dim() == 0 and loss > 0
    ctc = ctc_loss(logits, memory.mask, torch.randint(1, V, (B, 2)), torch.tensor([2, 2, 1]))
    assert torch.isfinite(ctc) and ctc > 0
