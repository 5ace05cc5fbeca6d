"""Where pairs come from and how they are batched: CMUdict, parallel files (gzip, several test
sets), Tatoeba TSV, Hugging Face datasets; token budgets; and the bad-input list."""
from __future__ import annotations

import json

import pytest

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit_translate import g2p_pairs, task
from seqkit_translate.data import read_splits

from_folder = lambda path: Source("folder", path=path)  # noqa: E731


def test_g2p_keeps_every_pronunciation_and_splits_by_word(tiny_config):
    """A word's pronunciations are all its references; no word is in two splits."""
    pairs = g2p_pairs()
    read = pairs.targets[pairs.sources.index("read")]
    assert sorted(read) == ["R EH1 D", "R IY1 D"]
    bare = g2p_pairs(stress=False, words=50)
    assert not any(ch.isdigit() for refs in bare.targets for t in refs for ch in t)
    splits, _ = read_splits(tiny_config(), Source("builtin"))
    words = [set(s.sources) for s in splits.values()]
    assert sum(map(len, words)) == 301 and len(set.union(*words)) == 301


def test_batches_never_exceed_the_token_budget(tiny_config, make_reversal, tmp_path):
    """Every training batch's source and target tensors stay within --train.batch-tokens,
    and every pair is in exactly one batch."""
    folder = make_reversal(tmp_path / "rev", {"train": 97, "valid": 5})
    budget = 41
    config = tiny_config({"batch_tokens": budget}, src="src", tgt="tgt",
                         src_tokenizer="word", tgt_tokenizer="word")
    batches = task.prepare(config, from_folder(folder), None).split("train")
    seen = []
    for batch in batches.epoch(1):
        assert batch.src.numel() <= budget and batch.tgt.numel() <= budget
        seen += batch.index.tolist()
    assert sorted(seen) == list(range(97))
    assert len(batches) > 97 * 5 // budget  # the budget, not batch_size, cut the batches


def test_several_test_sets_side_by_side(tiny_config, reversal):
    """Multi30k's layout: ``test`` scores each named test set, and each is a split itself."""
    config = tiny_config(src="src", tgt="tgt", src_tokenizer="char", tgt_tokenizer="char",
                         eval_sentences=0)
    data = task.prepare(config, from_folder(reversal), None)
    assert {"train", "valid", "test", "test_2016_flickr", "test_2017_mscoco"} <= set(data.splits)
    model = task.build_model(config, data.assets).eval()
    metrics = task.evaluate(model, data.split("test"), config, data.assets)
    assert {"2016_flickr_bleu", "2017_mscoco_bleu", "2016_flickr_chrf"} <= set(metrics)
    assert metrics["sentences"] == 18
    alone = task.evaluate(model, data.split("test_2017_mscoco"), config, data.assets)
    assert alone["bleu"] == pytest.approx(metrics["2017_mscoco_bleu"])


def test_tatoeba_tsv_groups_translations(tiny_config, tmp_path):
    """Tab-separated pairs (extra columns ignored): a sentence with two translations is one
    source with two references, and splits are cut by source."""
    rows = [f"s{i} x\tt{i} y\tCC-BY {i}" for i in range(40)] + ["s0 x\tother\tCC-BY"]
    (tmp_path / "cmn.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tiny_config(valid_fraction=0.1, test_fraction=0.1)
    splits, _ = read_splits(config, from_folder(tmp_path))
    assert sum(len(s) for s in splits.values()) == 40
    merged = {src: refs for s in splits.values() for src, refs in zip(s.sources, s.targets)}
    assert merged["s0 x"] == ["t0 y", "other"]
    swapped, _ = read_splits(tiny_config(tsv_columns="1,0"), from_folder(tmp_path))
    assert "t1 y" in {src for s in swapped.values() for src in s.sources}


def test_hugging_face_translation_column(tiny_config, tmp_path):
    """A dataset with a ``translation`` column of ``{lang: text}`` (JSON lines in a folder,
    as a hub dataset would load), read for --src/--tgt."""
    folder = tmp_path / "ds"
    folder.mkdir()
    for split, count in (("train", 9), ("validation", 3)):
        lines = [json.dumps({"translation": {"de": f"hallo {i}", "en": f"hello {i}"}})
                 for i in range(count)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n")
    config = tiny_config(src="de", tgt="en", src_tokenizer="word", tgt_tokenizer="word")
    data = task.prepare(config, Source("hf", name=str(folder)), None)
    assert set(data.splits) == {"train", "valid"}
    assert data.split("valid").context.data.targets[2] == ["hello 2"]
    with pytest.raises(SeqkitError, match="'fr'"):
        task.prepare(tiny_config(src="de", tgt="fr"), Source("hf", name=str(folder)), None)


def test_parallel_files_of_different_lengths(tiny_config, make_reversal, tmp_path):
    """Both counts and both files are named."""
    folder = make_reversal(tmp_path / "rev", {"train": 9})
    (folder / "train.tgt").write_text("a b\n" * 8)
    with pytest.raises(SeqkitError, match=r"train\.src has 9 lines.*train\.tgt has 8"):
        read_splits(tiny_config(src="src", tgt="tgt"), from_folder(folder))


def test_non_utf8_names_file_and_line(tiny_config, make_reversal, tmp_path):
    folder = make_reversal(tmp_path / "rev", {"train": 9})
    (folder / "train.src").write_bytes(b"a b\nc d\n\xff\xfe e\n" + b"a\n" * 6)
    with pytest.raises(SeqkitError, match=r"train\.src line 3 is not UTF-8"):
        read_splits(tiny_config(src="src", tgt="tgt"), from_folder(folder))


def test_missing_partner_and_wrong_languages(tiny_config, make_reversal, tmp_path):
    folder = make_reversal(tmp_path / "rev", {"train": 9})
    (folder / "val.src").write_text("a b\n")
    with pytest.raises(SeqkitError, match=r"val\.src has no partner file val\.tgt"):
        read_splits(tiny_config(src="src", tgt="tgt"), from_folder(folder))
    with pytest.raises(SeqkitError, match="check --src and --tgt"):
        read_splits(tiny_config(src="de", tgt="en"), from_folder(folder))
