"""Gradio demo of image captioning (``caption``), Hugging Face Spaces style.

    python demos/caption.py [RUN_DIR] [--host 127.0.0.1] [--port 7860] [--train-time 60]

Without RUN_DIR it first trains a small captioner on the built-in scenes (cached in
``$SEQKIT_CACHE``, default ~/.cache/seqkit) and serves that. Upload an image or pick a scene,
choose a beam size, and read the caption with the attention map behind each word.
"""
import seqkit.demo

if __name__ == "__main__":
    seqkit.demo.main("caption")
