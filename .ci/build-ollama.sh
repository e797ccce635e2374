#!/usr/bin/env bash
# Build a real, CPU-only Ollama from the Go module proxy, offline, for the e2e tests.
#
# Usage: .ci/build-ollama.sh            # prints the binary's path on stdout's last line
#
# Two kinds of Ollama:
#   - up to v0.2x the engine is compiled in with cgo (vendored ggml/llama.cpp): v0.11.4 builds
#     with Debian's nlohmann-json3-dev and libstb-dev (v0.12-v0.17 also need miniaudio.h, which
#     Debian does not package);
#   - from v0.30 Ollama runs upstream llama.cpp `llama-server` processes: the Go build has no
#     engine, and .ci/build-llama-server.sh's binary and libraries are put in
#     <prefix>/lib/ollama/ beside <prefix>/bin/ollama, where Ollama looks for them.
#
# Environment:
#   OLLAMA_VERSION    module version to build (default v0.11.4; v0.34.4 is the newest the
#                     module proxy serves)
#   OLLAMA_CFLAGS     C/C++ optimisation flags (default "-O2 -march=native", on x86-64 plus -mno-amx-*:
#                     without SIMD the CPU backend does not gain from batching (measured
#                     on 2 cores: 18.8 / 19.4 / 20.0 tok/s at NUM_PARALLEL 1 / 2 / 4 without,
#                     86.6 / 113 / 166.7 with); AMX is switched off because the module's cgo build
#                     does not compile ggml's amx/ folder, so on an AMX CPU (Sapphire
#                     Rapids and later) -march=native alone fails to link with "undefined
#                     reference to ggml_backend_amx_buffer_type"; AMX only serves quantized
#                     weights, which these tests do not use)
#   LLMLOAD_CACHE     cache root (default $HOME/.cache/llmload); the binary lands in
#                     $LLMLOAD_CACHE/ollama-<version>-<flavour>/bin/ollama and is reused
#
# The cache folder is keyed by version and flags; a BUILDINFO file next to bin/ records
# them together with the CPU model, because -march=native binaries do not move between CPUs.
# Progress goes to stderr; a failed build exits non-zero with the reason. It never skips.
set -euo pipefail

version="${OLLAMA_VERSION:-v0.11.4}"
default_cflags="-O2 -march=native"
if [ "$(uname -m)" = x86_64 ]; then
	default_cflags="$default_cflags -mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
cflags="${OLLAMA_CFLAGS:-$default_cflags}"
cache="${LLMLOAD_CACHE:-${HOME:?HOME is not set}/.cache/llmload}"

log() { printf 'build-ollama: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

case "$version" in
v*) ;;
*) version="v$version" ;;
esac

# The minor version decides the kind (see above).
minor="$(printf '%s' "${version#v}" | cut -d. -f2)"
minor="${minor%%[!0-9]*}"
engine=cgo
if [ "${version#v}" != "${version#v0.}" ] && [ -n "$minor" ] && [ "$minor" -ge 30 ]; then
	engine=llama-server
fi

if [ "$engine" = llama-server ]; then
	flavour=llama-server
elif [ "$cflags" = "$default_cflags" ]; then
	flavour=native
else
	flavour="cflags-$(printf '%s' "$cflags" | sha256sum | cut -c1-12)"
fi
prefix="$cache/ollama-$version-$flavour"
bin="$prefix/bin/ollama"
cpu="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
if [ "$engine" = llama-server ]; then
	# The engine first: its own script caches it, and its BUILDINFO becomes part of ours.
	llama_dir="$(bash "$(dirname "$0")/build-llama-server.sh" | tail -n 1)"
	[ -x "$llama_dir/llama-server" ] || die "build-llama-server.sh printed '$llama_dir', which holds no llama-server"
	want_info="version=$version
engine=llama-server
$(cat "$llama_dir/BUILDINFO")"
else
	want_info="version=$version
cflags=$cflags
cpu=$cpu"
fi

if [ -x "$bin" ] && [ -f "$prefix/BUILDINFO" ] && [ "$(cat "$prefix/BUILDINFO")" = "$want_info" ]; then
	log "cached: $bin"
	printf '%s\n' "$bin"
	exit 0
fi

# Headers that the module zip lacks (it drops nested vendor/ folders).
source "$(dirname "$0")/debs.sh"
if [ "$engine" = cgo ]; then
	need_debs nlohmann-json3-dev libstb-dev gcc g++
	[ -f /usr/include/stb/stb_image.h ] || die "/usr/include/stb/stb_image.h missing after installing libstb-dev"
	[ -f /usr/include/nlohmann/json.hpp ] || die "/usr/include/nlohmann/json.hpp missing after installing nlohmann-json3-dev"
fi
command -v go >/dev/null || die "go is not on PATH"

mkdir -p "$cache"
# One build per cache folder at a time; a second caller waits, then finds the binary.
exec 9>"$prefix.lock"
if command -v flock >/dev/null; then
	log "waiting for lock $prefix.lock"
	flock 9
	if [ -x "$bin" ] && [ -f "$prefix/BUILDINFO" ] && [ "$(cat "$prefix/BUILDINFO")" = "$want_info" ]; then
		log "built by another process: $bin"
		printf '%s\n' "$bin"
		exit 0
	fi
fi

stage="$(mktemp -d "$cache/.ollama-build.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"

vnum="${version#v}"
if [ "$engine" = llama-server ]; then
	# No engine to compile: the default flags do (and ggml's SIMD flags would mean nothing).
	cflags="${CGO_CFLAGS:--O2 -g}"
	log "building github.com/ollama/ollama@$version (no cgo engine; several minutes)"
else
	log "building github.com/ollama/ollama@$version with CGO_CFLAGS='$cflags' (several minutes)"
fi
start=$(date +%s)
# Run outside any module so that the caller's go.mod plays no part; -ldflags sets the
# version that /api/version reports (a plain go install says 0.0.0).
if ! (
	cd "$stage" &&
		CGO_ENABLED=1 \
			CGO_CPPFLAGS="-I/usr/include/stb ${CGO_CPPFLAGS:-}" \
			CGO_CFLAGS="$cflags" \
			CGO_CXXFLAGS="$cflags" \
			GOBIN="$stage/bin" \
			GOFLAGS="-buildvcs=false" \
			GOTOOLCHAIN=local \
			go install -trimpath \
			-ldflags="-X=github.com/ollama/ollama/version.Version=$vnum -X=github.com/ollama/ollama/server.mode=release" \
			"github.com/ollama/ollama@$version" >&2
); then
	die "go install github.com/ollama/ollama@$version (see the compiler output above)"
fi
[ -x "$stage/bin/ollama" ] || die "go install succeeded but $stage/bin/ollama is missing"
# Port 1 on loopback refuses at once, so the binary reports its own (client) version.
got="$(OLLAMA_HOST=127.0.0.1:1 "$stage/bin/ollama" --version 2>&1 | grep -o 'client version is [^ ]*' | awk '{print $4}' || true)"
if [ "$got" != "$vnum" ]; then
	die "built binary reports version '$got', want '$vnum'"
fi
log "built in $(($(date +%s) - start)) s"

rm -rf "$prefix"
mkdir -p "$prefix/bin"
mv "$stage/bin/ollama" "$bin"
if [ "$engine" = llama-server ]; then
	mkdir -p "$prefix/lib/ollama"
	cp -P "$llama_dir"/llama-server "$llama_dir"/lib*.so* "$prefix/lib/ollama/"
fi
printf '%s\n' "$want_info" >"$prefix/BUILDINFO"
printf '%s\n' "$bin"
