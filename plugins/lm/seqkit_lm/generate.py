"""Text generation with a trained language model: sampling and the next-token distribution."""
from __future__ import annotations

import torch

from seqkit.decoder import Decoder
from seqkit.decoding import sample
from seqkit.fast_step import FastLSTMStep
from seqkit.tokenizers import EOS, TextTokenizer


def prompt_ids(tokenizer: TextTokenizer, prompt: str, level: str) -> list[int]:
    """Ids of ``prompt``; an empty prompt starts a new line (``<eos>`` or ``\\n``)."""
    if level == "word":
        lines = prompt.split("\n")
        ids = [tokenizer.eos_id]  # every line of the training text followed an <eos>
        for i, line in enumerate(lines):
            ids += tokenizer.encode(line) + ([tokenizer.eos_id] if i < len(lines) - 1 else [])
        return ids
    return tokenizer.encode("\n" + prompt)


def _prefill(model: Decoder, ids: list[int]):
    """Run the model over all prompt ids but the last; return the state and the last id."""
    device = next(model.parameters()).device
    tokens = torch.tensor([ids], device=device)
    state = None
    if len(ids) > 1:
        _, state = model(tokens[:, :-1])
    return state, tokens[:, -1]


def to_text(tokenizer: TextTokenizer, ids: list[int], level: str) -> str:
    """Render ids as text: for words, ``<eos>`` becomes a line break."""
    text = tokenizer.decode(ids)
    if level == "word":
        text = text.replace(f" {EOS} ", "\n").replace(f" {EOS}", "\n").replace(f"{EOS} ", "\n")
        text = text.replace(EOS, "\n")
    return text


@torch.inference_mode()
def generate(model: Decoder, tokenizer: TextTokenizer, prompt: str, level: str,
             max_new: int = 50, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             seed: int = 0) -> str:
    """Continue ``prompt`` by ``max_new`` sampled tokens; returns only the continuation."""
    model.eval()
    state, last = _prefill(model, prompt_ids(tokenizer, prompt, level))
    generator = torch.Generator(device=last.device).manual_seed(seed)
    step = model.step
    if FastLSTMStep.supports(model):  # same function, about half the per-step cost at batch 1
        step = FastLSTMStep(model)
        state = step.state(state)
    new = sample(step, state, last, max_new, temperature=temperature, top_k=top_k,
                 top_p=top_p, generator=generator)
    text = to_text(tokenizer, new[0].tolist(), level)
    return (" " + text if level == "word" and prompt.strip() and not text.startswith("\n")
            else text)


@torch.inference_mode()
def next_token_probs(model: Decoder, tokenizer: TextTokenizer, prompt: str, level: str,
                     k: int = 10, temperature: float = 1.0) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``prompt`` and their probabilities."""
    model.eval()
    state, last = _prefill(model, prompt_ids(tokenizer, prompt, level))
    logits, _ = model.step(last, state)
    probs = torch.softmax(logits[0].float() / max(temperature, 1e-6), -1)
    top = probs.topk(min(k, probs.numel()))
    return [(tokenizer.id_to_token(i), p) for i, p in zip(top.indices.tolist(), top.values.tolist())]
