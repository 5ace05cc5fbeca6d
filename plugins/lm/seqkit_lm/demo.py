"""The Gradio demo of the language-model tasks: continue a prompt, show the next-token odds.

gradio (and pandas, which its plots take) is imported only inside the functions that need it,
so importing this module stays cheap and works without the ``demo`` extra.
"""
from __future__ import annotations

import math
from functools import partial

from seqkit.demo import shows_errors
from seqkit.rundir import Run, read_metrics
from seqkit.tokenizers import UNK
from seqkit_lm.config import Level
from seqkit_lm.generate import generate, next_token_probs

MAX_NEW = 200  # longest continuation the demo generates, in tokens
MAX_PROMPT = 2000  # longest prompt it reads, in characters
TOP_TOKENS = 10  # bars in the next-token chart
API_NAME = "generate"  # the endpoint gradio_client calls: ``client.predict(..., api_name=...)``
_SHOWN = {" ": "␣ (space)", "\n": "↵ (newline)", "\t": "⇥ (tab)"}  # invisible characters


def _check(prompt: str | None, temperature: float, top_k: float, length: float,
           seed: float) -> tuple[str, float, int, int, int]:
    """Validate the demo inputs; bad ones raise ``ValueError`` with a message for the user."""
    prompt = prompt or ""
    if len(prompt) > MAX_PROMPT:
        raise ValueError(f"the prompt is {len(prompt)} characters long; the demo reads at most "
                         f"{MAX_PROMPT}")
    for name, value in (("length", length), ("top-k", top_k), ("seed", seed)):
        if value is None or not math.isfinite(value) or float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, not {value}")
    if not 1 <= int(length) <= MAX_NEW:
        raise ValueError(f"length must be between 1 and {MAX_NEW} tokens, not {int(length)}")
    if top_k < 0:
        raise ValueError(f"top-k must be 0 (off) or more, not {int(top_k)}")
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be between 0 and 2**63 - 1, not {int(seed)}")
    if temperature is None or not 0 <= temperature <= 10:
        raise ValueError(f"temperature must be between 0 (greedy) and 10, not {temperature}")
    return prompt, float(temperature), int(top_k), int(length), int(seed)


def unknown_note(run: Run, prompt: str) -> str:
    """Markdown naming the prompt symbols that are not in the vocabulary (read as ``<unk>``)."""
    unknown = run.assets.unknown(prompt)
    if not unknown:
        return "Every prompt symbol is in the vocabulary."
    shown = ", ".join(f"`{_SHOWN.get(s, s).replace('`', '')}`" for s in unknown)
    return f"⚠️ Not in the vocabulary, read as `{UNK}`: {shown}"


def next_token_table(run: Run, level: Level, prompt: str, temperature: float):
    """A pandas DataFrame of the most likely next tokens (``token``, ``probability``)."""
    import pandas as pd

    pairs = next_token_probs(run.model, run.assets, prompt, level, TOP_TOKENS, temperature)
    return pd.DataFrame({"token": [_SHOWN.get(t, t) for t, _ in pairs],
                         "probability": [round(p, 4) for _, p in pairs]})


def continue_prompt(run: Run, level: Level, prompt: str | None, temperature: float,
                    top_k: float, length: float, seed: float = 0):
    """The demo's callback: (continuation, next-token DataFrame, note on unknown symbols)."""
    prompt, temperature, top_k, length, seed = _check(prompt, temperature, top_k, length, seed)
    text = generate(run.model, run.assets, prompt, level, max_new=length,
                    temperature=temperature, top_k=top_k, seed=seed)
    if level == "word":
        text = text.lstrip(" ")  # generate() puts a space after a word prompt
    table = next_token_table(run, level, prompt, temperature)
    return text, table, unknown_note(run, prompt)


def example_prompts(run: Run, count: int = 4) -> list[str]:
    """Sentence openings from the built-in grammar that the run's vocabulary knows."""
    from seqkit_lm.grammar import Grammar

    sentences = Grammar.builtin().sample_sentences(3 * count, seed=1)
    prompts = [" ".join(words[:3]) for words in sentences if len(words) > 3]
    return [p for p in dict.fromkeys(prompts) if not run.assets.unknown(p)][:count]


def _header(run: Run) -> str:
    """Markdown title and description: the task, the run dir, and its test metrics if any."""
    lines = [f"# seqkit · {run.task.name}: {run.task.description}",
             f"Run dir: `{run.path}`. Type a prompt and press **Generate**: the model continues "
             "it, and the chart shows its odds for the next token after the prompt."]
    metrics = read_metrics(run.path)  # {} for a run without them: it still demos
    ppl, floor = metrics.get("test_ppl"), metrics.get("test_floor_ppl")
    if isinstance(ppl, (int, float)):
        lines.append(f"Test perplexity **{ppl:.2f}**" + (
            f" (the grammar's own floor: {floor:.2f})." if isinstance(floor, (int, float))
            else "."))
    return "\n\n".join(lines)


def _controls(gr):
    """The input components: prompt, temperature, top-k, length, seed."""
    prompt = gr.Textbox(label="Prompt", lines=2, placeholder="the dog saw", elem_id="prompt")
    with gr.Row():
        temperature = gr.Slider(0, 2, value=0.8, step=0.05, label="Temperature",
                                info="0: always the likeliest token")
        top_k = gr.Slider(0, 50, value=0, step=1, label="Top-k", info="0: off")
        length = gr.Slider(1, MAX_NEW, value=30, step=1, label="Length",
                           info="tokens to generate")
        seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
    return prompt, temperature, top_k, length, seed


def build_demo(run: Run, level: Level):
    """The ``gradio.Blocks`` app of a trained language model (word or character level)."""
    import gradio as gr

    respond = shows_errors(partial(continue_prompt, run, level))
    with gr.Blocks(title=f"seqkit {run.task.name} demo") as demo:
        gr.Markdown(_header(run))
        with gr.Row():
            with gr.Column():
                inputs = _controls(gr)
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                output = gr.Textbox(label="Continuation", lines=6, interactive=False,
                                    elem_id="continuation")
                note = gr.Markdown(elem_id="unknown-note")
        chart = gr.BarPlot(x="token", y="probability", sort="-y", y_lim=[0, None],
                           label="Next token after the prompt (at this temperature)",
                           elem_id="next-token-chart")
        examples = example_prompts(run)
        if examples:
            gr.Examples([[p] for p in examples], inputs=inputs[0], label="Example prompts")
        button.click(respond, inputs=list(inputs), outputs=[output, chart, note],
                     api_name=API_NAME)
    return demo
