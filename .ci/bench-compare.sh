#!/usr/bin/env bash
# Client overhead side by side: llmload, ab -k and hey against the same instant server
# (the simulator's "instant" model, stream:false, one token), c=50, on loopback.
# Installs ab (Debian's apache2-utils) and hey (module proxy) when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
C=${C:-50}
cache=${LLMLOAD_CACHE:-$HOME/.cache/llmload}
mkdir -p "$cache/bin"
if ! command -v ab >/dev/null; then
  apt-get update -qq && apt-get install -y -qq apache2-utils >/dev/null
fi
HEY=$(command -v hey || true)
if [ -z "$HEY" ]; then
  GOBIN="$cache/bin" go install github.com/rakyll/hey@v0.1.4
  HEY="$cache/bin/hey"
fi
go build -o bin/llmload ./cmd/llmload
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])' 2>/dev/null || echo 18434)
./bin/llmload sim --listen 127.0.0.1:$port --model instant >/dev/null 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true; rm -f "$body"' EXIT
body=$(mktemp)
echo '{"model":"instant","prompt":"hi","stream":false,"options":{"num_predict":1}}' >"$body"
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
url="http://127.0.0.1:$port/api/generate"
# Warm the model once.
curl -sf -d @"$body" "$url" >/dev/null

ll=$(./bin/llmload run --url "http://127.0.0.1:$port" --body "$body" -n "$N" -c "$C" --warmup 0 --gpu off -q -o /tmp/llmload-compare.json \
  | awk '/throughput:/ {print $2; exit}')
abr=$(ab -k -l -q -n "$N" -c "$C" -p "$body" -T application/json "$url" 2>/dev/null | awk '/Requests per second/ {print $4}')
heyr=$("$HEY" -n "$N" -c "$C" -m POST -T application/json -D "$body" "$url" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
printf '%-10s %12s\n' tool 'req/s'
printf '%-10s %12s\n' llmload "$ll" "ab -k" "$abr" hey "$heyr"
awk -v l="$ll" -v a="$abr" -v h="$heyr" 'BEGIN { printf "llmload/ab = %.2f, llmload/hey = %.2f\n", l/a, l/h }'
