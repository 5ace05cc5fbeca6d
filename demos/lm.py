"""Gradio demo of the word-level language model (``lm``), Hugging Face Spaces style.

    python demos/lm.py [RUN_DIR] [--host 127.0.0.1] [--port 7860] [--train-time 60]

Without RUN_DIR it first trains a small model on the built-in grammar corpus (cached in
``$SEQKIT_CACHE``, default ~/.cache/seqkit) and serves that.
"""
import seqkit.demo

if __name__ == "__main__":
    seqkit.demo.main("lm")
