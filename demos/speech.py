"""Gradio demo of speech recognition (``speech``), Hugging Face Spaces style.

    python demos/speech.py [RUN_DIR] [--host 127.0.0.1] [--port 7860] [--train-time 60]

Without RUN_DIR it first trains a small recogniser on the built-in eSpeak NG digits (cached in
``$SEQKIT_CACHE``, default ~/.cache/seqkit) and serves that. Upload a recording or speak into the
microphone; read the transcript, the log-mel spectrogram and the CTC alignment.
"""
import seqkit.demo

if __name__ == "__main__":
    seqkit.demo.main("speech")
