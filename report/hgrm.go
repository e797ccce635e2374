package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
)

// hgrmTicks is the number of reporting steps per halving of the distance to 100 %: the
// value HdrHistogram's own tools print with.
const hgrmTicks = 5

// HgrmTable is one latency distribution of one stage of one run, for HdrHistogram's text
// format: its plotter reads one such table per file.
type HgrmTable struct {
	Run, Stage, Metric string
	h                  *hdrhistogram.Histogram
}

// FileName is a file name for the table that names its run, stage and metric and is safe on
// any file system: "num_parallel=4_c=8_ttft.hgrm".
func (t HgrmTable) FileName() string {
	return safeName(t.Run) + "_" + safeName(t.Stage) + "_" + safeName(t.Metric) + ".hgrm"
}

// safeName keeps letters, digits and = . , + - of s and makes the rest "_": a run or stage
// name from a results file can never reach another folder ("../x") or hide a character.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("=.,+-", r):
			return r
		}
		return '_'
	}, s)
	s = strings.TrimLeft(s, ".")
	if len(s) > 80 {
		s = s[:80]
	}
	return cmp.Or(s, "_")
}

// Write prints the table as HdrHistogram's tools do, values in milliseconds, after a comment
// line that names it.
func (t HgrmTable) Write(w io.Writer) error {
	ew := &errWriter{w: w}
	ew.printf("# llmload %s latency, run %s, stage %s, values in milliseconds\n", t.Metric, clean(t.Run), clean(t.Stage))
	writePercentiles(ew, t.h, 1000)
	return ew.err
}

// HgrmSelection picks the tables of HgrmTables: the runs and stages named (every one when
// empty) and the metrics given (E2E when none).
type HgrmSelection struct {
	Run, Stage string
	Metrics    []string
}

// HgrmTables returns the distributions sel picks, one per run × stage × metric, in the runs'
// and stages' order. A run, stage or metric that matches nothing is bad input, and so is a
// selection that finds no histogram.
func HgrmTables(a *analysis.Analysis, sel HgrmSelection) ([]HgrmTable, error) {
	metrics := sel.Metrics
	if len(metrics) == 0 {
		metrics = []string{results.MetricE2E}
	}
	for _, m := range metrics {
		if !slices.Contains(histogramMetrics(), m) {
			return nil, badInput(fmt.Errorf("unknown metric %q (want one of %s)", m, strings.Join(histogramMetrics(), ", ")))
		}
	}
	var out []HgrmTable
	runSeen, stageSeen := sel.Run == "", sel.Stage == ""
	var runNames, stageNames []string
	for _, r := range a.Runs {
		runNames = append(runNames, r.Name)
		if sel.Run != "" && r.Name != sel.Run {
			continue
		}
		runSeen = true
		for _, st := range r.Stages {
			if !slices.Contains(stageNames, st.Name) {
				stageNames = append(stageNames, st.Name)
			}
			if sel.Stage != "" && st.Name != sel.Stage {
				continue
			}
			stageSeen = true
			for _, m := range metrics {
				enc, ok := st.Data.Histograms[m]
				if !ok {
					continue
				}
				h, err := results.DecodeHistogram(enc)
				if err != nil {
					return nil, badInput(fmt.Errorf("%s: stage %s: histogram %s: %w", r.Name, st.Name, m, err))
				}
				out = append(out, HgrmTable{Run: r.Name, Stage: st.Name, Metric: m, h: h})
			}
		}
	}
	switch {
	case !runSeen:
		return nil, badInput(fmt.Errorf("no run is named %q (the runs: %s)", sel.Run, strings.Join(runNames, ", ")))
	case !stageSeen:
		return nil, badInput(fmt.Errorf("no stage is named %q (the stages: %s)", sel.Stage, strings.Join(stageNames, ", ")))
	case len(out) == 0:
		return nil, badInput(fmt.Errorf("no stage selected holds a %s histogram", strings.Join(metrics, " or ")))
	}
	return out, nil
}

// ErrSeveralHgrm is a selection of more than one table for one output: HdrHistogram's plotter
// reads one table per file.
type ErrSeveralHgrm struct {
	Tables []HgrmTable
}

func (e *ErrSeveralHgrm) Error() string {
	var names []string
	for _, t := range e.Tables {
		names = append(names, t.Run+" "+t.Stage)
	}
	return fmt.Sprintf("%d distributions selected (%s), and HdrHistogram's plotter reads one per file: select a run and a stage, or write a file each into a folder",
		len(e.Tables), strings.Join(names, ", "))
}

// WriteHgrm writes the one distribution sel picks in HdrHistogram's text format, in
// milliseconds. A selection of several is bad input (*ErrSeveralHgrm): the plotter reads one
// table per file; HgrmTables gives them one at a time.
func WriteHgrm(w io.Writer, a *analysis.Analysis, sel HgrmSelection) error {
	tables, err := HgrmTables(a, sel)
	if err != nil {
		return err
	}
	if len(tables) > 1 {
		return badInput(&ErrSeveralHgrm{Tables: tables})
	}
	return tables[0].Write(w)
}

// writePercentiles prints h as HdrHistogram's Java implementation does
// (outputPercentileDistribution), values divided by scale.
func writePercentiles(ew *errWriter, h *hdrhistogram.Histogram, scale float64) {
	ew.printf("%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)")
	for _, br := range h.CumulativeDistributionWithTicks(hgrmTicks) {
		q := br.Quantile / 100
		v := float64(br.ValueAt) / scale
		if q >= 1 {
			ew.printf("%12.3f %2.12f %10d\n", v, 1.0, br.Count)
			continue
		}
		ew.printf("%12.3f %2.12f %10d %14.2f\n", v, q, br.Count, 1/(1-q))
	}
	buckets, subBuckets := geometry(h)
	ew.printf("#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", h.Mean()/scale, h.StdDev()/scale)
	ew.printf("#[Max     = %12.3f, Total count    = %12d]\n", float64(h.Max())/scale, h.TotalCount())
	ew.printf("#[Buckets = %12d, SubBuckets     = %12d]\n", buckets, subBuckets)
}

// geometry computes the bucket layout HdrHistogram prints in its footer from the
// histogram's range and precision.
func geometry(h *hdrhistogram.Histogram) (buckets, subBuckets int64) {
	lowest, highest, digits := h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures()
	largest := 2 * math.Pow(10, float64(digits))
	subBuckets = int64(math.Pow(2, math.Ceil(math.Log2(largest))))
	unitMagnitude := int64(math.Floor(math.Log2(float64(max(lowest, 1)))))
	smallestUntrackable := subBuckets << unitMagnitude
	buckets = 1
	for smallestUntrackable <= highest {
		if smallestUntrackable > math.MaxInt64/2 {
			return buckets + 1, subBuckets
		}
		smallestUntrackable <<= 1
		buckets++
	}
	return buckets, subBuckets
}
