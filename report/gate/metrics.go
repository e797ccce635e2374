package gate

import (
	"strings"

	"github.com/llmload/llmload/bench/results"
)

// The gate reads the metric catalogue of bench/results: the names --assert and
// --max-regression take are the ones --slo, the CSV and the report's JSON use.

// benchUnit is the unit a metric's values carry in Go benchmark lines, and what converts them
// to it: benchstat scales ns itself and reads "better" from Unit lines.
func benchUnit(m results.Metric) (unit string, scale float64) {
	switch {
	case m.Name == "client.gc_pause_ms":
		return "ns/client-gc-pause", 1e6
	case m.Name == "client.send_lag_p99_ms":
		return "ns/client-send-lag-p99", 1e6
	case m.Unit == results.UnitMs:
		return "ns/" + strings.ReplaceAll(m.Name, ".", "-"), 1e6
	case strings.HasPrefix(m.Name, "errors.") && m.Name != "errors.rate":
		return "errors-" + strings.TrimPrefix(m.Name, "errors."), 1
	}
	if u, ok := map[string]string{
		"output_tps":            "tok/s",
		"requests_per_s":        "req/s",
		"decode_tps":            "decode-tok/s",
		"errors.rate":           "errors/req",
		"errors":                "errors",
		"requests.total":        "requests",
		"requests.ok":           "requests-ok",
		"output_tokens":         "tokens",
		"prompt_tokens":         "prompt-tokens",
		"effective_parallelism": "parallelism",
		"speedup":               "speedup",
		"client.cpu_pct":        "client-cpu-%",
	}[m.Name]; ok {
		return u, 1
	}
	return strings.ReplaceAll(m.Name, ".", "-"), 1
}

// sig writes a number as the gate's tables do: three or four significant digits.
func sig(v float64) string { return results.UnitCount.Format(v) }

// MetricHelp lists the metrics by kind, wrapped for --help.
func MetricHelp() string {
	var plain, gpuNames, client []string
	for _, m := range results.Metrics() {
		switch {
		case m.Unit == results.UnitMs && !strings.HasPrefix(m.Name, "client."),
			m.Unit == results.UnitPerSecond, strings.HasPrefix(m.Name, "errors"):
		case strings.HasPrefix(m.Name, "gpu."):
			gpuNames = append(gpuNames, m.Name)
		case strings.HasPrefix(m.Name, "client."):
			client = append(client, m.Name)
		default:
			plain = append(plain, m.Name)
		}
	}
	lines := []string{
		"latency, ms: {" + strings.Join(results.LatencyDistributions(), ",") + "}.{" + strings.Join(results.LatencyStats(), ",") + "}; ttft_p95 is ttft.p95",
		"rates, per second: output_tps requests_per_s decode_tps",
		"errors: errors (a count; errors.count is the same) errors.rate (a fraction) errors.<class> with class one of " + strings.Join(results.ErrorClasses(), " "),
		"counts and ratios: " + strings.Join(plain, " "),
		"GPU: " + strings.Join(gpuNames, " "),
		"client self-check: " + strings.Join(client, " "),
		"a column of 'llmload report --format csv' names its metric too: ttft_p95_ms, output_tokens_per_s, requests_failed",
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(wrap(l, 94, "  ", "      "))
	}
	return b.String()
}

// wrap breaks text at spaces into lines of at most width characters.
func wrap(text string, width int, first, rest string) string {
	var b strings.Builder
	line := first
	fresh := true
	for _, w := range strings.Fields(text) {
		if !fresh && len([]rune(line))+1+len([]rune(w)) > width {
			b.WriteString(line + "\n")
			line, fresh = rest, true
		}
		if !fresh {
			line += " "
		}
		line += w
		fresh = false
	}
	b.WriteString(line + "\n")
	return b.String()
}
