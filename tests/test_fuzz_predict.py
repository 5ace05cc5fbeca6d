"""The fuzzing net on the predict path (issue 11): ``seqkit predict RUN`` with any prompt text
(control characters, unpaired surrogates' replacements, words never seen, long prompts) and
any option values, valid or not, ends with exit status 0 and the prompt echoed, or status 2
and one ``seqkit: error:`` line; never a traceback. ``SEQKIT_FUZZ_EXAMPLES`` sets the count."""
from __future__ import annotations

import contextlib
import io
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqkit.cli import main

EXAMPLES = int(os.environ.get("SEQKIT_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=os.environ.get("SEQKIT_FUZZ_SURVEY") != "1",
                suppress_health_check=list(HealthCheck))
NUMBERS = st.sampled_from(["0", "1", "-3", "2.5", "nan", "inf", "-inf", "1e9", "abc", "", "7"])


def _predict(argv: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue(), time.perf_counter() - started


def test_lm_predict_takes_any_prompt_and_options(lm_run):
    @FUZZ
    @given(prompt=st.text(max_size=400) | st.text(alphabet="the cat sat mat dog\n\t ",
                                                   max_size=3000),
           options=st.lists(st.tuples(st.sampled_from(["--max-new", "--temperature", "--top-k",
                                                       "--top-p", "--seed"]), NUMBERS),
                            max_size=3))
    def fuzz(prompt, options):
        flags = [part for option in options for part in option]
        status, out, err, seconds = _predict(["predict", str(lm_run), "--prompt", prompt,
                                              "--max-new", "5", *flags])
        assert status in (0, 2), (status, err)
        assert "Traceback" not in err, err
        if status == 2:
            errors = [line for line in err.splitlines() if line.startswith("seqkit: error:")]
            assert len(errors) == 1, err
        else:
            assert out.startswith(prompt.rstrip("\n")[:50]) or not prompt.strip(), out[:200]
        assert seconds < 10, seconds

    fuzz()
