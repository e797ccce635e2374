package report

import (
	"fmt"
	"maps"
	"slices"

	"gonum.org/v1/plot/plotter"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// classes shows each traffic class of each stage apart, and how each class's TTFT moves with
// the load: does one kind of traffic slow another (a batch job's long prompts before a chat's
// first token)?
func (b *builder) classes() error {
	has := false
	for _, r := range b.a.Runs {
		for _, st := range r.Stages {
			has = has || len(st.Classes) > 0 || st.Goodput != nil
		}
	}
	if !has {
		return nil
	}
	b.doc.h(2, "Classes of traffic")
	b.doc.p(plain("Each mix entry's name is a class (its model when unnamed). Latencies in milliseconds; goodput is the share of requests that met every bound of the per-request objective."))
	cols := []column{{name: "run"}, {name: "stage"}, {name: "class"}, {name: "ok/total", right: true}, {name: "tok/s", right: true},
		{name: "TTFT p50", right: true}, {name: "TTFT p95", right: true}, {name: "E2E p95", right: true}, {name: "goodput", right: true}}
	t := table{cols: cols}
	ttft := map[string]plotter.XYs{} // class → TTFT p95 by concurrency (lone runs)
	for _, r := range b.a.Runs {
		for _, st := range r.Stages {
			names := slices.Sorted(maps.Keys(st.Classes))
			if len(names) == 0 {
				names = []string{""}
			}
			for _, name := range names {
				reqs, tput, lat, good := st.Requests, st.Throughput, st.LatencyMs, st.Goodput
				label := "(all)"
				if c := st.Classes[name]; c != nil {
					reqs, tput, lat, good, label = c.Requests, c.Throughput, c.LatencyMs, c.Goodput, name
					if st.Rate == 0 && len(b.a.Runs) == 1 {
						if s := lat[results.MetricTTFT]; s.N > 0 {
							ttft[name] = append(ttft[name], plotter.XY{X: float64(st.Concurrency), Y: s.P95})
						}
					}
				}
				g := "-"
				if good != nil && good.Total > 0 {
					g = prose.Pct(good.Share)
				}
				t.rows = append(t.rows, []string{r.Name, st.Name, label, fmt.Sprintf("%d/%d", reqs.OK, reqs.Total),
					prose.Num(tput.OutputTokensPerS), dash(lat[results.MetricTTFT]), dashP95(lat[results.MetricTTFT]), dashP95(lat[results.MetricE2E]), g})
			}
		}
	}
	b.doc.add(t)
	var series []levelSeries
	for _, name := range slices.Sorted(maps.Keys(ttft)) {
		series = append(series, levelSeries{name, ttft[name]})
	}
	if b.charts == nil || !enoughLevels(series) {
		return nil
	}
	return b.levelChart("ttft-by-class.svg", "TTFT p95 by class against concurrency", "TTFT p95 (ms)", series)
}
