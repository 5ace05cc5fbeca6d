"""The lm and charlm tasks: the core's contract, learning, and their data sources."""
import dataclasses
from pathlib import Path

import pytest

from seqkit.data import Source, parse_source
from seqkit.errors import SeqkitError
from seqkit.jobs import evaluate_run, train
from seqkit.task import get_task
from seqkit.testing import check_task


def tiny(task_name: str, **train_overrides):
    """A config small enough to train in seconds on a 2-core CPU."""
    config = get_task(task_name).config()
    settings = dict(batch_size=16, bptt=32, epochs=6, bf16=False, log_every=20)
    return dataclasses.replace(config, embed_size=32, hidden_size=64, num_layers=1, dropout=0.0,
                               train=dataclasses.replace(config.train,
                                                         **{**settings, **train_overrides}))


@pytest.mark.parametrize("name", ["lm", "charlm"])
def test_contract(name, tmp_path):
    check_task(get_task(name), tiny(name), tmp_path)


def test_charlm_learns_the_grammar_text(tmp_path):
    metrics = train(get_task("charlm"), tiny("charlm", epochs=12), Source("builtin"),
                    tmp_path / "run", quiet=True)
    # characters of a 107-word grammar: chance is ~1/35 symbols, the floor about 1.87
    assert metrics["valid_ppl"] < 1.25 * metrics["valid_floor_ppl"], metrics


def test_folder_without_valid_split_holds_out_the_end(tmp_path):
    lines = [f"the dog number {i % 7} saw the cat" for i in range(400)]
    (tmp_path / "my.train.txt").write_text("\n".join(lines) + "\n")
    data = get_task("lm").prepare(tiny("lm"), parse_source(str(tmp_path)), None)
    assert set(data.splits) == {"train", "valid"}
    train_tokens = data.splits["train"].tokens
    valid_tokens = data.splits["valid"].tokens
    assert 0.05 < valid_tokens / (train_tokens + valid_tokens) < 0.15


def test_hugging_face_source_offline(tmp_path):
    """``hf:PATH`` reads through ``datasets``; a local folder needs no network."""
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.txt").write_text("the cat sat\nthe dog ran\n" * 50)
    (folder / "validation.txt").write_text("the dog sat\n" * 10)
    data = get_task("lm").prepare(tiny("lm"), parse_source(f"hf:{folder}"), None)
    assert set(data.splits) == {"train", "valid"}
    assert data.assets.unknown("the cat sat the dog ran") == []


def test_real_text_on_ptb_validation_words(shared_data: Path):
    """PTB's own vocabulary: 10k words plus our specials, and <unk> stays one token."""
    ptb = shared_data / "ptb"
    data = get_task("lm").prepare(tiny("lm"), parse_source(str(ptb)), None)
    assert 10_000 <= data.assets.vocab_size <= 10_004
    assert data.assets.encode("<unk>") == [data.assets.unk_id]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A word LM trained for a few steps on the built-in grammar."""
    out = tmp_path_factory.mktemp("runs") / "lm"
    train(get_task("lm"), tiny("lm", max_steps=30, epochs=1), Source("builtin"), out, quiet=True)
    return out


def _sentences(count: int, seed: int) -> str:
    from seqkit_lm.grammar import Grammar, render

    return render(Grammar.builtin().sample_sentences(count, seed))


def test_split_whole_scores_every_file_as_one_set(tiny_run, tmp_path):
    """Files named anything (even 'train') are scored together, as one file of their text."""
    first, second = _sentences(40, 1), _sentences(30, 2)
    new = tmp_path / "new"
    new.mkdir()
    (new / "speaker-a.txt").write_text(first)
    (new / "ptb.train.txt").write_text(second)  # its name says train: whole ignores it
    one = tmp_path / "one"
    one.mkdir()
    (one / "all.test.txt").write_text(second + first)  # data_files reads ptb.* before speaker-*
    whole = evaluate_run(tiny_run, parse_source(str(new)), "whole")
    single = evaluate_run(tiny_run, parse_source(str(one)), "test")
    assert whole["tokens"] == single["tokens"] > 0
    assert whole["loss"] == pytest.approx(single["loss"], rel=1e-6)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.csv").write_text("a,b\n")
    with pytest.raises(SeqkitError, match="no data file ending in .txt"):
        evaluate_run(tiny_run, parse_source(str(tmp_path / "empty")), "whole")


def test_split_whole_of_the_builtin_data_is_every_split(tiny_run):
    parts = evaluate_run(tiny_run, Source("builtin"), "all")
    whole = evaluate_run(tiny_run, Source("builtin"), "whole")
    every = sum(parts[f"{s}_tokens"] for s in ("train", "valid", "test"))
    streams = tiny("lm").eval_batch_size  # each stream cut drops fewer tokens than its rows
    assert every <= whole["tokens"] < every + 3 * streams
    assert parts["valid_floor_ppl"] != whole["floor_ppl"] > 1.0  # its own floor, over all of it
    with pytest.raises(SeqkitError, match="vocabulary"):
        get_task("lm").prepare(tiny("lm"), Source("builtin", whole=True), None)


PEAK_SCRIPT = """
import random, resource, sys, torch
torch.set_num_threads(1)
from seqkit.tokenizers import TextTokenizer
from seqkit_lm.data import encode, training_texts
level, size = sys.argv[1], int(sys.argv[2])
rng = random.Random(0)
words = ["w%d" % i for i in range(3000)]
text = " ".join(rng.choice(words) for _ in range(size // 5))  # one single line
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tokenizer = TextTokenizer.train(training_texts(text, level), level)
ids = encode(text, tokenizer, level)
extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(len(text), ids.numel(), extra * 1024)
"""


@pytest.mark.parametrize("level", ["word", "char"])
def test_a_huge_single_line_is_tokenised_in_bounded_memory(level):
    """Issue 11 item 17: a single-line text is tokenised a piece at a time. Tokenised whole, an
    8 MB line took 955 MB (words) and 2.9 GB (characters) beyond the text, a 50 MB one 7 GB;
    the bound here fails without the pieces. Run in a fresh process so that its peak is its
    own."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, level, str(2_000_000)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    chars, tokens, extra = map(int, done.stdout.split())
    assert tokens == (chars if level == "char" else 2_000_000 // 5 + 1)  # the words, one <eos>
    assert extra < 40 * chars, f"{extra / 2**20:.0f} MB beyond the text for {chars} characters"


def test_a_loss_past_what_exp_holds_reports_infinite_perplexity(tiny_run):
    """Huge but finite weights give a finite loss whose exp overflows: the perplexity is inf,
    not an OverflowError (found by the fuzzing net)."""
    import math

    import torch

    from seqkit.jobs import evaluate
    from seqkit.rundir import load

    run = load(tiny_run)
    with torch.no_grad():
        for param in run.model.parameters():
            param.mul_(1e4)
    data = run.task.prepare(run.config, Source("builtin"), run.assets)
    metrics = evaluate(run.task, run.model, data.split("valid"), run.config, run.assets)
    assert math.isfinite(metrics["loss"]) and metrics["loss"] > 710
    assert metrics["ppl"] == math.inf
