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

// csvStats fix the order of each distribution's latency columns, metric_stat_ms.
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
	class   string // "" for the whole stage
}

// csvColumns is the CSV's fixed column order. New columns go at the end: scripts index
// by position as often as by name. A column that holds a metric is the catalogue's: its
// header is the metric's Column (which --slo and the gate accept as its name) and its cells
// what the metric reads from the stage.
func csvColumns() []csvColumn {
	str := func(name string, f func(r csvRow) string) csvColumn { return csvColumn{name, f} }
	flt := func(name string, f func(r csvRow) float64) csvColumn {
		return csvColumn{name, func(r csvRow) string { return csvFloat(f(r)) }}
	}
	integer := func(name string, f func(r csvRow) int64) csvColumn {
		return csvColumn{name, func(r csvRow) string { return strconv.FormatInt(f(r), 10) }}
	}
	catalogue := map[string]results.Metric{}
	for _, m := range results.Metrics() {
		catalogue[m.Name] = m
	}
	// metric is the column of a catalogue metric. A latency or GPU figure the stage did not
	// measure is an empty cell; the stage's counts and rates are written as stored, 0
	// included, as they always were.
	metric := func(name string) csvColumn {
		m := catalogue[name]
		blank := m.Unit == results.UnitMs && !strings.HasPrefix(name, "client.") || strings.HasPrefix(name, "gpu.")
		return csvColumn{m.Column, func(r csvRow) string {
			if strings.HasPrefix(name, "gpu.") && r.st.GPU == nil {
				return ""
			}
			v, ok := m.Value(r.st.Data)
			if !ok && blank {
				return ""
			}
			return csvFloat(v)
		}}
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
		metric("requests.total"),
		metric("requests.ok"),
		metric("errors"),
		str("errors", func(r csvRow) string {
			var parts []string
			for _, k := range slices.Sorted(maps.Keys(r.st.Requests.Errors)) {
				parts = append(parts, fmt.Sprintf("%s=%d", k, r.st.Requests.Errors[k]))
			}
			return strings.Join(parts, ";")
		}),
		metric("requests_per_s"),
		metric("output_tps"),
		metric("decode_tps"),
		metric("output_tokens"),
		metric("prompt_tokens"),
		str("token_source", func(r csvRow) string { return r.st.TokenSource }),
		metric("effective_parallelism"),
		metric("speedup"),
	}
	latency := func(d string) []csvColumn {
		cols := []csvColumn{{d + "_n", func(r csvRow) string {
			if s, ok := r.st.LatencyMs[d]; ok {
				return strconv.FormatInt(s.N, 10)
			}
			return ""
		}}}
		for _, st := range csvStats() {
			cols = append(cols, metric(d+"."+st))
		}
		return cols
	}
	for _, d := range results.LatencyDistributions() {
		if d != results.MetricCapWait { // a later column: at the end
			cols = append(cols, latency(d)...)
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
		metric("client.send_lag_p99_ms"),
		metric("client.gc_pause_ms"),
		metric("client.cpu_pct"),
		str("client_overloaded", func(r csvRow) string { return strconv.FormatBool(r.st.Client.Overloaded) }),
		metric("client.new_connections"),
		metric("client.reconnects"),
		metric("gpu.memory_peak_mib"),
		metric("gpu.memory_mean_mib"),
		metric("gpu.utilization_mean_pct"),
		metric("gpu.utilization_p95_pct"),
		metric("gpu.power_mean_w"),
		metric("gpu.energy_j"),
		metric("gpu.joules_per_token"),
	)
	cols = append(cols, str("class", func(r csvRow) string { return r.class }))
	saturation := func(name string, f func(s *results.Saturation) int) csvColumn {
		return csvColumn{name, func(r csvRow) string {
			if s := r.st.Data.Saturation; s != nil {
				return strconv.Itoa(f(s))
			}
			return ""
		}}
	}
	cols = append(cols, latency(results.MetricCapWait)...)
	cols = append(cols,
		saturation("saturation_arrivals", func(s *results.Saturation) int { return s.Arrivals }),
		saturation("saturation_delayed", func(s *results.Saturation) int { return s.Delayed }),
		saturation("saturation_dropped", func(s *results.Saturation) int { return s.Dropped }),
	)
	return cols
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
			// The stage's row, then one per traffic class: the class's figures, read from the
			// stage as that class saw it.
			rows := []csvRow{{r: run, st: st, setting: run.Labels[a.By]}}
			for _, name := range slices.Sorted(maps.Keys(st.Classes)) {
				view, ok := st.Data.ClassView(name)
				if !ok {
					continue
				}
				c := *st
				cl := st.Classes[name]
				c.Data, c.Requests, c.Throughput, c.OutputTokens, c.LatencyMs, c.Goodput = view, cl.Requests, cl.Throughput, cl.OutputTokens, cl.LatencyMs, cl.Goodput
				c.Decomposition, c.TimeSplit, c.Failed = nil, nil, cl.Requests.Failed()
				rows = append(rows, csvRow{r: run, st: &c, setting: run.Labels[a.By], class: name})
			}
			for _, r := range rows {
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
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
