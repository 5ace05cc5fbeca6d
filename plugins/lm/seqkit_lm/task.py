"""The ``lm`` (word-level) and ``charlm`` (character-level) tasks.

A language model here is the core's ``Decoder`` with no memory, trained as a stream with
truncated BPTT: ``loss`` takes the carried state and returns the new one.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import partial

from seqkit.config import bounded
from seqkit.decoder import Decoder
from seqkit.task import Batches, Task
from seqkit.train import stream_evaluate
from seqkit.tokenizers import TextTokenizer
from seqkit_lm import data
from seqkit_lm.config import CharLMConfig, Level, LMConfig
from seqkit_lm.generate import generate


def build_model(config: LMConfig, tokenizer: TextTokenizer) -> Decoder:
    """Embedding -> LSTM/GRU stack -> output layer (tied to the embedding if configured)."""
    return Decoder(tokenizer.vocab_size, config.embed_size, config.hidden_size,
                   config.num_layers, config.cell, config.dropout, config.tie_weights,
                   pad_id=tokenizer.pad_id)


def loss(model: Decoder, batch, state):
    """Mean next-token cross-entropy of one chunk ``(inputs (B, t), targets (B, t))``.

    The decoder computes it from its output layer directly (``Decoder(..., targets=)``, the
    fused output layer and loss), never forming the ``(B, t, V)`` logits."""
    inputs, targets = batch
    value, state = model(inputs, state, targets=targets)
    return value, targets.numel(), state


def evaluate(model: Decoder, batches: Batches, config: LMConfig,
             tokenizer: TextTokenizer) -> dict[str, float]:
    """Loss in nats per token and perplexity over a whole split, carrying the state from chunk
    to chunk (the core's streaming loop), and the split's facts (floor perplexities)."""
    result = stream_evaluate(loss, model, batches)
    metrics = {"loss": result["loss"], "ppl": perplexity(result["loss"]), "tokens": result["items"]}
    metrics.update({k: float(v) for k, v in batches.facts.items()})
    return metrics


def perplexity(loss: float) -> float:
    """``exp(loss)``, infinite (not an ``OverflowError``) for a loss past what a float holds,
    as huge but finite weights can give."""
    return math.exp(loss) if loss < math.log(sys.float_info.max) else math.inf


def loss_floor(metrics: dict[str, float]) -> float | None:
    """The learning curve's reference line: the loss of the true model of the built-in
    grammar (its floor perplexity, in nats), where the data is that grammar."""
    return math.log(metrics["floor_ppl"]) if "floor_ppl" in metrics else None


@dataclass
class GenerateOptions:
    """Options of ``seqkit predict`` for language models."""

    prompt: str = ""  # text to continue (empty: start a new line)
    max_new: int = bounded(50, ">= 0")  # tokens to generate
    temperature: float = bounded(1.0, ">= 0")  # <1 sharper, >1 more random, 0 greedy
    top_k: int = bounded(0, ">= 0")  # sample among the k most likely tokens only (0: all)
    top_p: float = bounded(1.0, "(0, 1]")  # sample from the smallest set this likely (nucleus)
    seed: int = bounded(0, ">= 0")  # random seed of the sampler


def predict(run, options: GenerateOptions, level: Level) -> str:
    """The prompt and its sampled continuation; unknown prompt symbols are reported."""
    unknown = run.assets.unknown(options.prompt)
    if unknown:
        print(f"note: not in the vocabulary, read as <unk>: {' '.join(map(repr, unknown))}",
              file=sys.stderr)
    text = generate(run.model, run.assets, options.prompt, level, options.max_new,
                    options.temperature, options.top_k, options.top_p, options.seed)
    return options.prompt + text


def save_assets(tokenizer: TextTokenizer, folder) -> None:
    """The tokenizer is the only asset."""
    tokenizer.save(folder)


def _demo(run, level: Level):
    from seqkit_lm.demo import build_demo

    return build_demo(run, level)


def _task(name: str, level: Level, config: type, description: str) -> Task:
    return Task(name=name, description=description, config=config,
                prepare=partial(data.prepare, level=level), build_model=build_model, loss=loss,
                evaluate=evaluate, save_assets=save_assets, load_assets=TextTokenizer.load,
                predict=partial(predict, level=level), predict_options=GenerateOptions,
                demo=partial(_demo, level=level), streams=True, loss_floor=loss_floor)


lm_task = _task("lm", "word", LMConfig, "word-level language model (LSTM/GRU, truncated BPTT)")
charlm_task = _task("charlm", "char", CharLMConfig,
                    "character-level language model (LSTM/GRU, truncated BPTT)")
