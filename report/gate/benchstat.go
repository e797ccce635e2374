package gate

import (
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/printable"
)

// DefaultBenchstatMetrics are the metrics --format benchstat writes besides those the checks
// name: the latencies and rates a comparison usually looks at.
func DefaultBenchstatMetrics() []results.Metric {
	var out []results.Metric
	for _, n := range []string{"e2e.p50", "e2e.p95", "ttft.p50", "ttft.p95", "tpot.p50", "itl.p50", "output_tps", "requests_per_s", "errors.rate"} {
		if m, ok := results.LookupMetric(n); ok {
			out = append(out, m)
		}
	}
	return out
}

// procsSuffix reports whether s ends in -N, which the benchmark format reads as GOMAXPROCS.
func procsSuffix(s string) bool {
	i := strings.LastIndexByte(s, '-')
	if i < 0 || i == len(s)-1 {
		return false
	}
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// benchName makes a stage or label fit into a benchmark name: nothing a terminal obeys (see
// printable.Line), no spaces (they end the name), no slashes (they start a sub-benchmark), no
// trailing -N (GOMAXPROCS).
func benchName(s string) string {
	s = strings.TrimSuffix(printable.Line(s), "/s")
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '/':
			return '_'
		}
		return r
	}, s)
	if procsSuffix(s) {
		s += "_"
	}
	return s
}

// WriteBenchstat writes every run's stages as Go benchmark lines, one line per run and stage,
// so that `benchstat base.txt current.txt` can compare them:
//
//	BenchmarkLLM/stage=c=8 1 38039000 ns/ttft-p95 941.9 tok/s …
//
// Latencies are in ns per the metric (benchstat scales them), rates per second. Labels that
// differ between the runs (a sweep's num_parallel) become part of the name, and Unit lines
// say which way each unit improves. metrics are written besides DefaultBenchstatMetrics.
func WriteBenchstat(w io.Writer, in Input, metrics []results.Metric) error {
	ms := DefaultBenchstatMetrics()
	have := map[string]bool{}
	for _, m := range ms {
		have[m.Name] = true
	}
	for _, m := range metrics {
		if !have[m.Name] {
			have[m.Name] = true
			ms = append(ms, m)
		}
	}
	runs := runsOf(in)
	ew := &errWriter{w: w}
	for _, m := range ms {
		unit, _ := benchUnit(m)
		switch m.Better {
		case results.BetterLower:
			ew.printf("Unit %s better=lower\n", unit)
		case results.BetterHigher:
			ew.printf("Unit %s better=higher\n", unit)
		}
	}
	if len(runs) == 0 {
		return ew.err
	}
	ew.printf("\n")
	vary := varyingLabels(runs)
	keys := slices.Sorted(maps.Keys(vary))
	for _, r := range runs {
		prefix := "BenchmarkLLM"
		for _, k := range keys {
			prefix += "/" + benchName(k) + "=" + benchName(r.run.Labels[k])
		}
		for _, st := range r.run.Stages {
			if st == nil {
				continue
			}
			var b strings.Builder
			b.WriteString(prefix + "/stage=" + benchName(st.Name) + " 1")
			n := 0
			for _, m := range ms {
				v, ok := m.Value(st)
				if !ok {
					continue
				}
				unit, scale := benchUnit(m)
				b.WriteString(" " + benchValue(v*scale) + " " + unit)
				n++
			}
			if n > 0 {
				ew.printf("%s\n", b.String())
			}
		}
	}
	return ew.err
}

// benchValue writes a value with at most 10 significant digits and no exponent, so that
// float noise from unit scaling (156600000.00000003) does not reach the file.
func benchValue(v float64) string {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 10, 64), 64)
	if err != nil {
		r = v
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}
