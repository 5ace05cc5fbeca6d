"""The long form of the fuzzing net (issue 11): every loader's property from
``tests/test_fuzz_loaders.py`` at ``--examples`` inputs each (1,000 by default), random rather
than the suite's fixed inputs, counting the outcomes instead of stopping at the first crash.

    .venv/bin/python benchmarks/fuzz_long.py --examples 1000

Prints one JSON line (``_common.emit``: with the machine): per loader, how many inputs loaded,
were refused with a ``SeqkitError``, crashed (by exception type and place), took over the time
limit, or left files behind; the load average at start and end, and the wall time.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import time
from collections import defaultdict
from pathlib import Path

from _common import emit, log, machine_info

ROOT = Path(__file__).resolve().parents[1]


def load_properties(examples: int):
    """Import the test module in survey mode (crashes are counted, not raised)."""
    os.environ["SEQKIT_FUZZ_EXAMPLES"] = str(examples)
    os.environ["SEQKIT_FUZZ_SURVEY"] = "1"
    spec = importlib.util.spec_from_file_location("fuzz_loaders",
                                                  ROOT / "tests" / "test_fuzz_loaders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fuzz_predict() -> float:
    """``seqkit predict`` on a tiny trained LM with random prompts and options (the property of
    ``tests/test_fuzz_predict.py``; it stops at the first failure). Returns its seconds."""
    import dataclasses
    import tempfile

    from seqkit.data import Source
    from seqkit.jobs import train
    from seqkit.task import get_task

    spec = importlib.util.spec_from_file_location("fuzz_predict",
                                                  ROOT / "tests" / "test_fuzz_predict.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    task = get_task("lm")
    config = task.config()
    config = dataclasses.replace(config, embed_size=13, hidden_size=17, num_layers=1,
                                 train=dataclasses.replace(config.train, max_steps=20,
                                                           threads=1, bf16=False))
    with tempfile.TemporaryDirectory() as tmp:
        train(task, config, Source("builtin"), Path(tmp) / "run", quiet=True)
        begun = time.perf_counter()
        module.test_lm_predict_takes_any_prompt_and_options(Path(tmp) / "run")
        log("test_lm_predict_takes_any_prompt_and_options: passed")
        return round(time.perf_counter() - begun, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="inputs per loader")
    parser.add_argument("--only", default="", help="run only the properties whose name has this")
    args = parser.parse_args()
    import warnings

    import torch

    warnings.simplefilter("ignore")  # Pillow's and soundfile's notes on each damaged file
    torch.set_num_threads(1)
    module = load_properties(args.examples)
    load_start = os.getloadavg()
    started = time.perf_counter()
    seconds = {}
    properties = [n for n in dir(module) if n.startswith("test_") and not n.startswith(
        "test_found_") and args.only in n]  # test_found_*: single reproducers, not properties
    for name in sorted(properties):
        test = getattr(module, name)
        begun = time.perf_counter()
        if name == "test_video_files":  # takes its clip from a fixture
            test(module.tiny_video.__wrapped__())
        else:
            test()
        seconds[name] = round(time.perf_counter() - begun, 1)
        log(f"{name}: {seconds[name]} s")
    if "predict" in args.only or not args.only:
        seconds["test_lm_predict_takes_any_prompt_and_options"] = fuzz_predict()
    table: dict = defaultdict(dict)
    for (loader, outcome), count in sorted(module.OUTCOMES.items()):
        if count:
            table[loader][outcome] = count
    emit({"benchmark": "fuzz_long", "examples_per_property": args.examples, "outcomes": table,
          "seconds_per_property": seconds, "wall_s": round(time.perf_counter() - started, 1),
          "load_start": load_start, "load_end": os.getloadavg(), "machine": machine_info()})


if __name__ == "__main__":
    main()
