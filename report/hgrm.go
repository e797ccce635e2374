package report

import (
	"cmp"
	"fmt"
	"io"
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
)

// hgrmTicks is the number of reporting steps per halving of the distance to 100 %: the
// value HdrHistogram's own tools print with.
const hgrmTicks = 5

// WriteHgrm writes, per run × stage, the percentile distribution of metric (E2E when "") in HdrHistogram's text format, in milliseconds. Each table is preceded by "#"
// comment lines naming it; HdrHistogram's plotter reads one table per file, so give it one
// run × stage at a time (or split the output at the comment lines).
func WriteHgrm(w io.Writer, a *analysis.Analysis, metric string) error {
	metric = cmp.Or(metric, results.MetricE2E)
	ew := &errWriter{w: w}
	n := 0
	for _, r := range a.Runs {
		for _, st := range r.Stages {
			enc, ok := st.Data.Histograms[metric]
			if !ok {
				continue
			}
			h, err := results.DecodeHistogram(enc)
			if err != nil {
				return badInput(fmt.Errorf("%s: stage %s: histogram %s: %w", r.Name, st.Name, metric, err))
			}
			if n > 0 {
				ew.printf("\n")
			}
			n++
			ew.printf("# llmload %s latency, run %s, stage %s, values in milliseconds\n", metric, clean(r.Name), clean(st.Name))
			writePercentiles(ew, h, 1000)
		}
	}
	if ew.err != nil {
		return ew.err
	}
	if n == 0 {
		return badInput(fmt.Errorf("no run holds a %s histogram", metric))
	}
	return nil
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
