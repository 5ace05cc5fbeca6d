"""Gradio demo of translation and grapheme-to-phoneme conversion (``translate``), Hugging Face
Spaces style.

    python demos/translate.py [RUN_DIR] [--host 127.0.0.1] [--port 7860] [--train-time 60]

Without RUN_DIR it first trains a small G2P model on the built-in CMU Pronouncing Dictionary
(cached in ``$SEQKIT_CACHE``, default ~/.cache/seqkit) and serves that; give a run trained on
parallel text (``seqkit train --task translate --data ... --src de --tgt en``) to translate
sentences. Type a sentence, pick a beam size; read the translation, the n-best list with its
scores, and the attention heatmap.
"""
import seqkit.demo

if __name__ == "__main__":
    seqkit.demo.main("translate")
