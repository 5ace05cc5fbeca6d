"""Gradio demo of frame-wise video tagging (``video``), Hugging Face Spaces style.

    python demos/video.py [RUN_DIR] [--host 127.0.0.1] [--port 7860] [--train-time 60]

Without RUN_DIR it first trains a small tagger on the built-in clips (cached in
``$SEQKIT_CACHE``, default ~/.cache/seqkit) and serves that. Upload a video or pick a built-in
clip, and read the tag timeline, the per-tag probabilities and the segments.
"""
import seqkit.demo

if __name__ == "__main__":
    seqkit.demo.main("video")
