package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// gaugePrefixes are the servers whose Prometheus gauges llmload samples: llama-server
// (`llamacpp:requests_processing`, `llamacpp:requests_deferred` — its queue — …) and vLLM
// (`vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:kv_cache_usage_perc` …).
var gaugePrefixes = []string{"llamacpp:", "vllm:"}

// maxGauges bounds how many gauges one sample keeps, whatever a server exposes.
const maxGauges = 32

// Gauges asks GET /metrics and returns the server's gauges (Prometheus `# TYPE … gauge`) of the
// servers llmload knows, by their own names; a gauge with several label sets is their sum (vLLM
// labels every series with its model). A server without the endpoint gives an error: Ollama has
// none; llama-server has it only when started with --metrics.
func (c *Client) Gauges(ctx context.Context) (map[string]float64, error) {
	body, err := c.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return parseGauges(body)
}

// parseGauges reads the Prometheus text format, keeping the known servers' gauges.
func parseGauges(body []byte) (map[string]float64, error) {
	gauges := map[string]bool{}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) == 2 && f[1] == "gauge" && known(f[0]) {
				gauges[f[0]] = true
			}
			continue
		}
		if line[0] == '#' {
			continue
		}
		name, value, ok := sample(line)
		if !ok || !gauges[name] {
			continue
		}
		if _, seen := out[name]; !seen && len(out) >= maxGauges {
			continue
		}
		out[name] += value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read /metrics: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read /metrics: no gauge of llama-server or vLLM")
	}
	return out, nil
}

func known(name string) bool {
	for _, p := range gaugePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sample splits `name{labels} value [timestamp]`.
func sample(line string) (name string, value float64, ok bool) {
	end := strings.IndexAny(line, "{ \t")
	if end <= 0 {
		return "", 0, false
	}
	name, rest := line[:end], line[end:]
	if rest[0] == '{' {
		rb := strings.LastIndexByte(rest, '}')
		if rb < 0 {
			return "", 0, false
		}
		rest = rest[rb+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil || v != v || v > 1e300 || v < -1e300 { // NaN and ±Inf say nothing a mean can use
		return "", 0, false
	}
	return name, v, true
}
