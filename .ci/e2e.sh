#!/usr/bin/env bash
# `make e2e`: llmload end to end against the real servers, on loopback: Ollama 0.11.4, Ollama
# 0.34.4 and llama.cpp's llama-server.
#
# Installs what is missing (ab from apache2-utils here; the build scripts install their own
# tools and headers), builds the three servers offline (cached in ~/.cache/llmload: see
# .ci/build-ollama.sh and .ci/build-llama-server.sh; cold, about 25 minutes on 2 cores, most of
# it llama-server), then runs the suite in cmd/llmload/e2e_test.go with LLMLOAD_OLLAMA,
# LLMLOAD_OLLAMA_034 and LLMLOAD_LLAMA_SERVER pointing at them. The suite makes its tiny models,
# servers and files in temporary folders and stops every server it started. It never skips: a
# missing piece fails with the reason.
#
# Environment: GO (default go), E2E_RUN (the -run pattern, default E2E), E2E_TIMEOUT
# (default 20m), and LLMLOAD_CACHE (the cache root the build scripts read).
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

# The scripts print the binary's path (llama-server: its folder) on their last line and fail
# loudly (pipefail). Ollama 0.34.4's build reuses llama-server's.
llama="$(bash .ci/build-llama-server.sh | tail -n 1)/llama-server"
[ -x "$llama" ] || die "build-llama-server.sh gave '$llama', which is not an executable"
o11="$(OLLAMA_VERSION=v0.11.4 bash .ci/build-ollama.sh | tail -n 1)"
[ -x "$o11" ] || die "build-ollama.sh printed '$o11', which is not an executable"
o34="$(OLLAMA_VERSION=v0.34.4 bash .ci/build-ollama.sh | tail -n 1)"
[ -x "$o34" ] || die "build-ollama.sh printed '$o34', which is not an executable"
built=$(date +%s)
log "ollama 0.11.4: $o11; ollama 0.34.4: $o34; llama-server: $llama ($((built - start)) s to install and build or find them)"

LLMLOAD_OLLAMA="$o11" LLMLOAD_OLLAMA_034="$o34" LLMLOAD_LLAMA_SERVER="$llama" \
	"$GO" test -tags e2e -run "${E2E_RUN:-E2E}" -count=1 -v -timeout "${E2E_TIMEOUT:-20m}" ./cmd/llmload/
log "passed in $(($(date +%s) - start)) s (suite $(($(date +%s) - built)) s)"
