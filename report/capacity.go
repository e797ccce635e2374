package report

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
	"github.com/llmload/llmload/report/internal/prose"
)

// WriteCapacity writes a capacity search's answer for a terminal: the sentence first, then the
// levels behind it and what would raise it.
func WriteCapacity(w io.Writer, f *results.File) error {
	c := f.Capacity
	if c == nil {
		return nil
	}
	ew := &errWriter{w: w}
	ew.printf("\n%s\n\n", clean(analysis.CapacityAnswer(f)))
	tw := tabwriter.NewWriter(ew, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "users\tok/total\tTTFT p95\tdecode tok/s\tE2E p95\tobjective\t\n")
	for _, s := range c.Steps {
		if s.Run < 0 || s.Run >= len(f.Runs) || len(f.Runs[s.Run].Stages) == 0 {
			continue
		}
		st := f.Runs[s.Run].Stages[0]
		verdict := "met"
		if !s.Meets {
			verdict = "missed"
		}
		fmt.Fprintf(tw, "%d\t%d/%d\t%s\t%s\t%s\t%s\t\n", s.Users, st.Requests.OK, st.Requests.Total,
			dashP95(st.LatencyMs[results.MetricTTFT]), prose.Num(st.Throughput.DecodeTokensPerS), dashP95(st.LatencyMs[results.MetricE2E]), verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ew.printf("(levels in the order tried; latencies in ms)\n")
	for _, a := range c.Advice {
		ew.printf("\n%s\n", clean(a))
	}
	return ew.err
}
