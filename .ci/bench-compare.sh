#!/usr/bin/env bash
# Client overhead side by side: llmload, ab -k and hey at c=50, stream:false, on loopback,
# against the same servers: the own instant server (cmd/internal/instant, the cheapest there is,
# so that the clients are what is measured) on own and shared cores, the same replies through
# net/http, and the simulator's instant model; the Go floor (cmd/floorclient) beside the
# judged run. Five paired rounds, medians. Installs ab (Debian's apache2-utils) and hey (module
# proxy) when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_ONLY=compare exec bash .ci/bench.sh "$@"
