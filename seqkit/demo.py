"""Serving a task's Gradio demo. gradio is imported only inside these functions."""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from pathlib import Path
from typing import Callable

from seqkit.data import Source
from seqkit.errors import SeqkitError
from seqkit.rundir import Run, load
from seqkit.task import get_task, installed_tasks


def cache_dir() -> Path:
    """Where demo models trained on built-in data live (``$SEQKIT_CACHE`` or ~/.cache/seqkit)."""
    return Path(os.environ.get("SEQKIT_CACHE", Path.home() / ".cache" / "seqkit"))


def resolve(target: str, train_time: float = 60.0) -> Run:
    """A run dir loads as it is; a task name trains (once, then cached) a small model on the
    task's built-in data for ``train_time`` seconds.

    A bare installed task name means the task even where a folder of that name lies in the
    current directory (``./caption`` names that folder): what a demo serves must not depend
    on where it is started.
    """
    if target not in installed_tasks() and Path(target).is_dir():
        return load(target)
    task = get_task(target)
    out = cache_dir() / f"demo-{task.name}"
    if not (out / "metrics.json").is_file():  # absent, or an interrupted earlier training
        from seqkit.jobs import train

        shutil.rmtree(out, ignore_errors=True)
        config = task.config()
        config = dataclasses.replace(config, train=dataclasses.replace(config.train,
                                                                       max_time=train_time))
        print(f"training a demo model for '{task.name}' on its built-in data "
              f"({train_time:.0f} s) into {out}")
        train(task, config, Source("builtin"), out)
    return load(out)


def build(target: str, train_time: float = 60.0):
    """The ``gradio.Blocks`` app of a task or run dir."""
    run = resolve(target, train_time)
    if run.task.demo is None:
        raise SeqkitError(f"task '{run.task.name}' has no demo")
    return run.task.demo(run)


def serve(target: str, host: str = "127.0.0.1", port: int | None = None,
          train_time: float = 60.0) -> None:
    """Build the demo and serve it until interrupted (binds 127.0.0.1 unless told otherwise)."""
    build(target, train_time).launch(server_name=host, server_port=port)


def shows_errors(fn: Callable) -> Callable:
    """Wrap a demo callback so bad input reaches the user as a message, and the app keeps
    serving: ``SeqkitError`` and ``ValueError`` become ``gradio.Error``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import gradio as gr

        try:
            return fn(*args, **kwargs)
        except (SeqkitError, ValueError) as err:
            raise gr.Error(str(err)) from err

    return wrapper


def main(task: str, argv: list[str] | None = None) -> None:
    """Command line of the ``demos/<task>.py`` scripts: ``[RUN_DIR] [--host] [--port]``."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Gradio demo of the '{task}' task.")
    parser.add_argument("run_dir", nargs="?", help=f"a trained '{task}' run dir "
                        "(default: train a small one on the built-in data)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860+)")
    parser.add_argument("--train-time", type=float, default=60.0,
                        help="seconds to train the demo model when no RUN_DIR is given")
    args = parser.parse_args(argv)
    if args.run_dir is not None and not Path(args.run_dir).is_dir():
        parser.error(f"{args.run_dir} is not a directory (expected a seqkit run dir)")
    serve(args.run_dir or task, args.host, args.port, args.train_time)
