# The README's commands. Every target sets up .venv first when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqkit-installed
TASK   ?= caption
RUN    ?= runs/caption-builtin
RUN_FLAGS ?= --train.threads 1  # one thread: on a CPU that other jobs share, two wait on each other
PLUGINS := $(wildcard plugins/*/pyproject.toml)

.PHONY: setup run test demo bench clean

setup: $(STAMP)

# torch, torchvision and torchaudio are pinned as the trio that imports together.
$(STAMP): pyproject.toml $(PLUGINS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "torch==2.11.*" "torchvision==0.26.*" "torchaudio==2.11.*"
	$(BIN)/pip install --quiet -e ".[test,demo]" $(foreach p,$(PLUGINS),-e $(dir $(p)))
	touch $(STAMP)

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

demo: setup
	$(BIN)/seqkit demo $(TASK)

bench: setup
	$(BIN)/python benchmarks/lm_throughput.py
	$(BIN)/python benchmarks/charlm.py
	$(BIN)/python benchmarks/lm_quality.py
	$(BIN)/python benchmarks/caption_latency.py
	$(BIN)/python benchmarks/caption_scenes.py
	$(BIN)/python benchmarks/caption_real.py --data twemoji
	$(BIN)/python benchmarks/caption_real.py --data flickr8k

clean:
	rm -rf $(VENV) runs
