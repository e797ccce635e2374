package results

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// The metric catalogue: every figure of a stage that people name — in `--slo`, in
// `gate --assert` and `--max-regression`, as a CSV column, in the report's JSON — with its
// unit, which way is better, how to read it from a StageResult and what it means. It lives
// here, beside the schema, so that the report and the gate share one vocabulary without
// either linking the other.

// Unit is what a metric's values measure, in the unit the results file stores them in.
type Unit int

// Units of the catalogue's metrics.
const (
	UnitMs            Unit = iota // a duration in milliseconds
	UnitPerSecond                 // a rate per second
	UnitFraction                  // a share between 0 and 1, shown as a percentage
	UnitPercent                   // a percentage, stored as 0…100
	UnitMiB                       // memory in MiB
	UnitWatt                      // power in W
	UnitJoule                     // energy in J
	UnitJoulePerToken             // energy per output token in J
	UnitCount                     // a number of requests or tokens
	UnitFactor                    // a plain ratio, e.g. a speed-up
)

// String is the unit's symbol as the report's JSON writes it.
func (u Unit) String() string {
	switch u {
	case UnitMs:
		return "ms"
	case UnitPerSecond:
		return "/s"
	case UnitFraction:
		return "fraction"
	case UnitPercent:
		return "%"
	case UnitMiB:
		return "MiB"
	case UnitWatt:
		return "W"
	case UnitJoule:
		return "J"
	case UnitJoulePerToken:
		return "J/token"
	case UnitFactor:
		return "ratio"
	}
	return "count"
}

// MarshalText writes the unit's symbol.
func (u Unit) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// suffixes are the suffixes a number may carry for a metric of this unit, and what each
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

// Scale is what a number written with suffix ("ms", "s", "%", "GiB", "" for none) is
// multiplied by to reach the unit; ok is false when the suffix does not fit the unit.
func (u Unit) Scale(suffix string) (scale float64, ok bool) {
	scale, ok = u.suffixes()[suffix]
	return scale, ok
}

// SuffixList is the suffixes for a message: "ns, us, µs, ms, s, m, min, h".
func (u Unit) SuffixList() string {
	sfx := u.suffixes()
	var out []string
	for s := range sfx {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := sfx[out[i]], sfx[out[j]]; a != b {
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

// Better says which way a metric improves; a regression is a change the other way.
type Better int

// Directions of the catalogue's metrics.
const (
	BetterNeither Better = iota // no natural direction (utilization): both ways are changes
	BetterLower
	BetterHigher
)

// String is "lower", "higher" or "neither".
func (b Better) String() string {
	switch b {
	case BetterLower:
		return "lower"
	case BetterHigher:
		return "higher"
	}
	return "neither"
}

// MarshalText writes the direction as String does.
func (b Better) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// Metric is one figure the catalogue can read from a stage of a results file.
type Metric struct {
	// Name is how the catalogue spells it: ttft.p95, output_tps, errors.rate.
	Name   string `json:"name"`
	Unit   Unit   `json:"unit"`
	Better Better `json:"better"`
	// Column is its column in `llmload report --format csv` ("" when it has none); the name
	// is accepted wherever Name is.
	Column string `json:"column,omitempty"`
	// Definition says in one line what it measures.
	Definition string `json:"definition"`
	read       func(*StageResult) (float64, bool)
	// OfFile, set for the few figures a results file holds as a whole rather than per stage
	// (a capacity search's answer), reads it from the file.
	OfFile func(*File) (float64, bool) `json:"-"`
}

// Value reads the metric from a stage; ok is false when the stage did not measure it (TTFT
// of a run without streaming, GPU figures without a GPU, latencies of a stage where nothing
// succeeded). When ok is false, v is what the stage stores in its place (0 when nothing).
func (m Metric) Value(st *StageResult) (v float64, ok bool) {
	if st == nil || m.read == nil {
		return 0, false
	}
	v, ok = m.read(st)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, ok
}

// Definition is one quantity of the catalogue as the README's table, `llmload run --help`
// and the report define it: a latency distribution (whose statistics are metrics) or one
// figure.
type Definition struct {
	// Term is what tables and prose call it: "TTFT", "decode tok/s per request".
	Term string `json:"term"`
	// Names are the catalogue names it defines: "ttft.{p50,…}", "errors, errors.<class>".
	Names string `json:"names"`
	// Text is the definition, one line, true to how the engine measures it.
	Text string `json:"text"`
}

// LatencyDistributions are the latency distributions a stage keeps, as the results file
// names them (the keys of StageResult.LatencyMs); each statistic of each is a metric.
func LatencyDistributions() []string {
	return []string{
		MetricE2E, MetricService, MetricTTFT, MetricITL, MetricTPOT,
		MetricQueueWait, MetricFirstTokenWait, MetricSendLag, MetricResidual, MetricCapWait,
	}
}

// LatencyStats are the statistics of a latency distribution: ttft.p95, e2e.mean.
func LatencyStats() []string { return []string{"p50", "p90", "p95", "p99", "max", "mean", "min"} }

// latencyDefinitions define the distributions, in the order the definitions are read.
func latencyDefinitions() []Definition {
	return []Definition{
		{"E2E", MetricE2E, "intended send → last byte. In an open loop the intended time is the schedule, so a slow server cannot hide its delay by slowing the sender (no coordinated omission)"},
		{"service time", MetricService, "actual send → last byte"},
		{"TTFT", MetricTTFT, "actual send → first chunk carrying generated (or thinking) text; timestamps are taken when bytes arrive, before JSON decoding"},
		{"ITL", MetricITL, "gaps between consecutive content chunks, pooled over requests"},
		{"TPOT", MetricTPOT, "per request: (last byte − first token) / (output tokens − 1), over streamed requests of two tokens or more"},
		{"residual", MetricResidual, "total − load − prompt_eval − eval from Ollama's timings; from llama-server's, which report no total, service time − prompt − generation"},
		{"queue wait", MetricQueueWait, "residual − baseline, at least 0. The baseline is the residual of requests that did not wait (the median at concurrency 1, else the least of the warm-up): the fixed overhead. Slot wait alone at NUM_PARALLEL=1; above it the residual also holds batch sharing"},
		{"wait for first token", MetricFirstTokenWait, "TTFT − load − prompt_eval − baseline: the client-side view of the queue wait, for streams with server timings"},
		{"send lag", MetricSendLag, "actual send − the moment it could be sent (its intended time, or when a place under max_concurrency came free): how late the client itself sent (open loop)"},
		{"wait for a place", MetricCapWait, "open loop with max_concurrency: intended send → a place under the cap came free, for arrivals that found every place taken; the server's saturation, in their E2E but not in the client's send lag"},
	}
}

// latencyDefinition is the definition of one distribution.
func latencyDefinition(dist string) Definition {
	for _, d := range latencyDefinitions() {
		if d.Names == dist {
			return d
		}
	}
	return Definition{Term: dist, Names: dist}
}

// Definitions lists the quantities of the catalogue, in the order the README's table,
// `llmload run --help` and the report print them. A latency's names end in <stat>, one of
// LatencyStats.
func Definitions() []Definition {
	ds := latencyDefinitions()
	for i := range ds {
		ds[i].Names += ".<stat>"
	}
	return append(ds,
		Definition{"output tokens", "output_tokens", "the server's count (eval_count, usage.completion_tokens); when absent, the count of content chunks, and the report says so"},
		Definition{"output tok/s", "output_tps", "output tokens of successful requests / stage wall time"},
		Definition{"req/s", "requests_per_s", "successful requests / stage wall time"},
		Definition{"decode tok/s per request", "decode_tps", "per request: output tokens / (last byte − first token), averaged over streamed requests of two tokens or more"},
		Definition{"effective parallelism", "effective_parallelism", "Σ service time / stage wall time (Little's law): requests in flight on average, to compare with NUM_PARALLEL"},
		Definition{"speed-up", "speedup", "requests/s over the first stage's of the same kind (closed loop, or open loop)"},
		Definition{"errors", "errors, errors.<class>", "failed requests: all of them, or those of one class (errors.http_503)"},
		Definition{"error rate", "errors.rate", "failed requests / requests sent, a fraction"},
		Definition{"goodput", "goodput.share, goodput.rate", "requests that succeeded within every bound of run --goodput (TTFT, TPOT, E2E): their share of the requests sent, and their number per second"},
		Definition{"capacity", "capacity.max_concurrency", "the most users at once (closed-loop concurrency) the server served within llmload capacity's objective; a file holds one"},
		Definition{"saturation", "saturation.delayed, saturation.dropped", "open loop with max_concurrency: arrivals that found every place taken, sent once one came free (delayed) or never, as none came free before the stage ended (dropped)"},
		Definition{"machine's other work", "machine.others_cpu_pct", "share of all the machine's CPUs used by processes other than llmload and the server during the stage (Linux); at 25 % or more the run is noisy"},
	)
}

// definitionOf is the text of the definition whose Names start with name.
func definitionOf(name string) string {
	for _, d := range Definitions() {
		if d.Names == name || strings.HasPrefix(d.Names, name+",") {
			return d.Text
		}
	}
	return ""
}

// Metrics is the catalogue, in the order help lists it. It is built afresh on each call.
func Metrics() []Metric {
	var ms []Metric
	for _, d := range LatencyDistributions() {
		ld := latencyDefinition(d)
		for _, s := range LatencyStats() {
			ms = append(ms, Metric{
				Name: d + "." + s, Unit: UnitMs, Better: BetterLower, Column: d + "_" + s + "_ms",
				Definition: fmt.Sprintf("%s of %s: %s", s, ld.Term, ld.Text),
				read: func(st *StageResult) (float64, bool) {
					sum, ok := st.LatencyMs[d]
					if !ok || sum.N == 0 {
						return 0, false
					}
					return sum.Stat(s), true
				},
			})
		}
	}
	ran := func(st *StageResult) bool { return st.WallS > 0 }
	asked := func(st *StageResult) bool { return st.Requests.Total > 0 }
	scalar := func(name string, unit Unit, better Better, column string, read func(*StageResult) (float64, bool)) Metric {
		return Metric{Name: name, Unit: unit, Better: better, Column: column, Definition: definitionOf(name), read: read}
	}
	ms = append(ms,
		scalar("output_tps", UnitPerSecond, BetterHigher, "output_tokens_per_s",
			func(st *StageResult) (float64, bool) { return st.Throughput.OutputTokensPerS, ran(st) }),
		scalar("requests_per_s", UnitPerSecond, BetterHigher, "requests_per_s",
			func(st *StageResult) (float64, bool) { return st.Throughput.RequestsPerS, ran(st) }),
		scalar("decode_tps", UnitPerSecond, BetterHigher, "decode_tokens_per_s", func(st *StageResult) (float64, bool) {
			return st.Throughput.DecodeTokensPerS, st.Throughput.DecodeTokensPerS > 0
		}),
		scalar("errors", UnitCount, BetterLower, "requests_failed",
			func(st *StageResult) (float64, bool) { return float64(st.Requests.Failed()), asked(st) }),
		scalar("errors.rate", UnitFraction, BetterLower, "", func(st *StageResult) (float64, bool) {
			if !asked(st) {
				return 0, false
			}
			return float64(st.Requests.Failed()) / float64(st.Requests.Total), true
		}),
	)
	for _, c := range ErrorClasses() {
		ms = append(ms, Metric{Name: "errors." + c, Unit: UnitCount, Better: BetterLower, Definition: "requests that failed as " + c,
			read: func(st *StageResult) (float64, bool) { return float64(st.Requests.Errors[c]), asked(st) }})
	}
	ms = append(ms,
		Metric{Name: "requests.total", Unit: UnitCount, Column: "requests_total", Definition: "requests sent",
			read: func(st *StageResult) (float64, bool) { return float64(st.Requests.Total), true }},
		Metric{Name: "requests.ok", Unit: UnitCount, Better: BetterHigher, Column: "requests_ok", Definition: "requests that succeeded",
			read: func(st *StageResult) (float64, bool) { return float64(st.Requests.OK), true }},
		scalar("output_tokens", UnitCount, BetterNeither, "output_tokens",
			func(st *StageResult) (float64, bool) { return float64(st.OutputTokens), true }),
		Metric{Name: "prompt_tokens", Unit: UnitCount, Column: "prompt_tokens", Definition: "prompt tokens of successful requests, as the server counted them",
			read: func(st *StageResult) (float64, bool) { return float64(st.PromptTokens), true }},
		scalar("effective_parallelism", UnitFactor, BetterNeither, "effective_parallelism",
			func(st *StageResult) (float64, bool) { return st.EffectiveParallelism, ran(st) }),
		scalar("speedup", UnitFactor, BetterHigher, "speedup_vs_first",
			func(st *StageResult) (float64, bool) { return st.Speedup, st.Speedup > 0 }),
		gpuMetric("gpu.memory_peak_mib", UnitMiB, BetterLower, "gpu_memory_peak_mib", "peak GPU memory used",
			func(s *GPUStageSummary) *float64 { return s.MemoryUsedPeakMiB }),
		gpuMetric("gpu.memory_mean_mib", UnitMiB, BetterLower, "gpu_memory_mean_mib", "mean GPU memory used",
			func(s *GPUStageSummary) *float64 { return s.MemoryUsedMeanMiB }),
		gpuMetric("gpu.utilization_mean_pct", UnitPercent, BetterNeither, "gpu_utilization_mean_pct", "mean GPU utilization",
			func(s *GPUStageSummary) *float64 { return s.UtilizationMeanPct }),
		gpuMetric("gpu.utilization_p95_pct", UnitPercent, BetterNeither, "gpu_utilization_p95_pct", "p95 of GPU utilization",
			func(s *GPUStageSummary) *float64 { return s.UtilizationP95Pct }),
		gpuMetric("gpu.power_mean_w", UnitWatt, BetterLower, "gpu_power_mean_w", "mean GPU power",
			func(s *GPUStageSummary) *float64 { return s.PowerMeanW }),
		gpuMetric("gpu.energy_j", UnitJoule, BetterLower, "gpu_energy_j", "GPU energy over the stage",
			func(s *GPUStageSummary) *float64 { return s.EnergyJ }),
		gpuMetric("gpu.joules_per_token", UnitJoulePerToken, BetterLower, "gpu_joules_per_output_token", "GPU energy per output token",
			func(s *GPUStageSummary) *float64 { return s.JoulesPerOutputToken }),
		Metric{Name: "client.cpu_pct", Unit: UnitPercent, Better: BetterLower, Column: "client_cpu_pct", Definition: "llmload's own CPU use, % of one core",
			read: func(st *StageResult) (float64, bool) { return st.Client.CPUPct, ran(st) }},
		Metric{Name: "client.gc_pause_ms", Unit: UnitMs, Better: BetterLower, Column: "client_gc_pause_ms", Definition: "llmload's own GC pauses during the stage",
			read: func(st *StageResult) (float64, bool) { return st.Client.GCPauseMs, ran(st) }},
		Metric{Name: "client.send_lag_p99_ms", Unit: UnitMs, Better: BetterLower, Column: "client_send_lag_p99_ms", Definition: "p99 of the client's send lag, for its self-check",
			read: func(st *StageResult) (float64, bool) { return st.Client.SendLagP99Ms, ran(st) }},
		Metric{Name: "client.new_connections", Unit: UnitCount, Column: "client_new_connections", Definition: "connections the client opened during the stage",
			read: func(st *StageResult) (float64, bool) { return float64(st.Client.NewConnections), ran(st) }},
		Metric{Name: "client.reconnects", Unit: UnitCount, Better: BetterLower, Column: "client_reconnects", Definition: "connections the server closed that the client had to open again",
			read: func(st *StageResult) (float64, bool) { return float64(st.Client.Reconnects), ran(st) }},
		Metric{Name: "goodput.share", Unit: UnitFraction, Better: BetterHigher, Column: "goodput_share", Definition: definitionOf("goodput.share"),
			read: func(st *StageResult) (float64, bool) {
				if st.Goodput == nil {
					return 0, false
				}
				return st.Goodput.Share, st.Goodput.Total > 0
			}},
		Metric{Name: "goodput.rate", Unit: UnitPerSecond, Better: BetterHigher, Column: "goodput_per_s", Definition: definitionOf("goodput.share"),
			read: func(st *StageResult) (float64, bool) {
				if st.Goodput == nil {
					return 0, false
				}
				return st.Goodput.RatePerS, st.Goodput.Total > 0
			}},
		Metric{Name: "capacity.max_concurrency", Unit: UnitCount, Better: BetterHigher, Definition: definitionOf("capacity.max_concurrency"),
			OfFile: func(f *File) (float64, bool) {
				if f.Capacity == nil || len(f.Capacity.Noise) > 0 {
					return 0, false
				}
				return float64(f.Capacity.MaxConcurrency), true
			}},
		Metric{Name: "saturation.delayed", Unit: UnitCount, Better: BetterLower, Column: "saturation_delayed", Definition: "arrivals of an open loop with max_concurrency sent late, once a place came free",
			read: func(st *StageResult) (float64, bool) {
				if st.Saturation == nil {
					return 0, false
				}
				return float64(st.Saturation.Delayed), true
			}},
		Metric{Name: "saturation.dropped", Unit: UnitCount, Better: BetterLower, Column: "saturation_dropped", Definition: "arrivals of an open loop with max_concurrency never sent: no place came free before the stage ended",
			read: func(st *StageResult) (float64, bool) {
				if st.Saturation == nil {
					return 0, false
				}
				return float64(st.Saturation.Dropped), true
			}},
		Metric{Name: "machine.others_cpu_pct", Unit: UnitPercent, Better: BetterLower, Column: "machine_others_cpu_pct", Definition: definitionOf("machine.others_cpu_pct"),
			read: func(st *StageResult) (float64, bool) {
				if st.Machine == nil {
					return 0, false
				}
				return st.Machine.OthersCPUPct, true
			}},
	)
	return ms
}

func gpuMetric(name string, unit Unit, better Better, column, definition string, field func(*GPUStageSummary) *float64) Metric {
	return Metric{Name: name, Unit: unit, Better: better, Column: column, Definition: definition,
		read: func(st *StageResult) (float64, bool) {
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

// aliases map other spellings to catalogue names, besides the CSV columns and the ttft_p95
// form of a latency.
func aliases() map[string]string {
	return map[string]string{
		"tokens_per_s": "output_tps",
		"tok_s":        "output_tps",
		"rps":          "requests_per_s",
		"error_rate":   "errors.rate",
		"errors.count": "errors",
	}
}

// LookupMetric finds a metric by its name, its CSV column, an alias (errors.count for
// errors, error_rate for errors.rate) or, for a latency, the underscore form (ttft_p95 for
// ttft.p95). Case and surrounding space do not matter.
func LookupMetric(name string) (Metric, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if a, ok := aliases()[name]; ok {
		name = a
	}
	ms := Metrics()
	for _, m := range ms {
		if m.Name == name || (m.Column != "" && m.Column == name) {
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

// LatencyDistribution returns the distribution a name is when it names one without a
// statistic ("ttft", "queue_wait"): the mistake of writing ttft for ttft.p95.
func LatencyDistribution(name string) (string, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	for _, d := range LatencyDistributions() {
		if name == d {
			return d, true
		}
	}
	return "", false
}

// MetricNames lists the valid names compactly, for error messages and help.
func MetricNames() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{%s}.{%s}", strings.Join(LatencyDistributions(), ","), strings.Join(LatencyStats(), ","))
	for _, m := range Metrics() {
		if m.Unit == UnitMs && strings.Contains(m.Name, ".") && !strings.HasPrefix(m.Name, "client.") {
			continue
		}
		if strings.HasPrefix(m.Name, "errors.") && m.Name != "errors.rate" {
			continue
		}
		b.WriteString(", " + m.Name)
	}
	fmt.Fprintf(&b, ", errors.{%s}", strings.Join(ErrorClasses(), ","))
	return b.String()
}

// SuggestMetrics returns the catalogue names closest to an unknown one (at most three), none
// when nothing is close.
func SuggestMetrics(name string) []string {
	name = strings.ToLower(strings.TrimSpace(name))
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
