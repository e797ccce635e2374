#!/usr/bin/env bash
# `make profile`: where llmload's CPU goes per request, kernel included, at c=50 stream:false
# against the own instant server: the profile behind the client-cost figures of `make bench`.
# perf record samples the whole process (the system calls are most of the cost, which pprof
# does not see); the report lists functions by share of the CPU, children included. Installs
# Debian's linux-perf when perf is absent. PROFILE_N sets the request count; PROFILE_CLIENT=ab
# profiles `ab -k` under the same load instead, for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
if ! command -v perf >/dev/null && command -v apt-get >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && $sudo apt-get install -y -qq linux-perf >/dev/null || true
fi
command -v perf >/dev/null || { echo "profile: perf is not installed (Debian: linux-perf)" >&2; exit 1; }
mkdir -p bin/profile
$GO build -o bin/llmload ./cmd/llmload
$GO build -o bin/instantserver ./cmd/instantserver
body=bin/profile/nostream.json
echo '{"model":"instant","prompt":"hi","stream":false,"options":{"num_predict":1}}' >"$body"
exec 3< <(./bin/instantserver)
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
read -r url <&3
n=${PROFILE_N:-300000}
case ${PROFILE_CLIENT:-llmload} in
  llmload) client=(./bin/llmload run --url "$url" --body "$body" --warmup 0 --gpu off -o bin/profile/results.json -n "$n" -c 50 -d 5m) ;;
  ab) client=(ab -k -q -n "$n" -c 50 -p "$body" -T application/json "$url/api/generate") ;;
  *) echo "profile: PROFILE_CLIENT=${PROFILE_CLIENT}: want llmload or ab" >&2; exit 2 ;;
esac
perf record -q -F 2000 -g -o bin/profile/perf.data -- "${client[@]}"
echo
echo "CPU by where it went (dso), then by function with what it calls:"
# awk reads to the end (head would stop perf report with SIGPIPE).
perf report -i bin/profile/perf.data --no-children --sort dso 2>/dev/null | awk '/^ +[0-9.]+%/ && n++ < 5'
perf report -i bin/profile/perf.data --children --sort sym -g none 2>/dev/null |
  awk -v max="${PROFILE_LINES:-60}" '/^ +[0-9.]+%/ && n++ < max'
echo "full profile: perf report -i bin/profile/perf.data"
