"""Speed of the attending decoder: one decoding step, a teacher-forced training pass, and a
batched beam search, on the CPU.

Three shapes: the captioner's default decoder (1-layer LSTM, 256 units, gated additive
attention over a 16-cell grid of 128 features), and two translation-like ones (2-layer LSTM and
GRU, 256 units, attention over 23 source positions of a 512-wide bidirectional memory, 1,000
words). For each: the median time of

- ``step``: one ``Decoder.step`` for ``rows`` rows (3: one input's beams; 96: 32 inputs x 3);
- ``train``: forward and backward of a 13-step teacher-forced decode for 32 targets;
- ``beam``: a 3-wide beam search of exactly ``--words`` steps (``<eos>`` banned) for 1 and
  for 32 inputs.

Times are the process's CPU time by default (``--clock wall`` for elapsed time): on a shared
machine other processes pre-empt this one, which inflates the wall clock at random.

The script runs on the code it imports. To time an older version of the core, put an export of
it first on the path (it falls back to that version's API where the current one is missing)::

    python benchmarks/seq2seq_speed.py --threads 1
    git archive OLD seqkit | tar -x -C /tmp/old && PYTHONPATH=/tmp/old \\
        python benchmarks/seq2seq_speed.py --threads 1

Prints progress to stderr and one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, log, machine_info  # noqa: E402

SHAPES = {  # name: decoder and memory sizes
    "caption_lstm1": dict(vocab=31, embed=64, hidden=256, layers=1, cell="lstm", memory=128,
                          positions=16, attention_size=128, gate=True, feeding=False),
    "translate_lstm2": dict(vocab=1000, embed=256, hidden=256, layers=2, cell="lstm",
                            memory=512, positions=23, attention_size=256, gate=False,
                            feeding=True),
    "translate_gru2": dict(vocab=1000, embed=256, hidden=256, layers=2, cell="gru",
                           memory=512, positions=23, attention_size=256, gate=False,
                           feeding=True),
}
EOS, BOS, BEAM, TRAIN_BATCH, TRAIN_STEPS = 1, 2, 3, 32, 13


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["cpu"]  # set from --clock


def median_ms(fn, repeats: int, warmup: int = 2) -> float:
    """Median time of ``fn()`` in milliseconds over ``repeats`` calls after a warm-up, on the
    chosen clock: the process's CPU time by default, which other processes on a shared
    machine disturb far less than the wall clock (with one thread it is the work done)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = clock()
        fn()
        times.append(clock() - start)
    return round(statistics.median(times) * 1e3, 3)


def build(shape: dict):
    """The decoder of ``shape`` (eval mode, ``<eos>`` banned) and a memory factory."""
    from seqkit.decoder import Decoder
    from seqkit.encoder import Memory

    decoder = Decoder(shape["vocab"], shape["embed"], shape["hidden"], shape["layers"],
                      shape["cell"], attention="bahdanau", memory_size=shape["memory"],
                      attention_size=shape["attention_size"], input_feeding=shape["feeding"],
                      gate=shape["gate"]).eval()
    with torch.no_grad():
        decoder.output.bias[EOS] = -1e4  # every search runs its full length

    def memory(rows: int):
        features = torch.randn(rows, shape["positions"], shape["memory"])
        return Memory(features, torch.ones(rows, shape["positions"], dtype=torch.bool))

    return decoder, memory


def new_api() -> bool:
    """Whether the imported core keeps the memory out of the decoder state (``prepare``), as
    since ``Seq2Seq`` (else: the older API, the memory inside the state)."""
    from seqkit.decoder import Decoder

    return hasattr(Decoder, "prepare")


def step_timer(decoder, memory, rows: int):
    """A zero-argument function running one decoding step for ``rows`` rows."""
    from seqkit.decoding import _decoding

    tokens = torch.randint(3, decoder.embed.num_embeddings, (rows,))
    mem = memory(rows)
    if new_api():
        prepared = decoder.prepare(mem)
        state = decoder.start(mem)
        return _decoding(lambda: decoder.step(tokens, state, prepared))
    state = decoder.start(mem)
    return _decoding(lambda: decoder.step(tokens, state))


def train_timer(decoder, memory):
    """Forward and backward of a teacher-forced decode of 32 targets of 13 steps."""
    tokens = torch.randint(3, decoder.embed.num_embeddings, (TRAIN_BATCH, TRAIN_STEPS))
    mem = memory(TRAIN_BATCH)

    def run():
        decoder.train()
        logits = decoder(tokens, memory=mem)[0]
        logits.float().logsumexp(-1).mean().backward()
        decoder.zero_grad(set_to_none=True)
        decoder.eval()

    return run


def beam_timer(decoder, memory, inputs: int, words: int):
    """A 3-wide beam search of ``words`` steps for ``inputs`` inputs."""
    from seqkit.decoding import beam_best

    mem = memory(inputs)
    start = torch.full((inputs,), BOS, dtype=torch.long)
    if "memory" in inspect.signature(beam_best).parameters:
        return lambda: beam_best(decoder.step, decoder.start(mem), start, EOS, BEAM, words,
                                 memory=decoder.prepare(mem))
    return lambda: beam_best(decoder.step, decoder.start(mem), start, EOS, BEAM, words)


def measure(name: str, shape: dict, words: int, repeats: int) -> dict:
    """Every timing of one shape."""
    torch.manual_seed(0)
    decoder, memory = build(shape)
    result = {}
    for rows in (BEAM, 32 * BEAM):
        result[f"step_ms_rows{rows}"] = median_ms(step_timer(decoder, memory, rows),
                                                  repeats * 5)
    result["train_ms_batch32"] = median_ms(train_timer(decoder, memory), max(repeats // 2, 3))
    for inputs in (1, 32):
        result[f"beam_ms_inputs{inputs}"] = median_ms(beam_timer(decoder, memory, inputs,
                                                                 words), repeats)
    log(name, result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per measure")
    parser.add_argument("--words", type=int, default=16, help="steps of each beam search")
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated shapes")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: the process's CPU time (default); wall: elapsed time")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    import seqkit

    log(f"seqkit from {Path(seqkit.__file__).parent}, "
        f"{'Seq2Seq' if new_api() else 'pre-Seq2Seq'} API")
    results = {name: measure(name, SHAPES[name], args.words, args.repeats)
               for name in args.shapes.split(",")}
    emit({"results": results, "api": "seq2seq" if new_api() else "pre-seq2seq",
          "seqkit_path": str(Path(seqkit.__file__).parent), "words": args.words,
          "clock": args.clock, "beam": BEAM, "repeats": args.repeats, **machine_info()})


if __name__ == "__main__":
    main()
