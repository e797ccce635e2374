package gate

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
)

// Unit is what a metric's values measure, in the unit the results file stores them in.
type Unit int

const (
	UnitMs        Unit = iota // a duration in milliseconds
	UnitPerSecond             // a rate per second
	UnitFraction              // a share between 0 and 1, shown as a percentage
	UnitPercent               // a percentage, stored as 0…100
	UnitMiB                   // memory in MiB
	UnitWatt
	UnitJoule
	UnitJoulePerToken
	UnitCount  // a number of requests or tokens
	UnitFactor // a plain ratio, e.g. a speed-up
)

// Better says which way a metric improves; a regression is a change the other way.
type Better int

const (
	BetterNeither Better = iota // no natural direction (utilization): both ways are changes
	BetterLower
	BetterHigher
)

// Metric is one figure a gate can read from a stage of a results file.
type Metric struct {
	Name   string
	Unit   Unit
	Better Better
	Help   string
	// benchUnit is the unit written in Go benchmark lines; benchScale converts to it.
	benchUnit  string
	benchScale float64
	read       func(*results.StageResult) (float64, bool)
}

// Value reads the metric from a stage; ok is false when the stage did not measure it (TTFT
// of a run without streaming, GPU figures without a GPU, latencies of a stage where nothing
// succeeded).
func (m Metric) Value(st *results.StageResult) (v float64, ok bool) {
	if st == nil || m.read == nil {
		return 0, false
	}
	v, ok = m.read(st)
	if ok && (math.IsNaN(v) || math.IsInf(v, 0)) {
		return 0, false
	}
	return v, ok
}

// latencyDists are the latency distributions of a stage, as the results file names them.
func latencyDists() []string {
	return []string{
		results.MetricE2E, results.MetricService, results.MetricTTFT, results.MetricITL, results.MetricTPOT,
		results.MetricQueueWait, results.MetricFirstTokenWait, results.MetricSendLag,
	}
}

func latencyStats() []string { return []string{"p50", "p90", "p95", "p99", "max", "mean", "min"} }

// Metrics is the catalogue, in the order help lists it. It is built afresh on each call.
func Metrics() []Metric {
	var ms []Metric
	for _, d := range latencyDists() {
		for _, s := range latencyStats() {
			ms = append(ms, Metric{
				Name: d + "." + s, Unit: UnitMs, Better: BetterLower,
				Help:      fmt.Sprintf("%s of the %s latency, ms", s, d),
				benchUnit: "ns/" + d + "-" + s, benchScale: 1e6,
				read: func(st *results.StageResult) (float64, bool) {
					sum, ok := st.LatencyMs[d]
					if !ok || sum.N == 0 {
						return 0, false
					}
					return sum.Stat(s), true
				},
			})
		}
	}
	ran := func(st *results.StageResult) bool { return st.WallS > 0 }
	asked := func(st *results.StageResult) bool { return st.Requests.Total > 0 }
	ms = append(ms,
		Metric{Name: "output_tps", Unit: UnitPerSecond, Better: BetterHigher, Help: "output tokens per second of stage wall time",
			benchUnit: "tok/s", read: func(st *results.StageResult) (float64, bool) { return st.Throughput.OutputTokensPerS, ran(st) }},
		Metric{Name: "requests_per_s", Unit: UnitPerSecond, Better: BetterHigher, Help: "completed requests per second",
			benchUnit: "req/s", read: func(st *results.StageResult) (float64, bool) { return st.Throughput.RequestsPerS, ran(st) }},
		Metric{Name: "decode_tps", Unit: UnitPerSecond, Better: BetterHigher, Help: "mean per-request decode rate, tokens / (E2E − TTFT)",
			benchUnit: "decode-tok/s", read: func(st *results.StageResult) (float64, bool) {
				return st.Throughput.DecodeTokensPerS, st.Throughput.DecodeTokensPerS > 0
			}},
		Metric{Name: "errors.rate", Unit: UnitFraction, Better: BetterLower, Help: "failed requests / requests",
			benchUnit: "errors/req", read: func(st *results.StageResult) (float64, bool) {
				if !asked(st) {
					return 0, false
				}
				return float64(failed(st.Requests)) / float64(st.Requests.Total), true
			}},
		Metric{Name: "errors.count", Unit: UnitCount, Better: BetterLower, Help: "failed requests",
			benchUnit: "errors", read: func(st *results.StageResult) (float64, bool) { return float64(failed(st.Requests)), asked(st) }},
	)
	for _, c := range results.ErrorClasses() {
		ms = append(ms, Metric{Name: "errors." + c, Unit: UnitCount, Better: BetterLower, Help: "requests that failed as " + c,
			benchUnit: "errors-" + c, read: func(st *results.StageResult) (float64, bool) { return float64(st.Requests.Errors[c]), asked(st) }})
	}
	ms = append(ms,
		Metric{Name: "requests.total", Unit: UnitCount, Help: "requests sent", benchUnit: "requests",
			read: func(st *results.StageResult) (float64, bool) { return float64(st.Requests.Total), true }},
		Metric{Name: "requests.ok", Unit: UnitCount, Better: BetterHigher, Help: "requests that succeeded", benchUnit: "requests-ok",
			read: func(st *results.StageResult) (float64, bool) { return float64(st.Requests.OK), true }},
		Metric{Name: "output_tokens", Unit: UnitCount, Help: "output tokens of successful requests", benchUnit: "tokens",
			read: func(st *results.StageResult) (float64, bool) { return float64(st.OutputTokens), true }},
		Metric{Name: "effective_parallelism", Unit: UnitFactor, Help: "Σ service time / wall time",
			benchUnit: "parallelism", read: func(st *results.StageResult) (float64, bool) { return st.EffectiveParallelism, ran(st) }},
		Metric{Name: "speedup", Unit: UnitFactor, Better: BetterHigher, Help: "requests/s over the first stage's",
			benchUnit: "speedup", read: func(st *results.StageResult) (float64, bool) { return st.Speedup, st.Speedup > 0 }},
		gpuMetric("gpu.memory_peak_mib", UnitMiB, BetterLower, "peak GPU memory used", func(s *results.GPUStageSummary) *float64 { return s.MemoryUsedPeakMiB }),
		gpuMetric("gpu.memory_mean_mib", UnitMiB, BetterLower, "mean GPU memory used", func(s *results.GPUStageSummary) *float64 { return s.MemoryUsedMeanMiB }),
		gpuMetric("gpu.utilization_mean_pct", UnitPercent, BetterNeither, "mean GPU utilization", func(s *results.GPUStageSummary) *float64 { return s.UtilizationMeanPct }),
		gpuMetric("gpu.utilization_p95_pct", UnitPercent, BetterNeither, "p95 of GPU utilization", func(s *results.GPUStageSummary) *float64 { return s.UtilizationP95Pct }),
		gpuMetric("gpu.power_mean_w", UnitWatt, BetterLower, "mean GPU power", func(s *results.GPUStageSummary) *float64 { return s.PowerMeanW }),
		gpuMetric("gpu.energy_j", UnitJoule, BetterLower, "GPU energy over the stage", func(s *results.GPUStageSummary) *float64 { return s.EnergyJ }),
		gpuMetric("gpu.joules_per_token", UnitJoulePerToken, BetterLower, "GPU energy per output token", func(s *results.GPUStageSummary) *float64 { return s.JoulesPerOutputToken }),
		Metric{Name: "client.cpu_pct", Unit: UnitPercent, Better: BetterLower, Help: "llmload's own CPU use, % of one core",
			benchUnit: "client-cpu-%", read: func(st *results.StageResult) (float64, bool) { return st.Client.CPUPct, ran(st) }},
		Metric{Name: "client.gc_pause_ms", Unit: UnitMs, Better: BetterLower, Help: "llmload's own GC pauses during the stage",
			benchUnit: "ns/client-gc-pause", benchScale: 1e6, read: func(st *results.StageResult) (float64, bool) { return st.Client.GCPauseMs, ran(st) }},
	)
	return ms
}

func gpuMetric(name string, unit Unit, better Better, help string, field func(*results.GPUStageSummary) *float64) Metric {
	return Metric{Name: name, Unit: unit, Better: better, Help: help, benchUnit: strings.ReplaceAll(name, ".", "-"),
		read: func(st *results.StageResult) (float64, bool) {
			if st.GPU == nil {
				return 0, false
			}
			p := field(st.GPU)
			if p == nil {
				return 0, false
			}
			return *p, true
		}}
}

// failed counts failed requests: the classes' sum, or total − ok when that is larger (a
// file written by hand may hold only the totals).
func failed(c results.Counts) int {
	n := 0
	for _, v := range c.Errors {
		n += v
	}
	return max(n, c.Total-c.OK)
}

// aliases map other spellings to catalogue names: the results file's own field names, and
// the ttft_p95 form that report --slo uses.
func aliases() map[string]string {
	return map[string]string{
		"output_tokens_per_s": "output_tps",
		"tokens_per_s":        "output_tps",
		"tok_s":               "output_tps",
		"rps":                 "requests_per_s",
		"decode_tokens_per_s": "decode_tps",
		"error_rate":          "errors.rate",
		"errors":              "errors.count",
	}
}

// LookupMetric finds a metric by its name or an alias (ttft_p95 for ttft.p95).
func LookupMetric(name string) (Metric, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases()[name]; ok {
		name = a
	}
	ms := Metrics()
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	// ttft_p95 → ttft.p95
	if i := strings.LastIndexByte(name, '_'); i > 0 && !strings.Contains(name, ".") {
		dotted := name[:i] + "." + name[i+1:]
		for _, m := range ms {
			if m.Name == dotted && m.Unit == UnitMs {
				return m, true
			}
		}
	}
	return Metric{}, false
}

// MetricNames lists the valid names compactly, for error messages and help.
func MetricNames() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{%s}.{%s}", strings.Join(latencyDists(), ","), strings.Join(latencyStats(), ","))
	for _, m := range Metrics() {
		if m.Unit == UnitMs && strings.Contains(m.Name, ".") && !strings.HasPrefix(m.Name, "client.") {
			continue
		}
		if strings.HasPrefix(m.Name, "errors.") && m.Name != "errors.rate" && m.Name != "errors.count" {
			continue
		}
		b.WriteString(", " + m.Name)
	}
	fmt.Fprintf(&b, ", errors.{%s}", strings.Join(results.ErrorClasses(), ","))
	return b.String()
}

// suggest returns the catalogue names closest to an unknown one (at most three), none when
// nothing is close.
func suggest(name string) []string {
	var best []string
	bestD := 4
	for _, m := range Metrics() {
		d := editDistance(name, m.Name)
		switch {
		case d < bestD:
			best, bestD = []string{m.Name}, d
		case d == bestD && len(best) < 3:
			best = append(best, m.Name)
		}
	}
	return best
}

// editDistance is the Levenshtein distance, for "did you mean".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// unitSuffixes are the suffixes a number may carry for a metric of this unit, and what each
// multiplies the number by to reach the unit the results file uses. A bare number is in that
// unit already (milliseconds for latencies, a fraction for errors.rate).
func (u Unit) suffixes() map[string]float64 {
	switch u {
	case UnitMs:
		return map[string]float64{"": 1, "ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1, "s": 1e3, "m": 6e4, "min": 6e4, "h": 3.6e6}
	case UnitPerSecond:
		return map[string]float64{"": 1, "/s": 1, "tok/s": 1, "req/s": 1}
	case UnitFraction:
		return map[string]float64{"": 1, "%": 0.01}
	case UnitPercent:
		return map[string]float64{"": 1, "%": 1}
	case UnitMiB:
		return map[string]float64{"": 1, "MiB": 1, "GiB": 1024}
	case UnitWatt:
		return map[string]float64{"": 1, "W": 1}
	case UnitJoule:
		return map[string]float64{"": 1, "J": 1, "kJ": 1e3}
	case UnitJoulePerToken:
		return map[string]float64{"": 1, "J": 1, "J/tok": 1}
	case UnitFactor:
		return map[string]float64{"": 1, "x": 1}
	}
	return map[string]float64{"": 1}
}

// suffixList is the suffixes for a message: "ns, us, ms, s, m, h".
func (u Unit) suffixList() string {
	var out []string
	for s := range u.suffixes() {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := u.suffixes()[out[i]], u.suffixes()[out[j]]
		if a != b {
			return a < b
		}
		return out[i] < out[j]
	})
	if len(out) == 0 {
		return "none: a plain number"
	}
	return strings.Join(out, ", ")
}

// Kind names the unit for messages.
func (u Unit) Kind() string {
	switch u {
	case UnitMs:
		return "a duration"
	case UnitPerSecond:
		return "a rate per second"
	case UnitFraction:
		return "a fraction (0.01) or percentage (1%)"
	case UnitPercent:
		return "a percentage"
	case UnitMiB:
		return "memory in MiB"
	case UnitWatt:
		return "power in W"
	case UnitJoule:
		return "energy in J"
	case UnitJoulePerToken:
		return "energy per token in J"
	case UnitFactor:
		return "a ratio"
	}
	return "a count"
}

// Format writes a value of this unit for people: "38.9ms", "1.46s", "941/s", "1.2%".
func (u Unit) Format(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	switch u {
	case UnitMs:
		if math.Abs(v) >= 1000 {
			return sig(v/1000) + "s"
		}
		return sig(v) + "ms"
	case UnitPerSecond:
		return sig(v) + "/s"
	case UnitFraction:
		return sig(100*v) + "%"
	case UnitPercent:
		return sig(v) + "%"
	case UnitMiB:
		return sig(v) + " MiB"
	case UnitWatt:
		return sig(v) + " W"
	case UnitJoule:
		return sig(v) + " J"
	case UnitJoulePerToken:
		return sig(v) + " J/tok"
	case UnitFactor:
		return sig(v) + "x"
	}
	return sig(v)
}

// sig writes v with three or four significant digits, whole numbers from 1000 up, no
// trailing zeros and no exponent, so that tables stay narrow.
func sig(v float64) string {
	a := math.Abs(v)
	var s string
	switch {
	case a >= 1000 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 3, 64)
		if strings.Contains(s, "e") {
			s = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// MetricHelp lists the metrics by kind, wrapped for --help.
func MetricHelp() string {
	var plain, gpuNames, client []string
	for _, m := range Metrics() {
		switch {
		case m.Unit == UnitMs && !strings.HasPrefix(m.Name, "client."),
			m.Unit == UnitPerSecond, strings.HasPrefix(m.Name, "errors."):
		case strings.HasPrefix(m.Name, "gpu."):
			gpuNames = append(gpuNames, m.Name)
		case strings.HasPrefix(m.Name, "client."):
			client = append(client, m.Name)
		default:
			plain = append(plain, m.Name)
		}
	}
	lines := []string{
		"latency, ms: {" + strings.Join(latencyDists(), ",") + "}.{" + strings.Join(latencyStats(), ",") + "}",
		"rates, per second: output_tps requests_per_s decode_tps",
		"errors: errors.rate (a fraction) errors.count errors.<class> with class one of " + strings.Join(results.ErrorClasses(), " "),
		"counts and ratios: " + strings.Join(plain, " "),
		"GPU: " + strings.Join(gpuNames, " "),
		"client self-check: " + strings.Join(client, " "),
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
