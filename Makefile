# llmload — build, test, demo and benchmarks. Every target works on a fresh Debian machine
# with Go; whatever else a target needs, it installs.

GO        ?= go
BIN       := bin/llmload
PKGS      := ./...
DEMO_DIR  ?= demo
GOFLAGS_TEST ?= -race -count=1

.PHONY: all build test lint fmt demo bench bench-compare e2e clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/llmload

# The README's test command: formatting, vet, and the whole suite under the race detector.
test: lint
	$(GO) test $(GOFLAGS_TEST) -timeout 15m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/llmload

fmt:
	gofmt -w $$(git ls-files '*.go')

# The main job on the embedded simulator: NUM_PARALLEL 1, 2 and 4 compared, offline.
demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@for np in 1 2 4; do \
		echo "== simulated Ollama, OLLAMA_NUM_PARALLEL=$$np"; \
		./$(BIN) run --sim --sim-num-parallel $$np --sim-speed 4 --label num_parallel=$$np \
			-m llama3.2:1b -c 1,2,4,8 -n 16 --max-tokens 64 --no-progress \
			-o $(DEMO_DIR)/np$$np.json || exit $$?; \
	done
	@echo "results in $(DEMO_DIR)/"

# Benchmarks: parser throughput, client overhead. Figures, not pass/fail unit tests.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./bench/...

# llmload, ab -k and hey side by side against the same instant server (installs ab and hey).
bench-compare:
	bash .ci/bench-compare.sh

clean:
	rm -rf bin $(DEMO_DIR)
