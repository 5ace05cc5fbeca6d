"""Character and word tokenizers: round trips, <unk> for unseen symbols, save and load."""
import pytest

from seqkit.errors import SeqkitError
from seqkit.tokenizers import TextTokenizer

TEXT = ["the cat sat on the mat", "a dog ran\tto the cat", "Ünïcödé  spaces\n"]


def test_char_round_trip_keeps_every_character(tmp_path):
    tok = TextTokenizer.train(TEXT, "char")
    text = "the cat ran\n  Üö\tx"[:-1]  # every character seen in training
    ids = tok.encode(text)
    assert len(ids) == len(text) and tok.decode(ids) == text
    tok.save(tmp_path)
    again = TextTokenizer.load(tmp_path)
    assert again.encode(text) == ids and again.vocab_size == tok.vocab_size


def test_word_round_trip_and_special_ids():
    tok = TextTokenizer.train(TEXT, "word")
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id) == (0, 1, 2, 3)
    ids = tok.encode("the dog sat on the mat")
    assert tok.decode(ids) == "the dog sat on the mat" and len(ids) == 6


def test_unseen_symbols_become_unk_and_are_reported():
    word = TextTokenizer.train(TEXT, "word")
    assert word.encode("the zebra sat") == [word.encode("the")[0], word.unk_id,
                                            word.encode("sat")[0]]
    assert word.unknown("the zebra <unk> and zebra yak") == ["zebra", "and", "yak"]
    char = TextTokenizer.train(TEXT, "char")
    assert char.encode("q")[0] == char.unk_id and char.unknown("the fox") == ["f", "x"]


def test_max_vocab_keeps_the_most_frequent():
    tok = TextTokenizer.train(TEXT, "word", max_vocab=6)
    assert tok.vocab_size == 6 and tok.unknown("the cat") == [] and tok.unknown("mat") == ["mat"]


def test_empty_training_text_is_an_error():
    with pytest.raises(SeqkitError, match="empty"):
        TextTokenizer.train(["", "   "], "word")


def test_unk_in_the_training_text_stays_one_symbol():
    """PTB writes rare words as <unk>; the ids must still fit the embedding table."""
    tok = TextTokenizer.train(["the <unk> cat", "a <unk> dog"], "word")
    ids = tok.encode("the <unk> zebra cat")
    assert ids[1] == ids[2] == tok.unk_id and max(ids) < tok.vocab_size
    assert max(tok.tokenizer.get_vocab().values()) < tok.vocab_size
