"""Shapes of the encoder, decoder and beam search at odd sizes, and the attention penalty."""
from __future__ import annotations

import math

import pytest
import torch

from seqkit.encoder import Memory
from seqkit.seq2seq import Seq2Seq, Seq2SeqBatch, target_batch
from seqkit_caption import model as captioner
from seqkit_caption.frontend import build_encoder

B, T, V, FEATURES = 3, 7, 11, 13
SPECIAL = {"bos": 2, "eos": 3, "pad": 0}


def build(**fields):
    from seqkit_caption import CaptionConfig

    config = CaptionConfig(**{"backbone": "resnet18", "cut_after": "layer2", "image_size": 37,
                              "feature_size": FEATURES, "embed_size": 9, "hidden_size": 17,
                              "attention_size": 5, "attention_penalty": 0.1, **fields})
    torch.manual_seed(0)
    return captioner.build_model(config, build_encoder(config), V, SPECIAL, bank_size=5).eval()


@pytest.fixture(scope="module")
def model():
    return build()


def batch_of(tokens: torch.Tensor, owner=None, count: int = B) -> Seq2SeqBatch:
    lengths = (tokens != SPECIAL["pad"]).sum(1)
    return Seq2SeqBatch(images(count), None, tokens, lengths, owner)


def images(count: int = B, size: int = 37) -> torch.Tensor:
    return torch.randint(0, 256, (count, 3, size, size), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(count))


def test_encoder_gives_a_grid_memory(model):
    memory = model.encode(images())
    assert model.grid == (5, 5)  # 37 -> 19 (conv1) -> 10 (maxpool) -> 10 (layer1) -> 5 (layer2)
    assert memory.features.shape == (B, 25, FEATURES)
    assert memory.mask.shape == (B, 25) and bool(memory.mask.all())


def test_decoder_logits_and_attention(model):
    assert isinstance(model, Seq2Seq)  # the captioner is the core's sequence-to-sequence model
    tokens = torch.randint(4, V, (5, T))
    owner = torch.tensor([0, 0, 1, 2, 2])
    logits, weights, rows = model.decode(model.encode(images()), tokens, owner)
    assert logits.shape == (5, T, V)
    assert weights.shape == (5, T, 25)
    assert torch.allclose(weights.sum(-1), torch.ones(5, T), atol=1e-5)
    memory = model.encode(images())
    assert torch.allclose(rows.features[1], memory.features[0])  # owner picks image rows
    assert torch.allclose(rows.features[3], memory.features[2])


def test_attention_penalty_known_number():
    weights = torch.tensor([[[0.5, 0.25, 0.25], [0.5, 0.5, 0.0]]])  # (N=1, T=2, S=3)
    cells = torch.ones(1, 3, dtype=torch.bool)
    both = captioner.attention_penalty(weights, torch.tensor([[True, True]]), cells)
    assert math.isclose(both.item(), (0 + 0.25 ** 2 + 0.75 ** 2) / 3, rel_tol=1e-6)
    first = captioner.attention_penalty(weights, torch.tensor([[True, False]]), cells)
    assert math.isclose(first.item(), (0.25 + 0.75 ** 2 * 2) / 3, rel_tol=1e-6)


def test_loss_adds_the_weighted_penalty_and_counts_tokens(model):
    tokens = torch.tensor([[2, 5, 6, 3, 0], [2, 7, 3, 0, 0], [2, 4, 4, 4, 3]])
    out = model(batch_of(tokens))
    assert out.items == 3 + 2 + 4
    assert torch.isfinite(out.nll) and out.penalty > 0
    assert model.attention_penalty == 0.1  # the config's lambda, folded into the forward
    torch.testing.assert_close(out.loss, out.nll + 0.1 * out.penalty)
    # the same captions with their images in another order, mapped back by owner
    pixels = images()
    swapped = model(Seq2SeqBatch(pixels[[2, 0, 1]], None, tokens, None, torch.tensor([1, 2, 0])))
    torch.testing.assert_close(swapped.loss, out.loss)


@pytest.mark.parametrize("beam", [1, 3])
def test_search_is_batched_over_images(model, beam):
    pixels = images()
    together = model.caption(pixels, beam=beam, max_len=6)
    alone = [model.caption(pixels[i: i + 1], beam=beam, max_len=6)[0] for i in range(B)]
    assert len(together) == B and together == alone
    assert all(len(ids) <= 6 and SPECIAL["eos"] not in ids for ids in together)


def test_attention_maps_of_a_caption(model):
    pixels = images(2)
    captions = [[5, 6, 7], [4]]  # fixed words: an untrained model's own captions may be empty
    maps = model.attention(model.encode(pixels), captions)
    assert [m.shape for m in maps] == [(3, 25), (1, 25)]
    sums = torch.cat(maps).sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-4)


def test_pooled_and_nearest(model):
    memory = model.encode(images())
    pooled = model.pooled(memory)
    assert pooled.shape == (B, FEATURES)
    model.bank.copy_(torch.cat([pooled, -pooled[:2]]))
    assert model.nearest(pooled).tolist() == [0, 1, 2]
    only_cell_4 = torch.zeros_like(memory.mask).index_fill_(1, torch.tensor([4]), True)
    masked = Memory(memory.features, only_cell_4)
    assert torch.allclose(model.pooled(masked), memory.features[:, 4])


def test_decoder_start_from_the_image_or_from_zeros(model):
    memory = model.encode(images())
    from_image = model.start(memory)["rnn"]
    assert all(part.shape == (B, 1, 17) and part.abs().sum() > 0 for part in from_image)
    blind = build(image_init=False)
    assert blind.decoder.bridge is None
    assert all(not part.any() for part in blind.start(blind.encode(images()))["rnn"])
    assert len(blind.caption(images(), beam=2, max_len=4)) == B


def test_target_batch_pads_after_eos():
    tgt, lengths = target_batch([[5, 6], [], [7]], SPECIAL["bos"], SPECIAL["eos"], SPECIAL["pad"])
    assert tgt.tolist() == [[2, 5, 6, 3], [2, 3, 0, 0], [2, 7, 3, 0]]
    assert lengths.tolist() == [4, 2, 3]


def test_scene_cnn_grid_and_its_sinusoidal_positions():
    from seqkit_caption import CaptionConfig

    config = CaptionConfig(backbone=captioner.SCENE_CNN, cut_after="", image_size=56,
                           feature_size=FEATURES)
    encoder = captioner.build_encoder(config)
    assert encoder.frontend.grid == (7, 7)  # 56 -> 28 -> 14 -> 7 (three 2x2 max pools)
    body = encoder.frontend.body
    assert [type(block[-1]).__name__ for block in body] == ["MaxPool2d"] * 3 + ["ReLU"]
    assert body[0][0].stride == (1, 1)  # the first convolution sees every pixel
    memory = encoder(images(size=56))
    assert memory.features.shape == (B, 49, FEATURES)
    position = encoder.frontend.position[0]  # (S, F): F/4 = 3 channels each of sin/cos
    assert torch.allclose(position[1, 0], torch.sin(torch.tensor(math.pi / 7)))  # column 1
    assert torch.allclose(position[7, 6], torch.sin(torch.tensor(math.pi / 7)))  # row 1
    assert torch.allclose(position[7, :6], position[0, :6])  # same column, same first half
    assert position[:, 12].abs().sum() == 0  # the 13th channel (F % 4) starts at zero
    cut = CaptionConfig(backbone=captioner.SCENE_CNN, cut_after="block2", image_size=56,
                        feature_size=0)
    assert captioner.build_encoder(cut).output_size == 32
    assert captioner.build_encoder(cut).frontend.grid == (14, 14)
