# The README's commands. Every target sets up .venv first when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqkit-installed
TASK   ?= caption
RUN    ?= runs/caption-builtin
RUN_FLAGS ?= --train.threads 1  # one thread: on a CPU that other jobs share, two wait on each other
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: setup run test demo bench clean lock

setup: $(STAMP)

# Everything installs under constraints.txt, the repo's lock of the whole environment, so that a
# new release on PyPI cannot break a fresh clone (torchaudio 2.11.1 did). `make lock` rebuilds it.
PIP_PIN := pip==26.3
$(STAMP): pyproject.toml $(PLUGINS) constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(PIP_PIN)"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,demo]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

# Re-resolve every dependency from the pyproject files alone, in a scratch environment, and
# write the result to constraints.txt (commit it with the pyproject change that asked for it).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet "$(PIP_PIN)"
	.lock-venv/bin/pip install --quiet -e ".[test,demo]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	{ sed -n '/^#/p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^seqkit'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .lock-venv

# The main job: train the captioner on its built-in scenes (a few minutes), then show what it
# learnt: metrics on held-out compositions beside the nearest-neighbour baseline, and captions
# of held-out scenes beside their true descriptions.
run: setup
	rm -rf $(RUN)
	$(BIN)/seqkit train --task caption --out $(RUN) $(RUN_FLAGS)
	@echo "--- held-out evaluation (every test scene pairs two shapes never seen together in training)"
	$(BIN)/seqkit eval $(RUN) --split test
	@echo "--- captions of held-out scenes"
	$(BIN)/seqkit predict $(RUN) --examples 8

test: setup
	$(BIN)/python -m pytest

# After `make run`, `make demo` serves the captioner that `make run` trained ($(RUN), once its
# metrics.json is written); otherwise `seqkit demo TASK` trains a small model on the task's
# built-in data once, into the cache.
DEMO_TARGET = $(if $(and $(filter caption,$(TASK)),$(wildcard $(RUN)/metrics.json)),$(RUN),$(TASK))
demo: setup
	$(BIN)/seqkit demo $(DEMO_TARGET)

bench: setup
	$(BIN)/python benchmarks/lm_throughput.py
	$(BIN)/python benchmarks/charlm.py
	$(BIN)/python benchmarks/lm_quality.py
	$(BIN)/python benchmarks/caption_latency.py
	$(BIN)/python benchmarks/caption_scenes.py
	$(BIN)/python benchmarks/caption_real.py --data twemoji
	$(BIN)/python benchmarks/caption_real.py --data flickr8k
	$(BIN)/python benchmarks/seq2seq_speed.py --threads 1
	$(BIN)/python benchmarks/speech.py fsdd
	$(BIN)/python benchmarks/video_builtin.py
	$(BIN)/python benchmarks/video_throughput.py
	$(BIN)/python benchmarks/video_memory.py
	$(BIN)/python benchmarks/translate.py g2p
	$(BIN)/python benchmarks/translate.py multi30k
	$(BIN)/python benchmarks/translate_throughput.py
	$(BIN)/python benchmarks/fuzz_long.py
	$(BIN)/python benchmarks/kill_soak.py

clean:
	rm -rf $(VENV) runs
