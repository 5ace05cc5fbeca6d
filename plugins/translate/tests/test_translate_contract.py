"""The plugin contract (seqkit.testing) on the built-in G2P data and on parallel files."""
from __future__ import annotations

from seqkit.data import Source
from seqkit.testing import check_task
from seqkit_translate import task


def test_contract_g2p(tiny_config, tmp_path):
    """Built-in CMUdict slice: char source, phoneme-word target."""
    check_task(task, tiny_config(), tmp_path)


def test_contract_parallel_shared_bpe(tiny_config, reversal, tmp_path):
    """Parallel gzip files, one shared BPE vocabulary and one shared embedding table."""
    config = tiny_config(src="src", tgt="tgt", src_tokenizer="bpe", tgt_tokenizer="bpe",
                         shared_vocab=True, tie_embeddings=True, attention="bahdanau")
    check_task(task, config, tmp_path, Source("folder", path=reversal))
