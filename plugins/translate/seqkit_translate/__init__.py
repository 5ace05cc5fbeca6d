"""seqkit-translate: translation and grapheme-to-phoneme conversion with a bidirectional RNN
encoder, an attending decoder (Bahdanau, Luong-dot or Luong-general) and batched beam search.

Train with ``seqkit train --task translate --out runs/g2p`` (built-in: CMU Pronouncing
Dictionary, spelling -> phonemes) or on parallel text
(``--data ../shared/data/multi30k --src de --tgt en``); use a trained run from Python::

    import seqkit
    from seqkit_translate import translate
    run = seqkit.load("runs/g2p")
    print(translate(run, ["tomato"], beam=5)[0].text)
"""
from seqkit_translate.config import G2PConfig, TranslateConfig
from seqkit_translate.inference import PredictOptions, Translation, translate
from seqkit_translate.model import DotAttention, TranslateModel
from seqkit_translate.sources import PairSet, g2p_pairs
from seqkit_translate.task import exact_match, scores, task
from seqkit_translate.vocab import TranslateAssets

__all__ = ["DotAttention", "G2PConfig", "PairSet", "PredictOptions", "TranslateAssets",
           "TranslateConfig", "TranslateModel", "Translation", "exact_match", "g2p_pairs",
           "scores", "task", "translate"]
