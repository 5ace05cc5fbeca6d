"""The encoder's carried state (``Encoder.forward(..., state)``: truncated BPTT over a stream cut
into chunks) and the frame front-end's ``keep_position`` option. Tiny models, odd sizes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from seqkit.encoder import Encoder, TokenEmbedding
from seqkit.errors import SeqkitError
from seqkit.vision import Backbone, FrameFrontend, small_cnn
from seqkit.vision.frontends import keypoints

B, T, H, V = 3, 7, 8, 11  # odd sizes: a swapped dimension fails loudly


def _chunked(encoder: Encoder, inputs: torch.Tensor, cuts: list[int]):
    """Features and final state of ``inputs`` encoded chunk by chunk, the state carried."""
    state, pieces, start = None, [], 0
    for stop in [*cuts, inputs.size(1)]:
        piece = inputs[:, start:stop]
        memory = encoder(piece, torch.full((inputs.size(0),), piece.size(1)), state)
        pieces.append(memory.features)
        state, start = memory.state, stop
    return torch.cat(pieces, 1), state


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_chunks_with_the_carried_state_equal_the_unchunked_run(cell):
    torch.manual_seed(0)
    encoder = Encoder(TokenEmbedding(V, 5), 5, cell, hidden_size=H, num_layers=2).eval()
    tokens = torch.randint(1, V, (B, T))
    whole = encoder(tokens)
    features, state = _chunked(encoder, tokens, [3, 4])  # chunks of 3, 1 and 3 steps
    assert features.shape == (B, T, H)
    assert torch.allclose(features, whole.features, atol=1e-6)
    for part, expected in zip(state, whole.state):
        assert part.shape == (B, 2, H)  # batch-first: (B, layers, H)
        assert torch.allclose(part, expected, atol=1e-6)
    # the state matters: starting the second chunk from zeros gives other features
    fresh = encoder(tokens[:, 3:])
    assert not torch.allclose(fresh.features, whole.features[:, 3:], atol=1e-3)


class _Same(nn.Module):
    """A front-end that hands its float inputs on unchanged."""

    def forward(self, inputs, lengths=None):
        return inputs, lengths


def test_gradients_reach_the_last_chunk_through_a_kept_state_not_a_detached_one():
    torch.manual_seed(0)
    encoder = Encoder(_Same(), 5, "gru", hidden_size=H)
    inputs = torch.randn(B, T, 5, requires_grad=True)
    first = encoder(inputs[:, :4])
    for state, reaches in ((first.state, True), (tuple(s.detach() for s in first.state), False)):
        inputs.grad = None
        encoder(inputs[:, 4:], state=state).features.sum().backward(retain_graph=True)
        assert bool(inputs.grad[:, :4].abs().sum() > 0) == reaches
        assert bool(inputs.grad[:, 4:].abs().sum() > 0)


def test_padded_rows_carry_the_state_of_their_last_real_step():
    torch.manual_seed(0)
    encoder = Encoder(TokenEmbedding(V, 5), 5, "lstm", hidden_size=H).eval()
    tokens = torch.randint(1, V, (B, T))
    lengths = torch.tensor([T, 4, 2])
    memory = encoder(tokens, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone = encoder(tokens[row: row + 1, :length])
        for part, expected in zip(memory.state, alone.state):
            assert torch.allclose(part[row], expected[0], atol=1e-6)
    assert torch.all(memory.features[1, 4:] == 0) and torch.all(memory.features[2, 2:] == 0)


def test_an_encoder_without_an_rnn_refuses_a_state():
    encoder = Encoder(TokenEmbedding(V, 5), 5, hidden_size=0)
    assert encoder(torch.randint(1, V, (B, T))).state is None
    with pytest.raises(ValueError, match="no state to carry"):
        encoder(torch.randint(1, V, (B, T)), state=(torch.zeros(B, 1, 5),))


def _identity_backbone() -> Backbone:
    """A body that passes the pixels through: the grid is the frame itself."""
    stage = [("same", nn.Identity())]
    return Backbone(stage, stage, mean=(0.0,), std=(1.0,))


def _dot(row: int, col: int, side: int = 5) -> torch.Tensor:
    """One clip ``(1, 1, 1, side, side)`` with a single bright pixel."""
    frame = torch.zeros(1, 1, 1, side, side)
    frame[..., row, col] = 1.0
    return frame


def test_keep_position_tells_where_a_dot_is_and_pooling_cannot():
    torch.manual_seed(0)
    pooled = FrameFrontend(_identity_backbone(), 5, feature_size=H)
    keeping = FrameFrontend(_identity_backbone(), 5, feature_size=H, keep_position=True)
    left, right = _dot(2, 0), _dot(2, 4)
    assert torch.equal(pooled(left)[0], pooled(right)[0])  # the mean forgets where
    a, b = keeping(left)[0], keeping(right)[0]
    assert a.shape == (1, 1, H)
    assert not torch.allclose(a, b)
    # the projection sees every cell: features are Linear(C * h * w) of the flattened grid
    linear = keeping.project[0]
    assert linear.in_features == 1 * 5 * 5
    assert torch.allclose(a[0, 0], torch.relu(linear.weight[:, 2 * 5 + 0] + linear.bias))


def test_keep_position_over_a_cnn_masks_padding_and_chunks_alike():
    torch.manual_seed(0)
    frontend = FrameFrontend(small_cnn(3, (5, 9)), (21, 19), feature_size=11,
                             keep_position=True).eval()
    chunked = FrameFrontend(small_cnn(3, (5, 9)), (21, 19), feature_size=11, chunk=2,
                            keep_position=True).eval()
    chunked.load_state_dict(frontend.state_dict())
    assert frontend.grid == (6, 5)
    assert frontend.project[0].in_features == 9 * 6 * 5
    data, lengths = torch.rand(B, T, 3, 21, 19), torch.tensor([T, 4, 1])
    features, _ = frontend(data, lengths)
    assert features.shape == (B, T, 11)
    assert torch.all(features[1, 4:] == 0) and torch.all(features[2, 1:] == 0)
    assert torch.allclose(chunked(data, lengths)[0], features, atol=1e-6)


def test_keep_position_refuses_what_it_cannot_do():
    with pytest.raises(SeqkitError, match="feature_size > 0"):
        FrameFrontend(small_cnn(3, (5,)), 21, keep_position=True)
    frontend = FrameFrontend(small_cnn(3, (5,)), 21, feature_size=7, keep_position=True)
    with pytest.raises(SeqkitError, match=r"built for \(11, 11\)"):
        frontend(torch.rand(B, T, 3, 25, 25))


def test_keypoints_say_where_a_channel_fires_once_it_fires_clearly():
    grid = torch.zeros(3, 3, 4, 5)  # (N, C, h, w): odd sizes, x across 5 cells, y down 4
    grid[0, 0, 1, 4] = 10.0  # channel 0 fires at row 1, column 4 (the right edge)
    grid[1, 0, 1, 4] = 60.0  # six times as strong: the same place
    grid[2, 0, 1, 4] = 1.0  # weakly: pulled toward the centre
    grid[0, 1, 3, 0] = grid[0, 1, 3, 1] = 30.0  # channel 1: between columns 0 and 1, last row
    points = keypoints(grid)  # (N, 2C): x of every channel, then y of every channel
    assert points.shape == (3, 6)
    x, y = points[:, :3], points[:, 3:]
    assert torch.allclose(x[:2, 0], torch.tensor([1.0, 1.0]), atol=2e-3)
    assert torch.allclose(y[:2, 0], torch.tensor([-1 / 3, -1 / 3]), atol=1e-3)
    assert 0.0 < x[2, 0] < 0.5 and -1 / 3 < y[2, 0] < 0.0  # weak: toward the centre
    assert torch.allclose(x[0, 1], torch.tensor(-0.75), atol=1e-3)  # halfway: -1 and -0.5
    assert torch.allclose(y[0, 1], torch.tensor(1.0), atol=1e-3)
    assert torch.allclose(points[:, 2], torch.zeros(3)) and x[1, 1] == 0  # silent: the centre


def test_keypoints_reach_the_projection_beside_the_grid():
    torch.manual_seed(0)
    frontend = FrameFrontend(_identity_backbone(), 5, feature_size=H, keep_position=True,
                             keypoints=True)
    assert frontend.project[0].in_features == 1 * 5 * 5 + 2
    clip = 20 * _dot(1, 3)
    linear = frontend.project[0]
    expected = torch.relu(linear(torch.cat([clip.flatten(), keypoints(clip[0])[0]])))
    assert torch.allclose(frontend(clip)[0][0, 0], expected, atol=1e-5)
    pooled = FrameFrontend(_identity_backbone(), 5, feature_size=H, keypoints=True)
    assert pooled.project[0].in_features == 1 + 2  # the mean, then x and y


def test_a_streamed_frame_encoder_equals_the_whole_clip():
    """The video plugin's use: frames in chunks, the state carried, as one pass."""
    torch.manual_seed(0)
    frontend = FrameFrontend(small_cnn(3, (5, 9)), 13, feature_size=H, keep_position=True)
    encoder = Encoder(frontend, H, "gru", hidden_size=H).eval()
    frames = torch.randint(0, 256, (B, T, 3, 13, 13), dtype=torch.uint8)
    whole = encoder(frames)
    features, state = _chunked(encoder, frames, [2, 5])
    assert torch.allclose(features, whole.features, atol=1e-5)
    assert torch.allclose(state[0], whole.state[0], atol=1e-5)
