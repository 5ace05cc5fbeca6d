"""The tagger's shapes, state carry across chunks, truncated BPTT, flat memory, the cache."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from seqkit.data import Source
from seqkit_video import task
from seqkit_video.data import Collate
from seqkit_video.model import build_tagger, with_motion
from seqkit_video.streaming import ChunkBatches, plan_chunks


def _clips(batch: int = 3, steps: int = 7, side: int = 29, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, steps, 3, side, side), generator=generator,
                         dtype=torch.uint8)


def test_shapes_at_odd_sizes_and_padding_is_ignored(tiny_config):
    config = tiny_config(frame_size=29, mirror=False)
    torch.manual_seed(0)
    model = build_tagger(config, 11).eval()
    clips, lengths = _clips(), torch.tensor([7, 4, 5])
    logits, state = model(clips, lengths)
    assert logits.shape == (3, 7, 11)
    assert state[0].shape == (3, 2, 10)  # batch-first: (B, layers * directions, H)
    noisy = clips.clone()
    noisy[1, 4:] = 255 - noisy[1, 4:]  # change only row 1's padding
    again, _ = model(noisy, lengths)
    assert torch.allclose(logits[1, :4], again[1, :4], atol=1e-5)


def test_chunks_with_carried_state_equal_the_whole_clip(tiny_config):
    config = tiny_config(bidirectional=False, cell="lstm")
    torch.manual_seed(0)
    model = build_tagger(config, 5).eval()
    clips, lengths = _clips(steps=9, side=24), torch.tensor([9, 9, 9])
    whole, _ = model(clips, lengths)
    state, pieces = None, []
    for start in range(0, 9, 4):
        piece = clips[:, start: start + 4]
        reset = torch.full((3,), start == 0)
        logits, state = model(piece, torch.full((3,), piece.size(1)), state, reset)
        pieces.append(logits)
    assert torch.allclose(torch.cat(pieces, 1), whole, atol=1e-5)
    # a row marked reset starts afresh: its logits are those of a clip seen from its start
    fresh, _ = model(clips[:, 4:8], torch.full((3,), 4))
    _, carried = model(clips[:, :4], torch.full((3,), 4))
    mixed, _ = model(clips[:, 4:8], torch.full((3,), 4), carried, torch.tensor([True, False,
                                                                                 False]))
    assert torch.allclose(mixed[0], fresh[0], atol=1e-5)
    assert torch.allclose(mixed[1], whole[1, 4:8], atol=1e-5)


def test_plan_covers_every_frame_once_and_lanes_continue():
    lengths = [9, 4, 13, 1, 7]
    plan = plan_chunks(lengths, lanes=2, bptt=3, seed=5)
    assert plan == plan_chunks(lengths, lanes=2, bptt=3, seed=5)
    seen = {}
    for b, row in enumerate(plan):
        assert len(row) == 2
        for lane, piece in enumerate(row):
            if piece is None:
                continue
            item, start, starts = piece
            assert starts == (start == 0)
            if start:  # a continued clip sits in the same lane as in the batch before
                assert plan[b - 1][lane] == (item, start - 3, start == 3)
            seen.setdefault(item, []).append(start)
    assert {i: sorted(s) for i, s in seen.items()} == {
        i: list(range(0, n, 3)) for i, n in enumerate(lengths)}


def _grads(model, batch) -> list[torch.Tensor]:
    model.zero_grad()
    loss, _, _ = task.loss(model, batch, None)
    loss.backward()
    return [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_truncated_bptt_equals_whole_clip_bptt_when_the_chunk_covers_the_clip(tiny_config):
    config = tiny_config(bidirectional=False, stream=True, train_cfg={"bptt": 17})
    data = task.prepare(config, Source("builtin"), None)
    chunks = data.split("train")
    assert isinstance(chunks, ChunkBatches)
    batch = next(iter(chunks.epoch(0)))
    assert batch["reset"].all()
    torch.manual_seed(0)
    model = build_tagger(config, len(data.assets.tags))
    collate = Collate(config, data.assets, 0, augment=True)  # as the train split
    whole = collate([chunks.examples[i] for i in batch["index"].tolist()])
    assert torch.equal(whole["frames"], batch["frames"])
    for a, b in zip(_grads(model, batch), _grads(model, whole)):
        assert torch.allclose(a, b, atol=1e-6)


def _peak_saved_bytes(config, min_frames: int, max_frames: int) -> int:
    """The most bytes autograd keeps for backward in one training step of an epoch."""
    config = dataclasses.replace(config, clips=dataclasses.replace(
        config.clips, train_clips=3, min_frames=min_frames, max_frames=max_frames))
    data = task.prepare(config, Source("builtin"), None)
    torch.manual_seed(0)
    model = build_tagger(config, len(data.assets.tags))
    peak, state = 0, None
    for batch in data.split("train").epoch(0):
        saved = []

        def pack(tensor):
            saved.append(tensor.numel() * tensor.element_size())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss, _, state = task.loss(model, batch, state)
        loss.backward()
        state = tuple(s.detach() for s in state)
        peak = max(peak, sum(saved))
    return peak


def test_streamed_training_memory_stays_flat_as_clips_grow(tiny_config):
    stream = tiny_config(bidirectional=False, stream=True, train_cfg={"bptt": 8})
    short, long = _peak_saved_bytes(stream, 40, 40), _peak_saved_bytes(stream, 160, 160)
    assert long <= short * 1.05, f"streamed: {short} bytes at 40 frames, {long} at 160"
    whole = tiny_config(bidirectional=False)
    short, long = _peak_saved_bytes(whole, 40, 40), _peak_saved_bytes(whole, 160, 160)
    assert long > short * 3, "whole-clip BPTT should grow with the clip (the probe works)"


@pytest.mark.parametrize("mirror", [False, True])
def test_frozen_backbone_features_are_cached(tiny_config, mirror):
    config = tiny_config(freeze_backbone=True, mirror=mirror)
    data = task.prepare(config, Source("builtin"), None)
    torch.manual_seed(0)
    model = build_tagger(config, len(data.assets.tags))
    calls = []
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda *args: calls.append(1))
    batch = next(iter(data.split("train").epoch(0)))
    model.eval()
    first, _ = model(batch["frames"], batch["lengths"], keys=batch["keys"])
    views = 2 if mirror else 1  # a mirror image is cached apart from its clip
    assert len(calls) == 3 * views  # one call per clip, then cached
    again, _ = model(batch["frames"], batch["lengths"], keys=batch["keys"])
    assert len(calls) == 3 * views and torch.allclose(first, again)
    uncached, _ = model(batch["frames"], batch["lengths"])
    assert torch.allclose(first, uncached, atol=1e-5)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(".body." in n for n in frozen)
    # the position-keeping projection over the whole grid learns on top of the frozen body
    assert not frozen & {n for n, _ in model.named_parameters() if ".project." in n}
    assert model.encoder.frontend.frames.grid == (3, 3)  # 24x24 frames, three stride-2 stages


def test_streamed_chunks_of_builtin_clips_join_into_the_whole_clips(tiny_config):
    config = tiny_config(bidirectional=False, stream=True, train_cfg={"bptt": 4})
    data = task.prepare(config, Source("builtin"), None)
    chunks, rows = data.split("train"), {}
    for batch in chunks.epoch(0):
        for lane, number in enumerate(batch["index"].tolist()):
            if number >= 0:
                count = int(batch["lengths"][lane])
                assert bool(batch["reset"][lane]) == (number not in rows)
                rows.setdefault(number, []).append(batch["frames"][lane, :count])
    assert sorted(rows) == list(range(len(chunks.examples)))
    collate = Collate(config, data.assets, 0, augment=True)  # as the train split
    for number, pieces in rows.items():
        assert torch.equal(torch.cat(pieces), collate([chunks.examples[number]])["frames"][0])


def test_training_clips_show_shuffled_colours_the_same_way_every_epoch(tiny_config):
    config = tiny_config(colour_shuffle=0.5)
    data = task.prepare(config, Source("builtin"), None)
    train, valid = data.split("train"), data.split("valid")
    items = train.examples[:13]
    plain = Collate(config, data.assets, 0)(items)
    shown = Collate(config, data.assets, 0, augment=True)(items)
    assert torch.equal(shown["targets"], plain["targets"])  # the tags do not change
    changed = [not torch.equal(a, b) for a, b in zip(shown["frames"], plain["frames"])]
    assert 2 <= sum(changed) <= 11, changed  # about half the clips, not all, not none
    for row in range(13):  # the same pixels, their channels in another order
        assert torch.equal(shown["frames"][row].sort(1).values,
                           plain["frames"][row].sort(1).values)
    again = Collate(config, data.assets, 0, augment=True)(items)
    assert torch.equal(again["frames"], shown["frames"])  # a resumed run sees the same
    # the cached rendering is never changed by the shuffle, and only training is shuffled
    assert torch.equal(Collate(config, data.assets, 0)(items)["frames"], plain["frames"])
    first = next(iter(valid.epoch(0)))
    assert torch.equal(first["frames"], Collate(config, data.assets, 0)(
        [valid.examples[i] for i in first["index"].tolist()])["frames"])
    off = Collate(dataclasses.replace(config, colour_shuffle=0.0), data.assets, 0, augment=True)
    assert torch.equal(off(items)["frames"], plain["frames"])


def test_motion_adds_each_frames_change_since_the_one_before(tiny_config):
    torch.manual_seed(0)
    model = build_tagger(tiny_config(motion=True), 5).eval()
    clips, lengths = _clips(batch=2, steps=6, side=24), torch.tensor([6, 4])
    plain, _ = model.encoder.frontend((clips, None), lengths)  # the CNN's features (B, T, F)
    features, last = with_motion(plain, lengths, None)
    width = plain.size(-1)
    assert features.shape == (2, 6, 2 * width)
    assert torch.equal(features[..., :width], plain)
    assert torch.allclose(features[:, 1:, width:], plain[:, 1:] - plain[:, :-1])
    assert torch.equal(features[:, 0, width:], plain[:, 0])  # before the first frame: zeros
    assert torch.equal(last, torch.stack([plain[0, 5], plain[1, 3]]))  # the last real frames
    # the next chunk starts from the carried features; a row without frames keeps them
    more, _ = model.encoder.frontend((clips, None), torch.tensor([6, 4]))
    features, carried = with_motion(more, torch.tensor([3, 0]), last)
    assert torch.allclose(features[0, 0, width:], more[0, 0] - last[0])
    assert torch.equal(carried[1], last[1]) and torch.equal(carried[0], more[0, 2])
    _, nothing = with_motion(more, torch.tensor([3, 0]), None)  # a first chunk without frames
    assert not nothing[1].any()
    # the RNN reads both halves; without motion, the features alone
    assert model.encoder.rnn.rnn.input_size == 2 * width
    assert build_tagger(tiny_config(motion=False), 5).encoder.rnn.rnn.input_size == width


def test_the_config_adds_the_keypoints_to_the_frame_features(tiny_config):
    frames = build_tagger(tiny_config(keypoints=True), 5).encoder.frontend.frames
    channels, grid = frames.body[-1][0].out_channels, frames.grid[0] * frames.grid[1]
    assert frames.keypoints and frames.project[0].in_features == channels * (grid + 2)
    plain = build_tagger(tiny_config(keypoints=False), 5).encoder.frontend.frames
    assert not plain.keypoints and plain.project[0].in_features == channels * grid


def test_mirror_averages_the_clip_and_its_mirror_image_when_evaluating(tiny_config):
    torch.manual_seed(0)
    plain = build_tagger(tiny_config(frame_size=23, mirror=False), 5).eval()
    mirror = build_tagger(tiny_config(frame_size=23, mirror=True), 5).eval()
    mirror.load_state_dict(plain.state_dict())
    clips, lengths = _clips(steps=6, side=23), torch.tensor([6, 3, 5])
    logits, state = mirror(clips, lengths)
    views = [plain(c, lengths)[0].softmax(-1) for c in (clips, clips.flip(-1))]
    mask = torch.arange(6)[None, :] < lengths[:, None]
    assert torch.allclose(logits.softmax(-1)[mask], ((views[0] + views[1]) / 2)[mask], atol=1e-5)
    assert not torch.allclose(views[0][mask], views[1][mask], atol=1e-3)  # the views differ
    # either way round the clip gets the same tags; training sees the frames as they are
    assert torch.allclose(mirror(clips.flip(-1), lengths)[0][mask], logits[mask], atol=1e-5)
    assert state[0].size(0) == 6  # the mirrored views' rows follow the clips'
    assert torch.equal(mirror.train()(clips, lengths)[0], plain.train()(clips, lengths)[0])


def test_mirror_streams_chunk_by_chunk_like_the_whole_clip(tiny_config):
    config = tiny_config(bidirectional=False, mirror=True, multilabel=True)
    torch.manual_seed(0)
    model = build_tagger(config, 4).eval()
    clips, lengths = _clips(batch=2, steps=8, side=24), torch.tensor([8, 8])
    whole, _ = model(clips, lengths)
    state, pieces = None, []
    for start in range(0, 8, 3):
        piece = clips[:, start: start + 3]
        logits, state = model(piece, torch.full((2,), piece.size(1)), state,
                              torch.full((2,), start == 0))
        pieces.append(logits)
    assert torch.allclose(torch.cat(pieces, 1), whole, atol=1e-4)
    plain = dataclasses.replace(config, mirror=False)
    alone = build_tagger(plain, 4).eval()
    alone.load_state_dict(model.state_dict())
    views = [alone(c, lengths)[0].sigmoid() for c in (clips, clips.flip(-1))]
    assert torch.allclose(whole.sigmoid(), (views[0] + views[1]) / 2, atol=1e-5)
