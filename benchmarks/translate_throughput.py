"""Translate training speed: seqkit's training step against a plain PyTorch loop, same model.

The model is the translate task's default: a 128-wide embedding, a bidirectional LSTM encoder
of 128 units per direction, a learnt bridge from its final states, an LSTM decoder of 256 units
with Luong-general attention and input feeding, label smoothing 0.1 (dropout 0 on both sides,
so that both compute the same function). The data is the built-in CMUdict G2P task in
token-budget batches (2,000 tokens). Both sides read the same batches in the same order.

seqkit trains through ``Trainer.step`` (the body of ``fit()``: the task's loss, clipping,
optimiser and schedule); the plain side is ``nn.LSTM`` over packed sequences, an
``nn.LSTMCell`` loop and ``F.cross_entropy``, with Adam and the same clipping. The two sides
alternate every ``--block`` steps and each is timed only while it runs, so that other work on
the machine slows both alike; the first block of each is an untimed warm-up. Target tokens per
second count the tokens each step trained on (``<eos>`` included, ``<bos>`` not).

    python benchmarks/translate_throughput.py --max-steps 200

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, machine_info  # noqa: E402

from seqkit.data import Source  # noqa: E402
from seqkit.train import Trainer  # noqa: E402
from seqkit_translate import G2PConfig, TranslateConfig, task  # noqa: E402


class PlainSeq2Seq(nn.Module):
    """The same architecture written directly in PyTorch."""

    def __init__(self, src_vocab: int, tgt_vocab: int, embed: int, enc: int, hidden: int,
                 smoothing: float):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, embed, padding_idx=0)
        self.encoder = nn.LSTM(embed, enc, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(4 * enc, 2 * hidden)  # (h, c) of both directions -> (h, c)
        self.tgt_embed = nn.Embedding(tgt_vocab, embed, padding_idx=0)
        self.cell = nn.LSTMCell(embed + hidden, hidden)
        self.key = nn.Linear(2 * enc, hidden, bias=False)
        self.combine = nn.Linear(hidden + 2 * enc, hidden)
        self.out = nn.Linear(hidden, tgt_vocab)
        self.smoothing = smoothing

    def forward(self, src, src_lengths, tgt) -> torch.Tensor:
        """Mean label-smoothed cross-entropy of ``tgt (N, T+1)`` given ``src (N, S)``."""
        packed = pack_padded_sequence(self.src_embed(src), src_lengths, batch_first=True,
                                      enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))
        mask = torch.arange(src.size(1)).unsqueeze(0) < src_lengths.unsqueeze(1)
        summary = torch.cat([h.transpose(0, 1).flatten(1), c.transpose(0, 1).flatten(1)], 1)
        h, c = torch.tanh(self.bridge(summary)).chunk(2, -1)
        keys = self.key(memory)  # (N, S, H)
        feed = memory.new_zeros(src.size(0), h.size(1))
        inputs = self.tgt_embed(tgt[:, :-1])
        outputs = []
        for t in range(inputs.size(1)):
            h, c = self.cell(torch.cat([inputs[:, t], feed], -1), (h, c))
            scores = torch.bmm(keys, h.unsqueeze(2)).squeeze(2).masked_fill(~mask, -1e9)
            context = torch.bmm(scores.softmax(-1).unsqueeze(1), memory).squeeze(1)
            feed = torch.tanh(self.combine(torch.cat([h, context], -1)))
            outputs.append(feed)
        logits = self.out(torch.stack(outputs, 1))
        return F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten(), ignore_index=0,
                               label_smoothing=self.smoothing)


def config(steps: int) -> TranslateConfig:
    """The default translate model without dropout, on full CMUdict, for ``steps`` steps."""
    base = TranslateConfig(dropout=0.0, g2p=G2PConfig())
    return dataclasses.replace(base, train=dataclasses.replace(
        base.train, max_steps=steps, schedule="constant", warmup_steps=0, threads=1))


def main() -> None:
    """Alternate the two sides in blocks and print one JSON result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--block", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = config(args.max_steps)
    data = task.prepare(cfg, Source("builtin"), None)
    model = task.build_model(cfg, data.assets)
    assets = data.assets
    assert assets.source.pad_id == 0 and assets.target.pad_id == 0
    plain = PlainSeq2Seq(assets.source.vocab_size, assets.target.vocab_size, cfg.embed_size,
                         cfg.encoder_size, cfg.hidden_size, cfg.label_smoothing)
    optimizer = torch.optim.Adam(plain.parameters(), lr=cfg.train.lr)
    out = tempfile.TemporaryDirectory()
    trainer = Trainer(task, cfg, data, model, Path(out.name))
    load_start = [round(x, 2) for x in os.getloadavg()]
    batches = data.split("train").epoch(0)
    timed = {"seqkit": [0.0, 0], "plain": [0.0, 0]}
    for first in range(0, args.max_steps, args.block):
        block = [next(batches) for _ in range(min(args.block, args.max_steps - first))]
        count = first > 0
        started = time.perf_counter()
        for batch in block:
            _, items = trainer.step(batch)
            timed["seqkit"][1] += items * count
        timed["seqkit"][0] += (time.perf_counter() - started) * count
        started = time.perf_counter()
        for batch in block:
            loss = plain(batch.src, batch.src_lengths, batch.tgt)
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(plain.parameters(), cfg.train.clip)
            optimizer.step()
            timed["plain"][1] += int((batch.tgt[:, 1:] != 0).sum()) * count
        timed["plain"][0] += (time.perf_counter() - started) * count
        log(f"step {first + len(block)}: seqkit {timed['seqkit'][1] / max(timed['seqkit'][0], 1e-9):.0f}"
            f" tok/s, plain {timed['plain'][1] / max(timed['plain'][0], 1e-9):.0f} tok/s")
    result = {"benchmark": "translate training throughput", "steps": args.max_steps,
              "block": args.block, "load_start": load_start,
              "load_end": [round(x, 2) for x in os.getloadavg()]}
    for side, (seconds, tokens) in timed.items():
        result[f"{side}_target_tokens_per_s"] = tokens / max(seconds, 1e-9)
    result["speedup"] = result["seqkit_target_tokens_per_s"] / result["plain_target_tokens_per_s"]
    emit({**result, **machine_info()})


if __name__ == "__main__":
    main()
