"""The CLI end to end on built-in data: train, eval, predict; and bad input, which gets a clear
message and a non-zero exit and damages nothing already saved."""
import dataclasses
import json
import shutil
import subprocess
import sys

import pytest
import torch

import seqkit
from seqkit.cli import main

TINY = ["--embed-size", "48", "--hidden-size", "48", "--num-layers", "1", "--dropout", "0",
        "--train.batch-size", "16", "--train.bptt", "20", "--train.epochs", "8",
        "--train.no-bf16"]


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """A word LM trained through the console script, as a user would."""
    out = tmp_path_factory.mktemp("cli") / "lm"
    done = subprocess.run([sys.executable, "-m", "seqkit.cli", "train", "--task", "lm",
                           "--out", str(out), "--seed", "1", *TINY],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def test_train_eval_predict_and_the_model_learned(cli_run, capsys):
    assert main(["eval", str(cli_run), "--split", "test"]) == 0
    metrics = _last_json(capsys.readouterr().out)
    assert {"loss", "ppl", "floor_ppl", "unigram_ppl"} <= set(metrics)
    # well under the unigram model, and near the true grammar's perplexity
    assert metrics["ppl"] < 0.35 * metrics["unigram_ppl"]
    assert metrics["ppl"] < 1.2 * metrics["floor_ppl"]
    assert main(["predict", str(cli_run), "--prompt", "the", "--max-new", "12", "--seed", "4"]) == 0
    text = capsys.readouterr().out.strip()
    vocab = seqkit.load(cli_run).assets
    assert text.startswith("the") and len(text.split()) >= 6
    assert not vocab.unknown(text.replace("\n", " "))  # only words it learned
    for name in ("config.json", "model.safetensors", "tokenizer.json", "metrics.json",
                 "metrics.jsonl", "learning_curve.png"):
        assert (cli_run / name).is_file(), name


def test_run_dir_loads_on_cpu_and_predicts_the_same(cli_run):
    run = seqkit.load(cli_run, device="cpu")
    assert next(run.model.parameters()).device == torch.device("cpu") and not run.model.training
    from seqkit_lm import generate

    first = generate(run.model, run.assets, "the", "word", max_new=8, seed=3)
    again = generate(seqkit.load(cli_run).model, run.assets, "the", "word", max_new=8, seed=3)
    assert first == again and first.strip()


def test_eval_on_a_folder_with_only_a_test_file(cli_run, tmp_path, capsys):
    (tmp_path / "corpus.test.txt").write_text("the dog saw a cat\nthe cat ran\n")
    assert main(["eval", str(cli_run), "--data", str(tmp_path)]) == 0
    metrics = _last_json(capsys.readouterr().out)
    assert metrics["tokens"] == 9 and metrics["ppl"] > 1  # 7 words + 2 <eos>: this file, scored
    assert "floor_ppl" not in metrics  # the built-in grammar's floor is not reported for it


def _fails(argv, capsys, *needles):
    assert main(argv) != 0
    err = capsys.readouterr().err
    for needle in needles:
        assert needle in err, err


def test_unknown_task_lists_the_installed(capsys, tmp_path):
    _fails(["train", "--task", "nope", "--out", str(tmp_path / "r")], capsys,
           "unknown task 'nope'", "lm", "charlm")


@pytest.mark.parametrize("files,message", [
    (None, "no such folder"),
    ({"train.txt": ""}, "train.txt is empty"),
    ({"train.txt": "\n  \n"}, "has no text"),
    ({"notes.md": "hello"}, "no file whose name says train"),
])
def test_missing_and_empty_data(files, message, capsys, tmp_path):
    data = tmp_path / "data"
    for name, text in (files or {}).items():
        data.mkdir(exist_ok=True)
        (data / name).write_text(text)
    _fails(["train", "--task", "lm", "--out", str(tmp_path / "r"), "--data", str(data)],
           capsys, message)
    assert not (tmp_path / "r" / "config.json").exists()  # no half-made run left behind


def test_prompt_with_unknown_words_says_so(cli_run, capsys):
    assert main(["predict", str(cli_run), "--prompt", "the zyzzyva", "--max-new", "3"]) == 0
    assert "zyzzyva" in capsys.readouterr().err


def test_runs_of_another_task_or_version_are_refused(cli_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(cli_run, copy)
    before = (copy / "model.safetensors").read_bytes()
    _fails(["train", "--task", "charlm", "--out", str(copy), "--resume"], capsys,
           "holds a 'lm' run, not 'charlm'")
    _fails(["train", "--task", "lm", "--out", str(copy)], capsys, "already holds a run")
    meta = json.loads((copy / "config.json").read_text())
    meta["format"] = 99
    (copy / "config.json").write_text(json.dumps(meta))
    _fails(["eval", str(copy)], capsys, "format 99")
    _fails(["train", "--task", "lm", "--out", str(copy), "--resume"], capsys, "format 99")
    assert (copy / "model.safetensors").read_bytes() == before


def test_weights_that_are_not_safetensors_are_refused(cli_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(cli_run, copy)
    torch.save({"embed.weight": torch.zeros(3)}, copy / "model.safetensors")  # a pickle
    _fails(["eval", str(copy)], capsys, "not a readable safetensors file")


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize("argv,needle", [
    (["--help"], "train a task's model"),
    (["train", "--help"], "--max-steps"),
    (["eval", "--help"], "--split"),
    (["demo", "--help"], "--host"),
    (["train", "--task", "lm", "--help"], "--train.lr"),
])
def test_help_says_what_each_command_does(argv, needle, capsys):
    assert _exit_code(argv) == 0
    assert needle in capsys.readouterr().out


def _one_line_error(argv, capsys, *needles) -> str:
    """``main(argv)`` fails with exit status 2 and one line ``seqkit: error: ...``."""
    assert _exit_code(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.startswith("seqkit: error: ") and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize("argv,suggestion", [
    (["eval", "RUN", "--splt", "test"], "did you mean --split?"),
    (["eval", "RUN", "--dta", "x"], "did you mean --data?"),
    (["eval", "RUN", "--split=test", "--extra"], "unknown option --extra"),
    (["demo", "lm", "--prot", "7861"], "did you mean --port?"),
    (["demo", "lm", "--hots", "0.0.0.0"], "did you mean --host?"),
    (["demo", "lm", "--train-tim", "5"], "did you mean --train-time?"),
    (["list", "--al"], "unknown option --al"),
])
def test_misspelt_options_of_eval_and_demo_suggest_the_right_one(argv, suggestion, capsys):
    _one_line_error(argv, capsys, suggestion)  # (and nothing is loaded or served first)


@pytest.mark.parametrize("argv,needles", [
    (["train", "--task", "lm"], ["needs --out RUN_DIR"]),
    (["train", "--task", "lm", "--ouput", "runs/x"], ["needs --out", "did you mean --out?"]),
    (["train", "--out", "runs/x"], ["needs --task NAME"]),
    (["trian", "--task", "lm"], ["invalid choice: 'trian'", "did you mean 'train'?"]),
    (["eval"], ["required: run"]),
    (["demo", "lm", "--port", "abc"], ["--port: invalid int value: 'abc'"]),
    (["train", "--task", "lm", "--out", "x", "--max-steps", "abc"], ["--max-steps"]),
    (["train", "--task", "lm", "--out", "x", "--hidden-size", "abc"], ["--hidden-size", "'abc'"]),
    (["train", "--task", "lm", "--out", "x", "--cell", "lsmt"], ["'lsmt'", "lstm"]),
    (["train", "--task", "lm", "--out", "x", "--train.lr"], ["--train.lr"]),
])
def test_every_usage_error_is_one_line_with_exit_status_2(argv, needles, capsys, tmp_path):
    _one_line_error(argv, capsys, *needles)
    assert not (tmp_path / "x").exists()


def test_a_usage_error_from_the_console_script_has_no_traceback():
    done = subprocess.run([sys.executable, "-m", "seqkit.cli", "demo", "lm", "--prot", "1"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "seqkit: error: unknown option --prot; did you mean --port?\n"


def test_eval_of_a_split_the_data_lacks_names_the_ones_it_has(cli_run, capsys):
    """--split takes any name (a plugin may have named test sets); one the data lacks is one
    line listing those it has."""
    _one_line_error(["eval", str(cli_run), "--split", "bogus"], capsys,
                    "no 'bogus' split (it has: train, valid, test)")


@pytest.mark.parametrize("option,value", [("--top-p", "nan"), ("--temperature", "nan"),
                                          ("--temperature", "inf")])
def test_non_finite_predict_options_are_refused(cli_run, capsys, option, value):
    """No plugin declaration needed: a float option must be a finite number."""
    _one_line_error(["predict", str(cli_run), option, value], capsys,
                    f"{option} must be a finite number, got {value}")
    assert capsys.readouterr().out == ""


@pytest.fixture
def declared_options(monkeypatch):
    """The lm task's predict options with the ranges a plugin declares (seqkit.config.bounded),
    handed to `seqkit predict` through the task as a plugin would."""
    import seqkit.rundir
    from seqkit.config import bounded
    from seqkit_lm.task import GenerateOptions

    @dataclasses.dataclass
    class Declared(GenerateOptions):
        """GenerateOptions with declared ranges."""

        max_new: int = bounded(50, ">= 0")  # tokens to generate
        temperature: float = bounded(1.0, ">= 0")  # 0: greedy
        top_k: int = bounded(0, ">= 0")  # 0: all tokens
        top_p: float = bounded(1.0, "(0, 1]")  # nucleus mass

    real_load = seqkit.rundir.load

    def load(path, device=None):
        run = real_load(path, device)
        return dataclasses.replace(run, task=dataclasses.replace(run.task,
                                                                 predict_options=Declared))

    monkeypatch.setattr(seqkit.rundir, "load", load)


@pytest.mark.parametrize("argv,message", [
    (["--max-new", "-3"], "--max-new must be >= 0, got -3"),
    (["--top-p", "0"], "--top-p must be in (0, 1], got 0.0"),
    (["--top-p", "1.5"], "--top-p must be in (0, 1], got 1.5"),
    (["--top-k", "-5"], "--top-k must be >= 0, got -5"),
    (["--temperature", "-1"], "--temperature must be >= 0, got -1.0"),
])
def test_predict_options_out_of_a_declared_range_are_refused(cli_run, capsys, declared_options,
                                                             argv, message):
    _one_line_error(["predict", str(cli_run), *argv], capsys, message)
    assert main(["predict", str(cli_run), "--prompt", "the", "--max-new", "3", "--top-p",
                 "0.9", "--top-k", "5"]) == 0  # in range: it runs
    assert capsys.readouterr().out.startswith("the")


def test_demo_of_a_task_name_ignores_a_folder_of_that_name(cli_run, tmp_path, monkeypatch):
    """`seqkit demo lm` serves the task wherever it is started; ./lm names the folder."""
    from pathlib import Path

    from seqkit import demo
    from seqkit.errors import SeqkitError

    cache = tmp_path / "cache"
    shutil.copytree(cli_run, cache / "demo-lm")  # the task's demo model, trained before
    monkeypatch.setenv("SEQKIT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lm").mkdir()  # a folder that happens to bear the task's name
    assert demo.resolve("lm").path == cache / "demo-lm"
    with pytest.raises(SeqkitError, match="not a seqkit run dir"):
        demo.resolve("./lm")
    shutil.copytree(cli_run, tmp_path / "mine")
    assert demo.resolve("mine").path == Path("mine")  # not a task name: the folder


def test_an_hf_dataset_without_a_network_fails_at_once_in_one_line(monkeypatch, capsys,
                                                                   tmp_path):
    """Issue 11 item 15: offline, ``--data hf:ID`` is one clear line within seconds, not five
    "Retrying in 8s" lines over half a minute (the Hub is made unreachable for the test, so it
    means the same on a machine with a network)."""
    import time

    monkeypatch.setattr("seqkit.data.hub_reachable", lambda timeout=3.0: False)
    started = time.perf_counter()
    assert main(["train", "--task", "lm", "--data", "hf:someone/nonexistent-set", "--out",
                 str(tmp_path / "run")]) == 2
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert err.startswith("seqkit: error: cannot load hf:someone/nonexistent-set") and \
        "the Hugging Face Hub cannot be reached" in err, err
    assert len(err.splitlines()) == 1 and "Retry" not in err, err
    assert seconds < 15, seconds  # loading ``datasets`` itself takes a few of them


def test_hub_reachable_probes_with_a_time_limit(monkeypatch):
    import socket

    from seqkit.data import hub_reachable

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert hub_reachable(timeout=2)
    assert not hub_reachable(timeout=2)  # closed now


def test_an_hf_backbone_without_a_network_fails_at_once(monkeypatch):
    """The same for a Hugging Face vision backbone (``--backbone hf:ID``)."""
    import time

    from seqkit.errors import SeqkitError
    from seqkit.vision import hf_backbone

    monkeypatch.setattr("seqkit.data.hub_reachable", lambda timeout=3.0: False)
    started = time.perf_counter()
    with pytest.raises(SeqkitError, match=r"cannot load the Hugging Face vision model of "
                                          r"'hf:someone/no-model'.*cannot be reached"):
        hf_backbone("hf:someone/no-model")
    assert time.perf_counter() - started < 15
