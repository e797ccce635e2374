#!/usr/bin/env bash
# Sourced by the benchmark scripts: makes sure ab (Debian's apache2-utils) and hey (from the Go
# module proxy, into a cache) are there, and sets AB and HEY to them.
cache=${LLMLOAD_CACHE:-$HOME/.cache/llmload}
mkdir -p "$cache/bin"
if ! command -v ab >/dev/null; then
  if command -v apt-get >/dev/null; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq && $sudo apt-get install -y -qq apache2-utils >/dev/null
  fi
fi
AB=$(command -v ab || true)
HEY=$(command -v hey || true)
if [ -z "$HEY" ] && [ -x "$cache/bin/hey" ]; then
  HEY="$cache/bin/hey"
fi
if [ -z "$HEY" ]; then
  GOBIN="$cache/bin" ${GO:-go} install github.com/rakyll/hey@v0.1.4
  HEY="$cache/bin/hey"
fi
[ -n "$AB" ] || echo "warning: ab not found and not installable; its comparison is skipped" >&2
export AB HEY
