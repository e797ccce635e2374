#!/usr/bin/env bash
# Build llama.cpp's llama-server (CPU) offline, for the e2e tests and for Ollama 0.30+, which
# runs it as its engine.
#
# Usage: .ci/build-llama-server.sh      # prints the folder holding llama-server and its
#                                       # lib*.so files on stdout's last line
#
# Source: the npm package node-llama-cpp ships llama.cpp as a git bundle
# (package/llama/gitRelease.bundle); npm is one of the registries this machine reaches, so the
# build needs nothing else from the network. Debian's cmake, g++ and git build it.
#
# Environment:
#   NODE_LLAMA_CPP_VERSION  npm version to take the bundle from (default 3.21.1: llama.cpp
#                           0.4.0-dev, commit 80fb11a, 2026-09-12)
#   LLMLOAD_CACHE           cache root (default $HOME/.cache/llmload); the result lands in
#                           $LLMLOAD_CACHE/llama-server-<version>-native/ and is reused
#
# A BUILDINFO file records the version and the CPU model, because a GGML_NATIVE build does not
# move between CPUs. Progress goes to stderr; a failed build exits non-zero with the reason.
set -euo pipefail

version="${NODE_LLAMA_CPP_VERSION:-3.21.1}"
cache="${LLMLOAD_CACHE:-${HOME:?HOME is not set}/.cache/llmload}"
prefix="$cache/llama-server-$version-native"
cpu="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
want_info="node-llama-cpp=$version
cpu=$cpu"

log() { printf 'build-llama-server: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

cached() { [ -x "$prefix/llama-server" ] && [ -f "$prefix/BUILDINFO" ] && [ "$(cat "$prefix/BUILDINFO")" = "$want_info" ]; }

if cached; then
	log "cached: $prefix"
	printf '%s\n' "$prefix"
	exit 0
fi

source "$(dirname "$0")/debs.sh"
need_debs cmake g++ git
command -v npm >/dev/null || need_debs npm
command -v npm >/dev/null || die "npm is not on PATH (Debian: npm)"

mkdir -p "$cache"
exec 9>"$prefix.lock"
if command -v flock >/dev/null; then
	log "waiting for lock $prefix.lock"
	flock 9
	if cached; then
		log "built by another process: $prefix"
		printf '%s\n' "$prefix"
		exit 0
	fi
fi

stage="$(mktemp -d "$cache/.llama-server-build.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
start=$(date +%s)

log "fetching node-llama-cpp@$version from npm"
(cd "$stage" && npm pack --silent "node-llama-cpp@$version" >&2) || die "npm pack node-llama-cpp@$version"
tar -xzf "$stage"/node-llama-cpp-*.tgz -C "$stage" package/llama/gitRelease.bundle ||
	die "the package has no package/llama/gitRelease.bundle"
git clone -q "$stage/package/llama/gitRelease.bundle" "$stage/src" >&2 || die "git clone of the bundle"
commit="$(git -C "$stage/src" rev-parse --short HEAD)"

log "building llama-server from llama.cpp $commit (about 10-12 minutes on 2 cores)"
cmake -S "$stage/src" -B "$stage/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
	-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DCMAKE_BUILD_RPATH='$ORIGIN' >&2 || die "cmake configure"
cmake --build "$stage/build" --target llama-server -j"$(nproc)" >&2 || die "cmake build (see the compiler output above)"
[ -x "$stage/build/bin/llama-server" ] || die "the build succeeded but build/bin/llama-server is missing"
"$stage/build/bin/llama-server" --version >&2 || die "the built llama-server does not start"
log "built in $(($(date +%s) - start)) s"

rm -rf "$prefix"
mkdir -p "$prefix"
cp -P "$stage/build/bin/llama-server" "$stage"/build/bin/lib*.so* "$prefix/"
printf '%s\n' "$want_info" >"$prefix/BUILDINFO"
printf 'commit=%s\n' "$commit" >"$prefix/COMMIT"
printf '%s\n' "$prefix"
