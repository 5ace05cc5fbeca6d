"""seqkit-lm: word- and character-level recurrent language models for seqkit.

Use it from Python::

    import seqkit
    run = seqkit.load("runs/lm")
    from seqkit_lm import generate
    print(generate(run.model, run.assets, "the cat", "word", max_new=20))
"""
from seqkit_lm.config import CharLMConfig, LMConfig
from seqkit_lm.generate import generate, next_token_probs
from seqkit_lm.task import GenerateOptions, charlm_task, lm_task

__all__ = ["CharLMConfig", "GenerateOptions", "LMConfig", "charlm_task", "generate", "lm_task",
           "next_token_probs"]
