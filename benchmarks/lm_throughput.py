"""Word-LM training speed: seqkit's training step against a plain fp32 PyTorch loop, same model.

The model is the small configuration of Zaremba, Sutskever & Vinyals (2014) on Penn Treebank:
a 10k-word embedding of width 200, two LSTM layers of 200 units, an untied output layer, no
dropout, truncated BPTT over 35 steps of 20 parallel streams, SGD with lr 1 and gradients
clipped to norm 5. Both sides start from the same weights and read the same token stream in
the same order; only the training code differs.

seqkit trains through ``Trainer.step`` (the body of ``fit()``: state repackaging, autocast,
the task's loss, clipping, optimiser and schedule) with the lm task's speed defaults (bf16
autocast, compile and threads as ``LMConfig`` sets them, unless overridden). The two sides
alternate every ``--block`` steps and each is timed only while it runs, so that other work on
the machine slows both alike. Tokens per second count the target tokens trained on, after the
first block, which both sides train untimed as a warm-up (kernel set-up, and compilation
with ``--compile``).

    python benchmarks/lm_throughput.py                  # one epoch each (1,327 steps)
    python benchmarks/lm_throughput.py --max-steps 200  # a quick check
    python benchmarks/lm_throughput.py --examples       # and pytorch/examples' loop, 3rd side

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, emit, log, machine_info, matmul_peak  # noqa: E402

from seqkit.data import Source  # noqa: E402
from seqkit.threads import set_threads  # noqa: E402
from seqkit.train import Trainer, evaluate  # noqa: E402
from seqkit_lm.config import LMConfig  # noqa: E402
from seqkit_lm.task import lm_task  # noqa: E402


def small_config(args) -> LMConfig:
    """LMConfig overridden to Zaremba et al.'s small model; the speed knobs come from ``args``."""
    base = LMConfig()
    train = dataclasses.replace(base.train, batch_size=20, bptt=35, optimizer="sgd", lr=1.0,
                                clip=5.0, schedule="constant", epochs=1,
                                max_steps=args.max_steps, log_every=100,
                                bf16=args.bf16, compile=args.compile, threads=args.threads)
    return dataclasses.replace(base, embed_size=200, hidden_size=200, num_layers=2, dropout=0.0,
                               tie_weights=False, max_vocab=0, train=train)


def matmul_flops_per_token(vocab: int, embed: int, hidden: int, layers: int) -> float:
    """Training FLOPs per token of the matrix multiplies, forward and backward.

    A weight matrix with P entries costs 2P FLOPs per token forward (a multiply and an add per
    entry) and 4P backward (the gradient with respect to its input and with respect to the
    weight, 2P each): 6P in all. The matrices are, per LSTM layer, the input and recurrent
    weights of the four gates, 4H x (I + H), and the output layer, V x H. The embedding is a
    lookup, and the gate nonlinearities, softmax and optimiser are O(H) or O(V) per token,
    small beside the O(H*V) output layer, so they are not counted.
    """
    lstm = sum(4 * hidden * ((embed if i == 0 else hidden) + hidden) for i in range(layers))
    return 6.0 * (lstm + vocab * hidden)


class ReferenceLM(nn.Module):
    """The standard word-language-model network: embedding -> LSTM stack -> linear."""

    def __init__(self, vocab: int, embed: int, hidden: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True)
        self.output = nn.Linear(hidden, vocab)

    def forward(self, tokens, hidden=None):
        outputs, hidden = self.lstm(self.embed(tokens), hidden)
        return self.output(outputs), hidden


def copy_weights(source: nn.Module, target: nn.Module) -> None:
    """Give ``target`` the parameters of ``source`` (same shapes in the same order)."""
    pairs = list(zip(source.parameters(), target.parameters()))
    if len(pairs) != len(list(target.parameters())) or any(a.shape != b.shape for a, b in pairs):
        raise SystemExit("the seqkit and reference models do not have the same parameters")
    with torch.no_grad():
        for a, b in pairs:
            b.copy_(a)


def chunks(ids: torch.Tensor, batch: int, bptt: int):
    """The stream cut into ``batch`` rows, read ``bptt`` steps at a time (batch-first)."""
    rows = (ids.numel() - 1) // batch
    inputs = ids[: rows * batch].view(batch, rows)
    targets = ids[1: rows * batch + 1].view(batch, rows)
    for start in range(0, rows, bptt):
        yield inputs[:, start:start + bptt], targets[:, start:start + bptt]


class ReferenceLoop:
    """The plain fp32 training loop, one step at a time (so it can be interleaved)."""

    def __init__(self, model: ReferenceLM, lr: float, clip: float):
        self.model, self.clip = model, clip
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.hidden = None
        model.train()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        if self.hidden is not None:  # repackage: keep the values, cut the graph
            self.hidden = tuple(h.detach() for h in self.hidden)
        logits, self.hidden = self.model(x, self.hidden)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        return loss.item()


class ExamplesLoop:
    """pytorch/examples ``word_language_model/main.py`` at its defaults, re-implemented here
    (the script is not installed on this machine): a sequence-first 2 x 200 LSTM over a
    200-wide embedding, dropout 0.2 on the embedding and on the LSTM output, log-softmax and
    NLL loss, gradients clipped at 0.25 and a hand-written SGD step at lr 20; encoder and
    decoder weights uniform(-0.1, 0.1). It runs at torch's default thread count, as that
    script does."""

    def __init__(self, vocab: int, threads: int):
        self.threads, self.hidden = threads, None
        self.embed, self.drop = nn.Embedding(vocab, 200), nn.Dropout(0.2)
        self.lstm, self.output = nn.LSTM(200, 200, 2, dropout=0.2), nn.Linear(200, vocab)
        self.model = nn.ModuleList([self.embed, self.lstm, self.output])
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)
        nn.init.uniform_(self.output.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)
        self.model.train()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """One step on batch-first ``x, y (B, T)``, read sequence-first as the script does."""
        x, y = x.t().contiguous(), y.t().contiguous()  # (T, B)
        if self.hidden is not None:
            self.hidden = tuple(h.detach() for h in self.hidden)
        outputs, self.hidden = self.lstm(self.drop(self.embed(x)), self.hidden)
        logits = self.output(self.drop(outputs)).view(-1, self.output.out_features)
        loss = F.nll_loss(F.log_softmax(logits, dim=1), y.view(-1))
        self.model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 0.25)
        for p in self.model.parameters():
            p.data.add_(p.grad, alpha=-20.0)
        return loss.item()


@torch.no_grad()
def reference_ppl(model: ReferenceLM, ids: torch.Tensor, batch: int, bptt: int) -> float:
    """Validation perplexity in fp32, carrying the state across chunks."""
    model.eval()
    total, count, hidden = 0.0, 0, None
    for x, y in chunks(ids, batch, bptt):
        logits, hidden = model(x, hidden)
        total += F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1),
                                 reduction="sum").item()
        count += y.numel()
    return math.exp(total / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DATA / "ptb"), help="folder with ptb.*.txt")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="train N steps instead of one epoch (0: one full epoch)")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                        help="seqkit's bf16 autocast (default: LMConfig's default)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile seqkit's model (default: LMConfig's default)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for both sides (default: LMConfig's; 0: as fit())")
    parser.add_argument("--block", type=int, default=25,
                        help="alternate the two sides every N steps, so that load from other "
                             "processes slows both alike")
    parser.add_argument("--skip-reference", action="store_true", help="time seqkit only")
    parser.add_argument("--examples", action="store_true",
                        help="also time pytorch/examples word_language_model's loop at its "
                             "defaults (re-implemented; torch's default thread count)")
    parser.add_argument("--examples-threads", type=int, default=0,
                        help="threads for the examples loop (0: torch's default, as it runs)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="square matmul size")
    args = parser.parse_args()
    torch.manual_seed(0)
    defaults = LMConfig().train
    args.bf16 = defaults.bf16 if args.bf16 is None else args.bf16
    args.compile = defaults.compile if args.compile is None else args.compile
    args.threads = defaults.threads if args.threads is None else args.threads
    torch_default_threads = torch.get_num_threads()
    threads = set_threads(args.threads)  # 0: fit()'s choice for this machine (seqkit.threads)

    log("measuring the matmul peak")
    peak32 = matmul_peak(torch.float32, args.matmul_size)
    peak16 = matmul_peak(torch.bfloat16, args.matmul_size)
    log(f"peak fp32 {peak32 / 1e9:.1f} GFLOP/s, bf16 {peak16 / 1e9:.1f} GFLOP/s")

    config = small_config(args)
    folder = Path(args.data)
    torch.manual_seed(config.train.seed)
    data = lm_task.prepare(config, Source("folder", path=folder), None)
    tokenizer = data.assets
    model = lm_task.build_model(config, tokenizer)
    reference = ReferenceLM(tokenizer.vocab_size, 200, 200, 2)
    copy_weights(model, reference)  # both sides start from the same weights
    train = data.splits["train"]
    steps = min(args.max_steps or len(train), len(train))
    flops = matmul_flops_per_token(tokenizer.vocab_size, 200, 200, 2)

    log(f"{steps} steps each, in blocks of {args.block}; seqkit bf16={args.bf16} "
        f"compile={args.compile} threads={threads}")
    out = tempfile.TemporaryDirectory()
    trainer = Trainer(lm_task, config, data, model, Path(out.name))
    ours = train.epoch(0)
    theirs = chunks(_stream(train), 20, 35)
    loop = None if args.skip_reference else ReferenceLoop(reference, 1.0, 5.0)
    examples = None
    if args.examples:
        examples = ExamplesLoop(tokenizer.vocab_size,
                                args.examples_threads or torch_default_threads)
    their_chunks = chunks(_stream(train), 20, 35)
    seconds = ref_seconds = ex_seconds = 0.0
    tokens = 0
    for first in range(0, steps, args.block):
        block = [next(ours) for _ in range(min(args.block, steps - first))]
        timed = first > 0 or steps <= args.block  # the first block warms up (kernels, compile)
        started = time.perf_counter()
        for batch in block:
            loss, items = trainer.step(batch)
            tokens += items * timed
        seconds += (time.perf_counter() - started) * timed
        if loop is not None:
            started = time.perf_counter()
            for _ in block:
                ref_loss = loop.step(*next(theirs))
            ref_seconds += (time.perf_counter() - started) * timed
        if examples is not None:
            torch.set_num_threads(examples.threads)
            started = time.perf_counter()
            for _ in block:
                ex_loss = examples.step(*next(their_chunks))
            ex_seconds += (time.perf_counter() - started) * timed
            torch.set_num_threads(threads)
        if not timed:
            continue
        done = first + len(block)
        log(f"step {done}/{steps}: seqkit loss {loss:.3f} {tokens / seconds:.0f} tok/s"
            + ("" if loop is None else
               f"; reference loss {ref_loss:.3f} {tokens / ref_seconds:.0f} tok/s")
            + ("" if examples is None else
               f"; examples loss {ex_loss:.3f} {tokens / ex_seconds:.0f} tok/s"))
    out.cleanup()
    rate = tokens / seconds
    valid = evaluate(lm_task, model, data.splits["valid"], config, tokenizer)
    log(f"seqkit: {rate:.0f} tok/s, valid ppl {valid['ppl']:.2f}")
    result = {"tokens_per_s": round(rate, 1)}
    if loop is not None:
        ref_rate = tokens / ref_seconds
        ref_ppl = reference_ppl(reference, _stream(data.splits["valid"]),
                                config.eval_batch_size, 35)
        log(f"reference: {ref_rate:.0f} tok/s, valid ppl {ref_ppl:.2f}")
        result.update(reference_tokens_per_s=round(ref_rate, 1),
                      speedup=round(rate / ref_rate, 3))
    if examples is not None:
        result.update(examples_tokens_per_s=round(tokens / ex_seconds, 1),
                      examples_threads=examples.threads,
                      speedup_over_examples=round(ex_seconds / seconds, 3))
    # Other work on the machine can only lower a measured peak: keep the best of two looks.
    peak32 = max(peak32, matmul_peak(torch.float32, args.matmul_size))
    peak16 = max(peak16, matmul_peak(torch.bfloat16, args.matmul_size))
    log(f"peak (best of start and end) fp32 {peak32 / 1e9:.1f} GFLOP/s, "
        f"bf16 {peak16 / 1e9:.1f} GFLOP/s at {threads} threads")
    result["valid_ppl"] = round(valid["ppl"], 2)
    if not args.skip_reference:
        result["reference_valid_ppl"] = round(ref_ppl, 2)
        result["reference_mfu_fp32"] = round(ref_rate * flops / peak32, 4)
        result["reference_seconds"] = round(ref_seconds, 2)
    result.update(mfu_fp32=round(rate * flops / peak32, 4),
                  mfu_bf16=round(rate * flops / peak16, 4),
                  train_flops_per_token=flops, peak_fp32_gflops=round(peak32 / 1e9, 1),
                  peak_bf16_gflops=round(peak16 / 1e9, 1), steps=steps, tokens=tokens,
                  seconds=round(seconds, 2), bf16=args.bf16, compile=args.compile,
                  vocab=tokenizer.vocab_size,
                  **machine_info())
    emit(result)


def _stream(batches) -> torch.Tensor:
    """Rebuild the flat id stream that a split's ``StreamBatches`` was cut from."""
    rows = batches.inputs
    return torch.cat([rows.reshape(-1), batches.targets[-1, -1:]])


if __name__ == "__main__":
    main()
