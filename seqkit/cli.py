"""The ``seqkit`` command: list, train, eval, predict, demo.

Core options are parsed by argparse; everything after them overrides the task's config
dataclass through tyro (``--hidden-size 256 --train.lr 0.5``), on top of ``--config FILE``.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from seqkit.errors import SeqkitError

EXAMPLES = """examples:
  seqkit list
  seqkit train --task lm --out runs/lm --max-time 120
  seqkit train --task lm --out runs/ptb --data ../shared/data/ptb --train.lr 10
  seqkit train --task lm --help            (all of a task's options)
  seqkit eval runs/lm --split test
  seqkit predict runs/lm --prompt "the cat" --max-new 20
  seqkit demo lm
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seqkit", description="Recurrent sequence models.",
                                     epilog=EXAMPLES, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the installed tasks, one per line, name first",
                   description="List the installed tasks (plugins), one per line, name first.")
    train = sub.add_parser(
        "train", allow_abbrev=False, add_help=False,
        help="train a task's model into a run dir",
        description="Train a task's model into a run dir. Options after the ones below override "
                    "the task's config; 'seqkit train --task T --help' lists them.")
    train.add_argument("-h", "--help", action="store_true", help="show this help (and the task's options)")
    train.add_argument("--task", help="task name (see 'seqkit list')")
    train.add_argument("--out", help="run dir to write (config, weights, metrics)")
    train.add_argument("--data", help="built-in data (default), a folder, or hf:NAME[:CONFIG]")
    train.add_argument("--max-steps", type=int, help="stop after N optimiser steps")
    train.add_argument("--max-time", type=float, help="stop after SECONDS of training")
    train.add_argument("--seed", type=int, help="random seed")
    train.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    train.add_argument("--config", help="TOML or YAML file of config values")
    evaluate = sub.add_parser("eval", allow_abbrev=False, help="evaluate a run dir",
                              description="Evaluate a run dir; the last line of output is a JSON "
                                          "object of metrics.")
    evaluate.add_argument("run", help="run dir")
    evaluate.add_argument("--data", help="built-in data (default), a folder, or hf:NAME[:CONFIG]")
    evaluate.add_argument("--split", choices=["valid", "test", "all"],
                          help="default: test when the data has it, else valid")
    predict = sub.add_parser("predict", allow_abbrev=False, add_help=False,
                             help="run a trained model on your input",
                             description="Run a trained model; 'seqkit predict RUN --help' lists "
                                         "its task's options.")
    predict.add_argument("run", help="run dir")
    demo = sub.add_parser("demo", allow_abbrev=False, help="serve a task's Gradio demo",
                          description="Serve a Gradio demo of a run dir, or of a task (a small "
                                      "model is trained on its built-in data first).")
    demo.add_argument("target", help="task name or run dir")
    demo.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=None, help="port (default: Gradio's)")
    demo.add_argument("--train-time", type=float, default=60.0,
                      help="seconds to train a demo model when given a task name")
    parser.commands = {"train": train, "predict": predict}  # for help that argparse can't give
    return parser


def _task_config(task, args, rest: list[str]):
    """Defaults < --config file < overrides < core flags."""
    import tyro

    from seqkit.config import from_dict, read_config_file

    base = task.config()
    if args.config:
        base = from_dict(task.config, read_config_file(args.config), where=Path(args.config).name)
    config = tyro.cli(task.config, args=rest, default=base,
                      prog=f"seqkit train --task {task.name} [core options]")
    train = config.train
    for flag, field in (("max_steps", "max_steps"), ("max_time", "max_time"), ("seed", "seed")):
        if getattr(args, flag) is not None:
            train = dataclasses.replace(train, **{field: getattr(args, flag)})
    return dataclasses.replace(config, train=train)


def cmd_list(args, rest) -> None:
    from seqkit.task import installed_tasks

    for name, entry in sorted(installed_tasks().items()):
        try:
            print(f"{name}\t{entry.load().description}")
        except Exception as err:  # a broken plugin must not hide the others
            print(f"{name}\t(fails to load: {err})")


def cmd_train(args, rest) -> None:
    from seqkit.config import flag_names
    from seqkit.data import parse_source
    from seqkit.jobs import train
    from seqkit.task import get_task

    if not args.task or not (args.out or args.help):
        raise SeqkitError("seqkit train needs --task and --out (see seqkit train --help)")
    task = get_task(args.task)
    _check_flags(rest, flag_names(task.config) + TRAIN_FLAGS, values=True)
    config = _task_config(task, args, rest + ["--help"] * args.help)  # tyro prints, exits
    train(task, config, parse_source(args.data), args.out, resume=args.resume)


def cmd_eval(args, rest) -> None:
    from seqkit.data import parse_source
    from seqkit.jobs import evaluate_run, metrics_line

    _check_flags(rest, ["--data", "--split"])
    print(metrics_line(evaluate_run(args.run, parse_source(args.data), args.split)))


def cmd_predict(args, rest) -> None:
    import tyro

    from seqkit.rundir import load

    run = load(args.run)
    if run.task.predict is None:
        raise SeqkitError(f"task '{run.task.name}' has no predict")
    options = tyro.cli(run.task.predict_options, args=rest,
                       prog=f"seqkit predict {args.run}")
    print(run.task.predict(run, options))


def cmd_demo(args, rest) -> None:
    from seqkit.demo import serve

    _check_flags(rest, ["--host", "--port", "--train-time"])
    serve(args.target, host=args.host, port=args.port, train_time=args.train_time)


TRAIN_FLAGS = ["--task", "--out", "--data", "--max-steps", "--max-time", "--seed", "--resume",
               "--config", "--help"]


def _check_flags(rest: list[str], known: list[str], values: bool = False) -> None:
    """Fail on the first unknown ``--option`` in ``rest``, naming the closest known one.

    ``values``: whether bare words (option values) may stand in ``rest``.
    """
    import difflib

    for word in rest:
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and not _is_number(flag):
            if flag in known or flag in ("-h", "--help"):
                continue
            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
            raise SeqkitError(f"unknown option {flag}" + (f"; did you mean {close[0]}?" if close else ""))
        if not values:
            raise SeqkitError(f"unexpected argument '{word}'")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seqkit`` console script."""
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    args, rest = parser.parse_known_args(argv)
    if args.command == "train" and args.help and not args.task:
        parser.commands["train"].print_help()  # no task yet: the core options only
        return 0
    if args.command == "predict" and rest in (["-h"], ["--help"]) and not Path(args.run).exists():
        parser.commands["predict"].print_help()
        return 0
    try:
        {"list": cmd_list, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict,
         "demo": cmd_demo}[args.command](args, rest)
    except SeqkitError as err:
        print(f"seqkit: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
