"""The command line end to end: ``seqkit train``, ``eval`` (several test sets side by side),
``predict`` with --text, standard input, n-best, and the bad-input messages."""
from __future__ import annotations

import io
import json

from seqkit.cli import main


def train_cli(folder, out, *extra):
    argv = ["train", "--task", "translate", "--out", str(out), "--data", str(folder),
            "--src", "src", "--tgt", "tgt", "--src-tokenizer", "word", "--tgt-tokenizer", "word",
            "--embed-size", "15", "--encoder-size", "9", "--hidden-size", "18",
            "--attention-size", "11", "--beam", "3", "--train.batch-tokens", "0",
            "--train.batch-size", "8", "--train.epochs", "1", "--train.threads", "1", *extra]
    assert main(argv) == 0


def test_train_eval_predict(reversal, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    train_cli(reversal, out, "--max-source", "7", "--overlong", "reject")
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(reversal), "--split", "test"]) == 0
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"2016_flickr_bleu", "2017_mscoco_bleu", "2016_flickr_exact_match"} <= set(metrics)

    assert main(["predict", str(out), "--text", "a b c"]) == 0
    assert capsys.readouterr().out.count("\n") == 1  # one line (maybe empty: barely trained)

    monkeypatch.setattr("sys.stdin", io.StringIO("a b\n\nc d e\nq a\n"))
    assert main(["predict", str(out), "--nbest", "2", "--beam", "3"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.rstrip("\n").splitlines()
    assert [lines[0], lines[3], lines[6]] == ["a b", "c d e", "q a"]  # each input, 2 scored below
    assert len(lines) == 9 and all(line.startswith("  ") for line in lines[1:3])
    assert "read as <unk>: q" in captured.err

    assert main(["predict", str(out), "--text", "a b c d e f g a"]) == 2
    assert "8 tokens, more than max_source 7" in capsys.readouterr().err
    assert main(["predict", str(out), "--text", "  "]) == 2
    assert "empty" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("\n\n"))
    assert main(["predict", str(out)]) == 2
    assert "no sentence" in capsys.readouterr().err


def test_overlong_training_sources_are_cut_with_a_warning(reversal, tmp_path, capsys):
    train_cli(reversal, tmp_path / "run", "--max-source", "4", "--train.max-steps", "2")
    assert "longer than max_source 4 tokens were cut" in capsys.readouterr().out
