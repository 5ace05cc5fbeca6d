"""The optional paths of fit(): bf16 autocast and --train.compile each run, reach the model, and
still train it (the word LM on its built-in grammar, at a tiny size)."""
import dataclasses
import functools

import pytest
import torch
from safetensors.torch import load_file

from seqkit.data import Source
from seqkit.jobs import train
from seqkit.task import get_task
from seqkit.train import bf16_native

STEPS = 60  # at this size, 60 SGD steps take the valid perplexity from ~V to about 1/3 of unigram


def _train_spied(tmp_path, config):
    """Train through a spy on the task's loss; returns (metrics, what the spy saw per step)."""
    task = get_task("lm")
    seen = []

    def spy(model, batch, state):
        seen.append({"autocast": torch.is_autocast_enabled("cpu"),
                     "dtype": torch.get_autocast_dtype("cpu"),
                     "compiled": hasattr(model, "_orig_mod")})
        return task.loss(model, batch, state)

    metrics = train(dataclasses.replace(task, loss=spy), config, Source("builtin"),
                    tmp_path / "run", quiet=True)
    return metrics, seen


def _assert_learned(metrics):
    """Far below the unigram model's perplexity (an untrained model is near the vocabulary
    size, about twice the unigram one)."""
    assert metrics["valid_ppl"] < 0.5 * metrics["valid_unigram_ppl"], metrics


NATIVE_BF16 = bf16_native(torch.device("cpu"))


@pytest.mark.skipif(not NATIVE_BF16, reason="this CPU has no native bfloat16 (AVX-512 BF16 or "
                    "AMX); the fallback test below covers it")
def test_bf16_autocast_reaches_the_loss_and_the_model_learns(tmp_path, tiny_lm):
    metrics, seen = _train_spied(tmp_path, tiny_lm(max_steps=STEPS, bf16=True, threads=1))
    assert len(seen) == STEPS
    assert all(s["autocast"] and s["dtype"] == torch.bfloat16 for s in seen)
    _assert_learned(metrics)
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(w.dtype == torch.float32 for w in weights.values())  # the weights stay fp32


def test_without_bf16_there_is_no_autocast(tmp_path, tiny_lm):
    _, seen = _train_spied(tmp_path, tiny_lm(max_steps=3, bf16=False, threads=1))
    assert seen and not any(s["autocast"] for s in seen)


def test_bf16_on_a_cpu_without_it_trains_in_float32_and_says_so(tmp_path, tiny_lm, monkeypatch,
                                                                capsys):
    """An AVX2-only CPU: oneDNN's fused LSTM refuses bf16 there ("could not create a primitive
    descriptor"), so a bf16 config (the LM's default) falls back to float32 instead of failing."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not bf16_native(torch.device("cpu"))
    task = get_task("lm")
    seen = []

    def spy(model, batch, state):
        seen.append(torch.is_autocast_enabled("cpu"))
        return task.loss(model, batch, state)

    train(dataclasses.replace(task, loss=spy), tiny_lm(max_steps=3, bf16=True, threads=1),
          Source("builtin"), tmp_path / "run")
    assert seen and not any(seen)
    assert "training in float32" in capsys.readouterr().out


@pytest.fixture
def cheap_compile(monkeypatch):
    """torch.compile with the aot_eager backend: Dynamo captures the forward and AOTAutograd the
    backward graph exactly as with Inductor, without minutes of C++ code generation on a small
    CPU. Records the calls."""
    calls = []
    real = torch.compile

    @functools.wraps(real)
    def compile(model, **kwargs):
        calls.append(kwargs)
        return real(model, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(torch, "compile", compile)
    torch._dynamo.reset()
    yield calls
    torch._dynamo.reset()


def test_compile_trains_through_the_compiled_model(tmp_path, tiny_lm, cheap_compile):
    metrics, seen = _train_spied(tmp_path, tiny_lm(max_steps=STEPS, compile=True, threads=1))
    assert len(cheap_compile) == 1 and len(seen) == STEPS
    assert all(s["compiled"] for s in seen)  # every step ran the compiled module
    _assert_learned(metrics)
    names = load_file(str(tmp_path / "run" / "model.safetensors")).keys()
    assert names and not any("_orig_mod" in n for n in names)  # saved as the plain model


def test_without_compile_the_model_is_not_wrapped(tmp_path, tiny_lm, cheap_compile):
    _, seen = _train_spied(tmp_path, tiny_lm(max_steps=3, threads=1))
    assert not cheap_compile and seen and not any(s["compiled"] for s in seen)


@pytest.mark.slow
def test_compile_with_the_default_backend_learns(tmp_path, tiny_lm):
    """The real thing, Inductor: minutes of compiling on a small shared CPU (cached after)."""
    torch._dynamo.reset()
    try:
        metrics, seen = _train_spied(tmp_path, tiny_lm(max_steps=STEPS, compile=True,
                                                       threads=1))
    finally:
        torch._dynamo.reset()
    assert all(s["compiled"] for s in seen)
    _assert_learned(metrics)
