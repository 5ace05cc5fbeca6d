"""The ``seqkit`` command: list, train, eval, predict, demo.

Core options are parsed by argparse; everything after them overrides the task's config
dataclass through tyro (``--hidden-size 256 --train.lr 0.5``), on top of ``--config FILE``.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import io
import re
import sys
from pathlib import Path

from seqkit.errors import SeqkitError, brief

EXAMPLES = """examples:
  seqkit list
  seqkit train --task lm --out runs/lm --max-time 120
  seqkit train --task lm --out runs/ptb --data ../shared/data/ptb --train.lr 10
  seqkit train --task lm --help            (all of a task's options)
  seqkit eval runs/lm --split test
  seqkit predict runs/lm --prompt "the cat" --max-new 20
  seqkit demo lm
"""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one ``SeqkitError`` line (exit 2 in ``main``), not usage text."""

    def error(self, message: str):
        """Raise instead of printing usage and exiting; suggest the closest valid choice."""
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        close = choice and difflib.get_close_matches(choice[1], re.findall(r"'([^']*)'",
                                                                            choice[2]), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise SeqkitError(f"{message}{hint} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="seqkit", description="Recurrent sequence models.", epilog=EXAMPLES,
                     allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = sub.add_parser("list", help="list the installed tasks, one per line, name first",
                             description="List the installed tasks (plugins), one per line, "
                                         "name first.")
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
    evaluate.add_argument("--data", help="a folder, hf:NAME[:CONFIG] or builtin (default: the "
                          "data the run was trained on)")
    evaluate.add_argument("--split", metavar="SPLIT",
                          help="valid, test, any other split the data has (e.g. a named test "
                               "set); default: test when the data has it, else valid; all: each "
                               "split (prefixed); whole: every example of --data as one set, "
                               "whatever its file names say")
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
    parser.commands = {"list": listing, "train": train, "eval": evaluate, "predict": predict,
                       "demo": demo}
    return parser


def _task_config(task, args, rest: list[str]):
    """Defaults (a resumed run's own config) < --config file < overrides < core flags; every
    value type- and range-checked."""
    from seqkit.config import from_dict, read_config_file, validate
    from seqkit.rundir import read_config, saved_config

    base = task.config()
    if args.resume and args.out and (Path(args.out) / "config.json").is_file():
        # a resume continues the run as it was: only the options given here change it
        base = saved_config(task, read_config(args.out, task.name))
    if args.config:
        base = from_dict(task.config, read_config_file(args.config), base=base,
                         where=Path(args.config).name)
    config = _tyro(task.config, rest, f"seqkit train --task {task.name}", default=base,
                   core=_options("train"))
    train = config.train
    for flag, field in (("max_steps", "max_steps"), ("max_time", "max_time"), ("seed", "seed")):
        if getattr(args, flag) is not None:
            train = dataclasses.replace(train, **{field: getattr(args, flag)})
    return validate(dataclasses.replace(config, train=train))


def _tyro(cls: type, rest: list[str], prog: str, default=None, core: list[str] = ()):
    """``tyro.cli`` whose errors become one ``SeqkitError`` line instead of a box of text;
    ``--help`` prints and exits as usual. ``core``: the command's own flags, suggested when
    tyro has no closer one for a misspelt option."""
    import tyro

    extra = {} if default is None else {"default": default}
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            parsed = tyro.cli(cls, args=rest, prog=prog, **extra)
    except SystemExit as exit_info:
        if exit_info.code:
            raise SeqkitError(f"{_one_line(captured.getvalue(), core)} (see {prog} --help)") \
                from None
        raise
    sys.stderr.write(captured.getvalue())  # warnings, if tyro had any
    return parsed


def _one_line(text: str, core: list[str]) -> str:
    """tyro's error box (plain or with colours and borders) as one line: the message, and
    "did you mean" with the flags it suggests."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    sections, current, titled = [], [], False
    for line in text.splitlines():
        line = line.strip().strip("│╭╮╰╯").strip()
        if line.startswith("─") and line.strip("─ "):  # a top border that holds the title
            titled = True
        elif line and not line.strip("-─ "):  # a rule between sections
            sections.append(current)
            current = []
        elif line:
            current.append(line)
    sections = [s for s in sections + [current] if s][0 if titled else 1:] or [["invalid options"]]
    message, suggested = " ".join(sections[0]), []
    for section in sections[1:]:
        if section[0].startswith("Perhaps you meant"):
            suggested += [ln.split()[0] for ln in section[1:] if ln.startswith("-")]
    if not suggested and message.startswith("Unrecognized options:"):
        for word in re.findall(r"--?[\w.-]+", message):
            suggested += difflib.get_close_matches(word.split("=")[0], core, n=1, cutoff=0.6)
    unique = list(dict.fromkeys(suggested))
    return message + (f"; did you mean {' or '.join(unique)}?" if unique else "")


def _options(command: str) -> list[str]:
    """The option strings of a ``seqkit`` command, for suggestions."""
    sub = _parser().commands[command]
    return [flag for action in sub._actions for flag in action.option_strings]


def cmd_list(args, rest) -> None:
    """seqkit list: every installed task, and which ones fail to load."""
    from seqkit.task import Task, installed_tasks

    _check_flags(rest, _options("list"))
    failed = []
    for name, entry in sorted(installed_tasks().items()):
        try:
            task = entry.load()
            if not isinstance(task, Task):
                raise TypeError(f"{entry.value} is a {type(task).__name__}, not a seqkit.Task")
            print(f"{name}\t{task.description}")
        except Exception as err:  # a broken plugin must not hide the others
            print(f"{name}\t(fails to load: {brief(err)})")
            failed.append(name)
    if failed:
        print(f"seqkit: warning: {', '.join(failed)} failed to load; reinstall or remove the "
              "package that provides it", file=sys.stderr)


def cmd_train(args, rest) -> None:
    """seqkit train: build the config (checked), then train a run dir."""
    from seqkit.data import parse_source
    from seqkit.jobs import train
    from seqkit.task import get_task

    if not args.task:
        raise SeqkitError("seqkit train needs --task NAME (see seqkit list)"
                          + _misspelt(rest, "--task"))
    if not (args.out or args.help):
        raise SeqkitError("seqkit train needs --out RUN_DIR, the folder to write the run to"
                          + _misspelt(rest, "--out"))
    task = get_task(args.task)
    config = _task_config(task, args, rest + ["--help"] * args.help)  # tyro prints, exits
    source = None if args.data is None else parse_source(args.data)  # None: built-in, or
    train(task, config, source, args.out, resume=args.resume)  # a resumed run's own data


def _misspelt(rest: list[str], flag: str) -> str:
    """"; did you mean FLAG?" when an option in ``rest`` looks like a misspelt ``flag``."""
    words = [w.split("=")[0] for w in rest if w.startswith("-")]
    close = [w for w in words if difflib.get_close_matches(w, [flag], cutoff=0.6)]
    return f" ({close[0]}: did you mean {flag}?)" if close else ""


def cmd_eval(args, rest) -> None:
    """seqkit eval: the metrics of a run dir on a split, as a JSON line."""
    from seqkit.data import parse_source
    from seqkit.jobs import evaluate_run, metrics_line

    _check_flags(rest, _options("eval"))
    source = parse_source(args.data) if args.data else None  # None: the run's own data
    print(metrics_line(evaluate_run(args.run, source, args.split)))


def cmd_predict(args, rest) -> None:
    """seqkit predict: the task's options (checked against their declared ranges), then its
    output."""
    from seqkit.config import validate
    from seqkit.rundir import load

    run = load(args.run)
    if run.task.predict is None or run.task.predict_options is None:
        raise SeqkitError(f"task '{run.task.name}' has no predict")
    options = _tyro(run.task.predict_options, rest, f"seqkit predict {args.run}")
    print(run.task.predict(run, validate(options, flags=True)))


def cmd_demo(args, rest) -> None:
    """seqkit demo: serve a task's or a run dir's Gradio app."""
    from seqkit.demo import serve

    _check_flags(rest, _options("demo"))
    serve(args.target, host=args.host, port=args.port, train_time=args.train_time)


def _check_flags(rest: list[str], known: list[str]) -> None:
    """Fail on the first word of ``rest`` (what argparse did not take): an unknown option
    names the closest known one."""
    for word in rest:
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and not _is_number(flag):
            close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
            raise SeqkitError(f"unknown option {flag}"
                              + (f"; did you mean {close[0]}?" if close else ""))
        raise SeqkitError(f"unexpected argument '{word}'")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


COMMANDS = {"list": cmd_list, "train": cmd_train, "eval": cmd_eval, "predict": cmd_predict,
            "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``seqkit`` console script: errors are one line and exit status 2."""
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    try:
        args, rest = parser.parse_known_args(argv)
        if args.command == "train" and args.help and not args.task:
            parser.commands["train"].print_help()  # no task yet: the core options only
            return 0
        if (args.command == "predict" and rest in (["-h"], ["--help"])
                and not Path(args.run).exists()):
            parser.commands["predict"].print_help()
            return 0
        COMMANDS[args.command](args, rest)
    except SeqkitError as err:
        message = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"seqkit: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
