package report

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
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
	e       *entry
	st      *results.StageResult
	gpu     *results.GPUStageSummary
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
			if len(r.e.merged) > 0 {
				return strings.Join(r.e.merged, "+")
			}
			return r.e.source
		}),
		str("run", func(r csvRow) string { return r.e.name }),
		str("labels", func(r csvRow) string { return labelText(r.e.run.Labels) }),
		str("setting", func(r csvRow) string { return r.setting }),
		str("server_url", func(r csvRow) string { return r.e.run.Target.URL }),
		str("api", func(r csvRow) string { return r.e.run.Target.API }),
		str("server_version", func(r csvRow) string { return r.e.run.Target.ServerVersion }),
		str("simulated", func(r csvRow) string { return strconv.FormatBool(r.e.run.Target.Simulated) }),
		str("host", func(r csvRow) string { return r.e.run.Host.Hostname }),
		str("started", func(r csvRow) string {
			if r.e.run.Started.IsZero() {
				return ""
			}
			return r.e.run.Started.UTC().Format(time.RFC3339)
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
		integer("requests_failed", func(r csvRow) int64 { return int64(errorTotal(r.st.Requests)) }),
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
	if r.gpu == nil {
		return nil
	}
	return f(r.gpu)
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

// writeCSV writes one row per run × stage with every metric, header first.
func writeCSV(w io.Writer, es []*entry, opts Options) error {
	cw := csv.NewWriter(w)
	cols := csvColumns()
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.name
	}
	if err := cw.Write(head); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	by := cmp.Or(opts.By, DefaultBy)
	numeric := map[string]bool{"concurrency": true, "max_concurrency": true}
	for _, e := range es {
		for i, st := range e.run.Stages {
			r := csvRow{e: e, st: st, gpu: e.gpu.stage(i), setting: e.run.Labels[by]}
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

// jsonReport is the JSON format: the runs' summaries without histograms and timelines,
// the comparison when runs differ in the compared label, and the notes of merging.
type jsonReport struct {
	Schema     string      `json:"schema"`
	Runs       []jsonRun   `json:"runs"`
	Comparison *Comparison `json:"comparison,omitempty"`
	Merged     []string    `json:"merged,omitempty"`
}

// ReportSchema names the JSON format's schema.
const ReportSchema = "llmload-report/v1"

type jsonRun struct {
	Name        string            `json:"name"`
	Sources     []string          `json:"sources"`
	Labels      map[string]string `json:"labels,omitempty"`
	Target      results.Target    `json:"target"`
	Host        results.Host      `json:"host"`
	Started     time.Time         `json:"started"`
	Ended       time.Time         `json:"ended"`
	Interrupted bool              `json:"interrupted,omitempty"`
	Baseline    *results.Baseline `json:"queue_wait_baseline,omitempty"`
	GPU         *results.GPUInfo  `json:"gpu,omitempty"`
	Stages      []jsonStage       `json:"stages"`
	Notes       []string          `json:"notes,omitempty"`
}

type jsonStage struct {
	Name                 string                     `json:"name"`
	Concurrency          int                        `json:"concurrency"`
	Rate                 float64                    `json:"rate"`
	Arrival              string                     `json:"arrival,omitempty"`
	MaxConcurrency       int                        `json:"max_concurrency,omitempty"`
	StartS               float64                    `json:"start_s"`
	WallS                float64                    `json:"wall_s"`
	Requests             results.Counts             `json:"requests"`
	Throughput           results.Throughput         `json:"throughput"`
	OutputTokens         int64                      `json:"output_tokens"`
	TokenSource          string                     `json:"token_source,omitempty"`
	PromptTokens         int64                      `json:"prompt_tokens,omitempty"`
	LatencyMs            map[string]results.Summary `json:"latency_ms"`
	Decomposition        *results.Decomposition     `json:"decomposition,omitempty"`
	EffectiveParallelism float64                    `json:"effective_parallelism"`
	Speedup              float64                    `json:"speedup_vs_first,omitempty"`
	Client               results.ClientCheck        `json:"client"`
	GPU                  *results.GPUStageSummary   `json:"gpu,omitempty"`
}

func writeJSON(w io.Writer, es []*entry, opts Options, mergeNotes []string) error {
	out := jsonReport{Schema: ReportSchema, Merged: mergeNotes, Comparison: comparable(es, opts)}
	for _, e := range es {
		r := e.run
		sources := e.merged
		if len(sources) == 0 {
			sources = []string{e.source}
		}
		jr := jsonRun{Name: e.name, Sources: sources, Labels: r.Labels, Target: r.Target, Host: r.Host, Started: r.Started, Ended: r.Ended,
			Interrupted: r.Interrupted, Baseline: r.Baseline, GPU: e.gpu.info, Notes: r.Notes, Stages: []jsonStage{}}
		for i, st := range r.Stages {
			jr.Stages = append(jr.Stages, jsonStage{
				Name: st.Name, Concurrency: st.Concurrency, Rate: st.Rate, Arrival: st.Arrival, MaxConcurrency: st.MaxConcurrency,
				StartS: st.StartS, WallS: st.WallS, Requests: st.Requests, Throughput: st.Throughput, OutputTokens: st.OutputTokens,
				TokenSource: st.TokenSource, PromptTokens: st.PromptTokens, LatencyMs: st.LatencyMs, Decomposition: st.Decomposition,
				EffectiveParallelism: st.EffectiveParallelism, Speedup: st.Speedup, Client: st.Client, GPU: e.gpu.stage(i),
			})
		}
		out.Runs = append(out.Runs, jr)
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
