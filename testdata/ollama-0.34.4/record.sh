#!/usr/bin/env bash
# Re-record the fixtures in this folder from a real Ollama 0.34.4 (see README.md).
# Run from anywhere: testdata/ollama-0.34.4/record.sh
# Needs: .ci/build-ollama.sh (builds or reuses the binaries; 0.34.4 also brings llama-server),
# go, curl. Loopback only.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="$(OLLAMA_VERSION=v0.34.4 "$repo/.ci/build-ollama.sh" | tail -n 1)"
# 0.34.4 imports safetensors only for its MLX runner ("MLX runtime is not available" on a CPU
# build, with or without OLLAMA_CREATE_REMOTE): 0.11.4 converts the model to GGUF into the
# same OLLAMA_MODELS folder, which 0.34.4 then serves with llama-server.
creator="$(OLLAMA_VERSION=v0.11.4 "$repo/.ci/build-ollama.sh" | tail -n 1)"
work="$(mktemp -d)"
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill -- "-$pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

(cd "$repo" && go run ./cmd/tinyllama -out "$work/model" -preset small -seed 1 >/dev/null)
# One thread per runner: the recordings should not depend on how many cores the machine has.
echo 'PARAMETER num_thread 1' >>"$work/model/Modelfile"

# start BIN [VAR=value...]: a server on a free loopback port, models kept in $work.
# OLLAMA_CONTEXT_LENGTH matches the requests' num_ctx, so the /v1 endpoints (which cannot
# send num_ctx) use the same runner instead of reloading the model. OLLAMA_NO_CLOUD keeps
# 0.34.4 from trying to reach its cloud.
start() {
	local b=$1
	shift
	: >"$work/server.log"
	env OLLAMA_HOST=127.0.0.1:0 OLLAMA_MODELS="$work/models" HOME="$work" OLLAMA_NO_CLOUD=1 \
		OLLAMA_CONTEXT_LENGTH=2048 "$@" setsid "$b" serve >"$work/server.log" 2>&1 &
	pid=$!
	local port=""
	for _ in $(seq 100); do
		port="$(sed -n 's/.*Listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -n 1)"
		[ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/" && break
		sleep 0.1
	done
	[ -n "$port" ] || { cat "$work/server.log" >&2; echo "record: server did not start" >&2; exit 1; }
	u="http://127.0.0.1:$port"
}
stop() {
	kill -- "-$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	pid=""
}

rec() { # rec FILE curl-args...: the response as curl -si shows it, CR removed
	local f=$1
	shift
	curl -si "$@" | tr -d '\r' >"$here/$f"
}
post() { rec "$1" -X POST "$u$2" -H 'Content-Type: application/json' -d "$3"; }

start "$creator"
OLLAMA_HOST="${u#http://}" "$creator" create rand-tiny -f "$work/model/Modelfile" >/dev/null 2>&1
stop

start "$bin"
grep -q 'Listening on .*(version 0\.34\.4)' "$work/server.log" || {
	cat "$work/server.log" >&2
	echo "record: not Ollama 0.34.4" >&2
	exit 1
}

opts='"options":{"num_predict":8,"temperature":0,"seed":1,"num_ctx":2048}'
oai='"max_tokens":8,"temperature":0,"seed":1'
msgs='"messages":[{"role":"user","content":"count to ten"}]'

post preload.http /api/generate '{"model":"rand-tiny","keep_alive":-1,"options":{"num_ctx":2048}}'
post generate-stream.http /api/generate '{"model":"rand-tiny","prompt":"count to ten",'"$opts"'}'
post generate-nostream.http /api/generate '{"model":"rand-tiny","prompt":"count to ten","stream":false,'"$opts"'}'
post chat-stream.http /api/chat '{"model":"rand-tiny",'"$msgs"','"$opts"'}'
post chat-nostream.http /api/chat '{"model":"rand-tiny",'"$msgs"',"stream":false,'"$opts"'}'
post generate-unknown-model.http /api/generate '{"model":"no-such-model","prompt":"count to ten"}'
post chat-unknown-model.http /api/chat '{"model":"no-such-model",'"$msgs"'}'
post generate-bad-json.http /api/generate '{"model":"rand-tiny","prompt":'
post openai-chat-stream.http /v1/chat/completions '{"model":"rand-tiny",'"$msgs"',"stream":true,"stream_options":{"include_usage":true},'"$oai"'}'
post openai-chat-nostream.http /v1/chat/completions '{"model":"rand-tiny",'"$msgs"','"$oai"'}'
post openai-completions-stream.http /v1/completions '{"model":"rand-tiny","prompt":"count to ten","stream":true,"stream_options":{"include_usage":true},'"$oai"'}'
post openai-unknown-model.http /v1/chat/completions '{"model":"no-such-model",'"$msgs"'}'
post openai-completions-unknown-model.http /v1/completions '{"model":"no-such-model","prompt":"count to ten"}'
post openai-bad-json.http /v1/chat/completions '{"model":"rand-tiny","messages":'
rec get-root.http "$u/"
rec head-root.http -I "$u/"
rec get-api-version.http "$u/api/version"
rec get-api-tags.http "$u/api/tags"
rec get-api-ps.http "$u/api/ps"
post show.http /api/show '{"model":"rand-tiny"}'
post unload.http /api/generate '{"model":"rand-tiny","keep_alive":0}'
stop

# 503: OLLAMA_MAX_QUEUE=1 and six concurrent requests on a cold model; keep one 503 reply.
burst503() { # burst503 FILE PATH BODY
	local f=$1 path=$2 body=$3 i got=""
	local curls=()
	start "$bin" OLLAMA_MAX_QUEUE=1
	for i in 1 2 3 4 5 6; do
		curl -si -X POST "$u$path" -H 'Content-Type: application/json' -d "$body" |
			tr -d '\r' >"$work/burst$i" &
		curls+=($!)
	done
	wait "${curls[@]}" || true
	stop
	for i in 1 2 3 4 5 6; do
		if head -n 1 "$work/burst$i" | grep -q ' 503 '; then
			got=$i
		fi
	done
	[ -n "$got" ] || { echo "record: no 503 among six requests to $path" >&2; exit 1; }
	cp "$work/burst$got" "$here/$f"
	echo "$f: $(grep -l ' 503 ' "$work"/burst? | wc -l) of 6 requests got 503" >&2
}
burst503 generate-503-queue-full.http /api/generate '{"model":"rand-tiny","prompt":"count to ten","stream":false,'"$opts"'}'
burst503 openai-503-queue-full.http /v1/chat/completions '{"model":"rand-tiny",'"$msgs"','"$oai"'}'

# Neutral paths in show.http; fix Content-Length if the reply had one.
show="$here/show.http"
sed -i "s|$work/models|/var/lib/ollama/models|g" "$show"
if grep -q '^Content-Length:' "$show"; then
	len="$(sed '1,/^$/d' "$show" | wc -c)"
	sed -i "1,/^\$/s/^Content-Length: .*/Content-Length: $len/" "$show"
fi
if grep -l "$work" "$here"/*.http; then
	echo "record: a temporary path is left in the files above" >&2
	exit 1
fi
n=("$here"/*.http)
echo "record: wrote ${#n[@]} files into $here" >&2
