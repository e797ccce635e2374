# llmload — build, test, demo and benchmarks. Every target works on a fresh Debian machine
# with Go; whatever else a target needs, it installs.

GO        ?= go
BIN       := bin/llmload
PKGS      := ./...
DEMO_DIR  ?= demo
GOFLAGS_TEST ?= -race -count=1
# go-nvml's header marks functions llmload never calls as deprecated: without this, every cgo
# build of the gpu package prints 29 warnings before the first test result.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations

.PHONY: all build test browser lint fmt demo bench bench-compare profile e2e clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/llmload

# The README's test command: formatting, vet, and the whole suite under the race detector,
# with the report rendered in a real headless browser (Debian's chromium, installed if absent).
test: lint browser
	LLMLOAD_BROWSER_TEST=1 $(GO) test $(GOFLAGS_TEST) -timeout 15m $(PKGS)

# Debian's chromium for the report's browser test.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the report's browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags e2e ./cmd/llmload/
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/llmload
	GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/llmload

fmt:
	gofmt -w $$(git ls-files '*.go')

# The main job on the embedded simulator, offline: a NUM_PARALLEL sweep (1, 2, 4, 8) of a
# simulated Ollama under the same seeded workload in four rounds (the fewest that can show a
# gain significant at 0.05), then the markdown report with its charts.
demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	@echo "demo: llmload sweep --sim --num-parallel 1,2,4,8 --rounds 4 -c 1,4,16 -n 16 …"
	@./$(BIN) sweep --sim --sim-speed 4 --num-parallel 1,2,4,8 -m llama3.2:1b --rounds 4 \
		-c 1,4,16 -n 16 --max-tokens 64 --slo ttft_p95=500ms,tpot_p95=2.5ms --no-progress -o $(DEMO_DIR)/
	@./$(BIN) report $(DEMO_DIR)/num_parallel-*.json --slo ttft_p95=500ms,tpot_p95=2.5ms -o $(DEMO_DIR)/REPORT.md
	@echo "open $(DEMO_DIR)/REPORT.md (charts in $(DEMO_DIR)/REPORT_files/)"

# End to end against the real servers on loopback: Ollama 0.11.4, Ollama 0.34.4 and llama.cpp's
# llama-server, each built offline (cached in ~/.cache/llmload; cold, the builds take about 25
# minutes on 2 cores), then cmd/llmload/e2e_test.go (go test -tags e2e). Installs ab and the
# build tools when missing.
e2e:
	GO=$(GO) bash .ci/e2e.sh

# Benchmarks: llmload's own performance as one table (figure, target, measured, ok): parsers,
# client overhead against ab -k and hey, timing accuracy, open-loop send lag, memory per stream.
# Figures, not pass/fail tests; kept in bin/bench/. About three minutes on two cores; installs ab
# and hey when absent.
bench:
	GO=$(GO) bash .ci/bench.sh

# llmload, ab -k and hey side by side against the same servers (see README, "What the client costs").
bench-compare:
	GO=$(GO) bash .ci/bench-compare.sh

# Where llmload's CPU goes per request (perf record, kernel included), against the instant server.
profile:
	GO=$(GO) PROFILE_CLIENT=$(PROFILE_CLIENT) bash .ci/profile.sh

clean:
	rm -rf bin $(DEMO_DIR)
