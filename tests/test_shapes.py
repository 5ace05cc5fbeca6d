"""Shapes of the core modules at small odd sizes (B=3, T=7, S=5, H=8, V=11), so that a swapped
dimension fails loudly, and the consistency of incremental decoding with teacher forcing."""
import pytest
import torch

from seqkit.cells import RNN, last_layer
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


@pytest.mark.parametrize("attention,feeding", [("bahdanau", False), ("bahdanau", True),
                                               ("luong", True), ("luong", False)])
def test_attending_decoder_step_matches_teacher_forcing(attention, feeding):
    torch.manual_seed(0)
    memory = Memory(torch.randn(B, S, 2 * H), lengths_to_mask(torch.tensor([5, 3, 2]), B, S,
                                                              torch.device("cpu")))
    decoder = Decoder(V, E, H, num_layers=L, attention=attention, memory_size=2 * H,
                      input_feeding=feeding, gate=attention == "bahdanau").eval()
    tokens = torch.randint(0, V, (B, T))
    logits, _, weights = decoder(tokens, memory=memory, return_attention=True)
    assert logits.shape == (B, T, V) and weights.shape == (B, T, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(B, T))
    assert weights[2, :, 2:].abs().max() == 0  # never attends to padding
    state, stepped = decoder.start(memory), []
    for t in range(T):
        step_logits, state = decoder.step(tokens[:, t], state)
        stepped.append(step_logits)
    torch.testing.assert_close(torch.stack(stepped, 1), logits)


def test_heads_shapes_and_losses():
    memory = Memory(torch.randn(B, S, H), lengths_to_mask(torch.tensor([5, 4, 3]), B, S,
                                                          torch.device("cpu")))
    logits = StepClassifier(H, V)(memory)
    assert logits.shape == (B, S, V)
    loss = masked_step_loss(logits, torch.randint(0, V, (B, S)), memory.mask)
    assert loss.dim() == 0 and loss > 0
    ctc = ctc_loss(logits, memory.mask, torch.randint(1, V, (B, 2)), torch.tensor([2, 2, 1]))
    assert torch.isfinite(ctc) and ctc > 0
