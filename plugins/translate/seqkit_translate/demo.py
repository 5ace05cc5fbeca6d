"""The Gradio demo of the translate task: type a sentence (or a word, for G2P), pick a beam
size; read the translation, the n-best list with scores, and the attention heatmap (source
tokens across, target tokens down). gradio is imported only inside ``build_demo``.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from PIL import Image

from seqkit.demo import shows_errors
from seqkit.rundir import Run, read_metrics
from seqkit_translate.inference import Translation, translate

API_NAME = "translate"  # ``client.predict(text, beam, api_name="/translate")``
NBEST = 5  # hypotheses shown (the beam is raised to this for the list)
MAX_BEAM = 12  # the slider's top


def heatmap_image(result: Translation) -> Image.Image:
    """The attention weights ``(target, source)`` as an image, tokens on the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = result.attention.numpy() if result.attention is not None else np.zeros((0, 0))
    if weights.size == 0:  # nothing was generated: an empty row over the source
        weights = np.zeros((1, max(len(result.source_tokens), 1)))
    rows, cols = weights.shape
    figure = Figure(figsize=(min(2 + 0.45 * cols, 12), min(1.5 + 0.4 * rows, 10)), dpi=100)
    axes = figure.add_subplot()
    axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(cols), result.source_tokens[:cols], rotation=60, fontsize=9)
    axes.set_yticks(range(rows), result.target_tokens[:rows] or [""], fontsize=9)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def nbest_rows(result: Translation) -> list[list]:
    """The n-best list as table rows ``[rank, score, text]``."""
    return [[rank, round(score, 4), text] for rank, (text, score) in
            enumerate(result.nbest, start=1)]


def translate_text(run: Run, text: str | None, beam: float = 5):
    """The callback: ``(translation, n-best rows, heatmap, notes)``; a note names any input
    symbol the vocabulary lacks (read as ``<unk>``)."""
    if not text or not text.strip():
        raise ValueError("type a sentence to translate first")
    beam = int(beam)
    result = translate(run, [text], beam=beam, nbest=min(NBEST, beam), attention=True)[0]
    note = ""
    if result.unknown:
        note = f"Not in the vocabulary (read as <unk>): {' '.join(result.unknown)}"
    return result.text, nbest_rows(result), heatmap_image(result), note


def _header(run: Run) -> str:
    lines = [f"# seqkit · {run.task.name}: {run.task.description}",
             f"Run dir: `{run.path}`. Type a sentence and translate it; the heatmap shows "
             "where each output token looked."]
    metrics = read_metrics(run.path)  # {} for a run without them: it still demos
    scores = [f"{name} **{metrics[key]:.3g}**" for key, name in
              (("test_bleu", "BLEU"), ("test_chrf", "chrF"), ("test_wer", "WER"),
               ("test_per", "PER"), ("test_exact_match", "exact match"))
              if isinstance(metrics.get(key), (int, float))]
    if scores:
        lines.append("On the test split: " + ", ".join(scores) + ".")
    return "\n\n".join(lines)


def build_demo(run: Run):
    """The ``gradio.Blocks`` app of a trained translate run."""
    import gradio as gr

    example = "tomato" if not run.config.src and not run.assets.source.unknown("tomato") else ""
    with gr.Blocks(title=f"seqkit {run.task.name} demo") as demo:
        gr.Markdown(_header(run))
        with gr.Row():
            with gr.Column(scale=2):
                text = gr.Textbox(label="Source", value=example, lines=2, elem_id="source")
                beam = gr.Slider(1, MAX_BEAM, value=min(run.config.beam, MAX_BEAM), step=1,
                                 label="Beam size (1: greedy)", elem_id="beam")
                button = gr.Button("Translate", variant="primary", elem_id="translate-button")
            with gr.Column(scale=3):
                output = gr.Textbox(label="Translation", interactive=False,
                                    elem_id="translation")
                notes = gr.Markdown(elem_id="notes")
                nbest = gr.Dataframe(headers=["rank", "score", "translation"],
                                     label="n-best (score: log-probability / length penalty)",
                                     interactive=False, elem_id="nbest")
                heatmap = gr.Image(label="Attention (output x source)", type="pil",
                                   format="png", elem_id="heatmap")
        callback = shows_errors(partial(translate_text, run))
        outputs = [output, nbest, heatmap, notes]
        button.click(callback, inputs=[text, beam], outputs=outputs, api_name=API_NAME)
        text.submit(callback, inputs=[text, beam], outputs=outputs, api_visibility="private")
    return demo
