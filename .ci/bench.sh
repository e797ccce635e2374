#!/usr/bin/env bash
# `make bench`: every figure of llmload's own performance, as one table (figure, target,
# measured, ok): the parsers, the whole client in process, timing accuracy against a server's
# own chunk times, llmload against ab -k and hey on one instant server and on the simulator,
# streaming end to end, open-loop send lag, memory per stream at 1,000 and 10,000 streams and
# over a long run. About three minutes on two cores. Figures are kept in bin/bench/.
# BENCH_ONLY=compare,openloop runs some sections only.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
source .ci/bench-tools.sh
# 10,000 streams need as many descriptors in each process: raise the soft limit to the hard
# one (Go does it too, for its own processes).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p bin
$GO build -o bin/llmload ./cmd/llmload
$GO build -o bin/instantserver ./cmd/instantserver
$GO build -o bin/benchtable ./cmd/benchtable
$GO build -o bin/floorclient ./cmd/floorclient
exec ./bin/benchtable -go "$GO" -floor bin/floorclient -ab "${AB:-}" -hey "${HEY:-}" ${BENCH_ONLY:+-only "$BENCH_ONLY"} "$@"
