package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
	"github.com/llmload/llmload/report/internal/prose"
)

// csvMetrics and csvStats fix the latency columns of the CSV: metric_stat_ms.
func csvMetrics() []string {
	return []string{results.MetricE2E, results.MetricService, results.MetricTTFT, results.MetricITL, results.MetricTPOT,
		results.MetricQueueWait, results.MetricFirstTokenWait, results.MetricSendLag, results.MetricResidual}
}

func csvStats() []string { return []string{"min", "mean", "p50", "p90", "p95", "p99", "max"} }

// csvColumn is one column: its header and how a row fills it.
type csvColumn struct {
	name string
	get  func(r csvRow) string
}

type csvRow struct {
	r       *analysis.Run
	st      *analysis.Stage
	setting string
}

// csvColumns is the CSV's fixed column order. New columns go at the end: scripts index
// by position as often as by name.
func csvColumns() []csvColumn {
	str := func(name string, f func(r csvRow) string) csvColumn { return csvColumn{name, f} }
	flt := func(name string, f func(r csvRow) float64) csvColumn {
		return csvColumn{name, func(r csvRow) string { return csvFloat(f(r)) }}
	}
	opt := func(name string, f func(r csvRow) *float64) csvColumn {
		return csvColumn{name, func(r csvRow) string {
			if v := f(r); v != nil {
				return csvFloat(*v)
			}
			return ""
		}}
	}
	integer := func(name string, f func(r csvRow) int64) csvColumn {
		return csvColumn{name, func(r csvRow) string { return strconv.FormatInt(f(r), 10) }}
	}
	cols := []csvColumn{
		str("source", func(r csvRow) string {
			if r.r.Merged {
				return strings.Join(r.r.Sources, "+")
			}
			return r.r.Source()
		}),
		str("run", func(r csvRow) string { return r.r.Name }),
		str("labels", func(r csvRow) string { return prose.Labels(r.r.Labels) }),
		str("setting", func(r csvRow) string { return r.setting }),
		str("server_url", func(r csvRow) string { return r.r.Target.URL }),
		str("api", func(r csvRow) string { return r.r.Target.API }),
		str("server_version", func(r csvRow) string { return r.r.Target.ServerVersion }),
		str("simulated", func(r csvRow) string { return strconv.FormatBool(r.r.Target.Simulated) }),
		str("host", func(r csvRow) string { return r.r.Host.Hostname }),
		str("started", func(r csvRow) string {
			if r.r.Started.IsZero() {
				return ""
			}
			return r.r.Started.UTC().Format(time.RFC3339)
		}),
		str("stage", func(r csvRow) string { return r.st.Name }),
		integer("concurrency", func(r csvRow) int64 { return int64(r.st.Concurrency) }),
		flt("rate", func(r csvRow) float64 { return r.st.Rate }),
		str("arrival", func(r csvRow) string { return r.st.Arrival }),
		integer("max_concurrency", func(r csvRow) int64 { return int64(r.st.MaxConcurrency) }),
		flt("start_s", func(r csvRow) float64 { return r.st.StartS }),
		flt("wall_s", func(r csvRow) float64 { return r.st.WallS }),
		integer("requests_total", func(r csvRow) int64 { return int64(r.st.Requests.Total) }),
		integer("requests_ok", func(r csvRow) int64 { return int64(r.st.Requests.OK) }),
		integer("requests_failed", func(r csvRow) int64 { return int64(r.st.Failed) }),
		str("errors", func(r csvRow) string {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(r.st.Requests.Errors)) {
				parts = append(parts, fmt.Sprintf("%s=%d", k, r.st.Requests.Errors[k]))
			}
			return strings.Join(parts, ";")
		}),
		flt("requests_per_s", func(r csvRow) float64 { return r.st.Throughput.RequestsPerS }),
		flt("output_tokens_per_s", func(r csvRow) float64 { return r.st.Throughput.OutputTokensPerS }),
		flt("decode_tokens_per_s", func(r csvRow) float64 { return r.st.Throughput.DecodeTokensPerS }),
		integer("output_tokens", func(r csvRow) int64 { return r.st.OutputTokens }),
		integer("prompt_tokens", func(r csvRow) int64 { return r.st.PromptTokens }),
		str("token_source", func(r csvRow) string { return r.st.TokenSource }),
		flt("effective_parallelism", func(r csvRow) float64 { return r.st.EffectiveParallelism }),
		flt("speedup_vs_first", func(r csvRow) float64 { return r.st.Speedup }),
	}
	for _, m := range csvMetrics() {
		m := m
		cols = append(cols, csvColumn{m + "_n", func(r csvRow) string {
			if s, ok := r.st.LatencyMs[m]; ok {
				return strconv.FormatInt(s.N, 10)
			}
			return ""
		}})
		for _, st := range csvStats() {
			st := st
			cols = append(cols, csvColumn{m + "_" + st + "_ms", func(r csvRow) string {
				if s, ok := r.st.LatencyMs[m]; ok && s.N > 0 {
					return csvFloat(s.Stat(st))
				}
				return ""
			}})
		}
	}
	decomp := func(name string, f func(d *results.Decomposition) float64) csvColumn {
		return csvColumn{name, func(r csvRow) string {
			if d := r.st.Decomposition; d != nil {
				return csvFloat(f(d))
			}
			return ""
		}}
	}
	cols = append(cols,
		decomp("decomp_requests", func(d *results.Decomposition) float64 { return float64(d.Requests) }),
		decomp("decomp_e2e_ms", func(d *results.Decomposition) float64 { return d.E2E }),
		decomp("decomp_load_ms", func(d *results.Decomposition) float64 { return d.Load }),
		decomp("decomp_prompt_eval_ms", func(d *results.Decomposition) float64 { return d.PromptEval }),
		decomp("decomp_eval_ms", func(d *results.Decomposition) float64 { return d.Eval }),
		decomp("decomp_residual_ms", func(d *results.Decomposition) float64 { return d.Residual }),
		decomp("decomp_overhead_ms", func(d *results.Decomposition) float64 { return d.Overhead }),
		decomp("decomp_queue_wait_ms", func(d *results.Decomposition) float64 { return d.QueueWait }),
		decomp("decomp_client_overhead_ms", func(d *results.Decomposition) float64 { return d.ClientOverhead }),
		decomp("decomp_queue_share", func(d *results.Decomposition) float64 { return d.QueueShare }),
		flt("client_send_lag_p99_ms", func(r csvRow) float64 { return r.st.Client.SendLagP99Ms }),
		flt("client_gc_pause_ms", func(r csvRow) float64 { return r.st.Client.GCPauseMs }),
		flt("client_cpu_pct", func(r csvRow) float64 { return r.st.Client.CPUPct }),
		str("client_overloaded", func(r csvRow) string { return strconv.FormatBool(r.st.Client.Overloaded) }),
		flt("client_new_connections", func(r csvRow) float64 { return float64(r.st.Client.NewConnections) }),
		flt("client_reconnects", func(r csvRow) float64 { return float64(r.st.Client.Reconnects) }),
		opt("gpu_memory_peak_mib", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.MemoryUsedPeakMiB })
		}),
		opt("gpu_memory_mean_mib", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.MemoryUsedMeanMiB })
		}),
		opt("gpu_utilization_mean_pct", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.UtilizationMeanPct })
		}),
		opt("gpu_utilization_p95_pct", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.UtilizationP95Pct })
		}),
		opt("gpu_power_mean_w", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.PowerMeanW })
		}),
		opt("gpu_energy_j", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.EnergyJ })
		}),
		opt("gpu_joules_per_output_token", func(r csvRow) *float64 {
			return gpuField(r, func(g *results.GPUStageSummary) *float64 { return g.JoulesPerOutputToken })
		}),
	)
	return cols
}

func gpuField(r csvRow, f func(*results.GPUStageSummary) *float64) *float64 {
	if r.st.GPU == nil {
		return nil
	}
	return f(r.st.GPU)
}

func csvFloat(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// csvSafe defuses a text cell a spreadsheet would run as a formula: a label or an error
// text starting with =, +, -, @ gets a leading apostrophe, as OWASP advises.
func csvSafe(s string) string {
	s = clean(s)
	if s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes one row per run × stage with every metric, header first.
func WriteCSV(w io.Writer, a *analysis.Analysis) error {
	cw := csv.NewWriter(w)
	cols := csvColumns()
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.name
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	numeric := map[string]bool{"concurrency": true, "max_concurrency": true}
	for _, run := range a.Runs {
		for _, st := range run.Stages {
			r := csvRow{r: run, st: st, setting: run.Labels[a.By]}
			rec := make([]string, len(cols))
			for j, c := range cols {
				v := c.get(r)
				if !numeric[c.name] {
					v = csvSafe(v)
				}
				rec[j] = v
			}
			if err := cw.Write(rec); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
