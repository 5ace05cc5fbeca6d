# The README's commands. Every target sets up .venv first when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.seqkit-installed
TASK   ?= lm
RUN    ?= runs/$(TASK)-builtin
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

# The main job: train the word-level LM on its built-in grammar corpus (about 90 s), then show
# what it learned: its perplexity beside the true grammar's (the floor), and samples.
run: setup
	rm -rf $(RUN)
	$(BIN)/seqkit train --task $(TASK) --out $(RUN) --max-time 90
	@echo "--- held-out evaluation (ppl: the model; floor_ppl: the grammar that made the data)"
	$(BIN)/seqkit eval $(RUN) --split test
	@echo "--- samples"
	$(BIN)/seqkit predict $(RUN) --prompt "the" --max-new 40 --temperature 0.8 --seed 1
	$(BIN)/seqkit predict $(RUN) --prompt "a small" --max-new 40 --temperature 0.8 --seed 2

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
