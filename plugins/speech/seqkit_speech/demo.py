"""The Gradio demo of the speech task: an uploaded file, or the microphone as a stream.

Upload: the transcript, the log-mel spectrogram with the frames that emitted each token
marked, and the alignment as text. Microphone: a partial transcript while you speak (a
left-to-right run streams chunk by chunk; a bidirectional one re-reads what it has heard), the
final one when you stop. gradio is imported only inside the functions that need it.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from PIL import Image

from seqkit.demo import shows_errors
from seqkit.errors import SeqkitError
from seqkit.rundir import Run, read_metrics
from seqkit_speech.inference import Recognizer, Transcript, transcribe

API_NAME = "transcribe"  # the upload endpoint: ``client.predict(file, api_name="/transcribe")``
STREAM_EVERY = 0.5  # seconds of microphone audio per streamed chunk


def spectrogram_image(result: Transcript) -> Image.Image:
    """The log-mel frames as an image (time left to right, low bands at the bottom), with a
    line and a label where each token was emitted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    feats = result.features.numpy().T  # (n_mels, T)
    hop = result.seconds / max(feats.shape[1], 1)
    figure = Figure(figsize=(8, 3), dpi=100)
    axes = figure.add_subplot()
    axes.imshow(feats, origin="lower", aspect="auto", cmap="magma",
                extent=(0, feats.shape[1] * hop, 0, feats.shape[0]))
    for emission in result.emissions:
        axes.axvline(emission.seconds, color="cyan", linewidth=0.8)
        axes.text(emission.seconds, feats.shape[0] * 0.92, emission.token, color="white",
                  fontsize=11, fontweight="bold")
    axes.set_xlabel("seconds")
    axes.set_ylabel("mel band")
    figure.tight_layout()
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def alignment_text(result: Transcript) -> str:
    """One line per emitted token: its time and its encoder frames."""
    return "\n".join(f"{e.seconds:6.2f} s  frames {e.first}-{e.last}  {e.token!r}"
                     for e in result.emissions)


def transcribe_file(run: Run, path: str | None):
    """The upload callback: ``(transcript, spectrogram, alignment)``. seqkit reads the file
    (not gradio), so a bad file is explained by name."""
    if not path:
        raise ValueError("upload an audio file (WAV, FLAC or OGG) first")
    from pathlib import Path

    result = transcribe(run, path, name=Path(path).name)
    return result.text, spectrogram_image(result), alignment_text(result)


def new_session() -> dict:
    """The per-visitor microphone state."""
    return {"recognizer": None, "heard": [], "rate": 0}


def listen(run: Run, chunk, session: dict | None):
    """The microphone callback: add a chunk ``(rate, samples)``, return the partial text."""
    session = session or new_session()
    if chunk is None:
        return "", session
    rate, samples = chunk
    if run.model.can_stream:
        if session["recognizer"] is None:
            session["recognizer"] = Recognizer(run)
        return session["recognizer"].feed(np.asarray(samples), int(rate)), session
    session["heard"].append(np.asarray(samples))
    session["rate"] = int(rate)
    heard = np.concatenate(session["heard"])
    try:
        text = transcribe(run, (session["rate"], heard), beam=1).text
    except SeqkitError:  # silence so far: nothing to say yet
        text = ""
    return text, session


def stop_listening(run: Run, text: str, session: dict | None):
    """When recording stops: the final transcript, and a fresh state for the next one."""
    session = session or new_session()
    if session["recognizer"] is not None:
        text = session["recognizer"].finish()
    elif session["heard"]:
        text = transcribe(run, (session["rate"], np.concatenate(session["heard"]))).text
    return text, new_session()


def _header(run: Run) -> str:
    lines = [f"# seqkit · {run.task.name}: {run.task.description}",
             f"Run dir: `{run.path}` ({'streams' if run.model.can_stream else 'offline'} "
             f"model, {run.config.sample_rate} Hz). Upload a recording, or speak into the "
             "microphone."]
    metrics = read_metrics(run.path)  # {} for a run without them: it still demos
    scores = [f"{name} **{metrics[key]:.1%}**" for key, name in
              (("test_accuracy", "accuracy"), ("test_wer", "WER"), ("test_cer", "CER"))
              if isinstance(metrics.get(key), (int, float))]
    if scores:
        lines.append("On the test split: " + ", ".join(scores) + ".")
    return "\n\n".join(lines)


def build_demo(run: Run):
    """The ``gradio.Blocks`` app of a trained speech run."""
    import gradio as gr

    with gr.Blocks(title=f"seqkit {run.task.name} demo") as demo:
        gr.Markdown(_header(run))
        with gr.Tab("Upload a file"):
            with gr.Row():
                with gr.Column(scale=2):
                    upload = gr.Audio(sources=["upload"], type="filepath", label="Recording",
                                      elem_id="upload")
                    button = gr.Button("Transcribe", variant="primary",
                                       elem_id="transcribe-button")
                with gr.Column(scale=3):
                    transcript = gr.Textbox(label="Transcript", interactive=False,
                                            elem_id="transcript")
                    spectrogram = gr.Image(label="Log-mel spectrogram and CTC emissions",
                                           type="pil", format="png", elem_id="spectrogram")
                    aligned = gr.Textbox(label="Alignment: which frames emitted what", lines=6,
                                         interactive=False, elem_id="alignment")
            button.click(shows_errors(partial(transcribe_file, run)), inputs=[upload],
                         outputs=[transcript, spectrogram, aligned], api_name=API_NAME)
        with gr.Tab("Microphone"):
            session = gr.State(new_session())
            mic = gr.Audio(sources=["microphone"], streaming=True, type="numpy",
                           label="Speak", elem_id="microphone")
            live = gr.Textbox(label="Transcript (partial while you speak)", interactive=False,
                              elem_id="live")
            mic.stream(shows_errors(partial(listen, run)), inputs=[mic, session],
                       outputs=[live, session], stream_every=STREAM_EVERY,
                       time_limit=run.config.max_seconds, api_name="listen")
            mic.stop_recording(shows_errors(partial(stop_listening, run)),
                               inputs=[live, session], outputs=[live, session],
                               api_name="stop_listening")
    return demo
