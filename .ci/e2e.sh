#!/usr/bin/env bash
# `make e2e`: llmload end to end against a real Ollama on loopback.
#
# Installs what is missing (ab from apache2-utils here; the build script installs its own
# headers), builds Ollama v0.11.4 offline with native SIMD (cached: see .ci/build-ollama.sh),
# then runs the suite in cmd/llmload/e2e_test.go with LLMLOAD_OLLAMA pointing at the binary.
# The suite makes its tiny models, servers and files in temporary folders and stops every
# server it started. It never skips: a missing piece fails with the reason.
#
# Environment: GO (default go), E2E_RUN (the -run pattern, default E2E), E2E_TIMEOUT
# (default 14m), and whatever .ci/build-ollama.sh reads (OLLAMA_VERSION, LLMLOAD_CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."

GO="${GO:-go}"
log() { printf 'e2e: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
start=$(date +%s)

if ! command -v ab >/dev/null; then
	log "installing apache2-utils (ab)"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || die "need root or sudo to install apache2-utils"
		sudo=sudo
	fi
	$sudo apt-get update >&2 || die "apt-get update"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y apache2-utils >&2 || die "apt-get install apache2-utils"
	command -v ab >/dev/null || die "ab missing after installing apache2-utils"
fi

# The script prints the binary's path on its last line and fails loudly (pipefail).
bin="$(bash .ci/build-ollama.sh | tail -n 1)"
[ -x "$bin" ] || die "build-ollama.sh printed '$bin', which is not an executable"
built=$(date +%s)
log "ollama: $bin ($((built - start)) s to install and build or find it)"

LLMLOAD_OLLAMA="$bin" "$GO" test -tags e2e -run "${E2E_RUN:-E2E}" -count=1 -v -timeout "${E2E_TIMEOUT:-14m}" ./cmd/llmload/
log "passed in $(($(date +%s) - start)) s (suite $(($(date +%s) - built)) s)"
